"""The world of the webhook storm: the real app (embedded simulators, no worker loop) served
in process, on a seeded database of each kind with many SIMs, and the orders placed and
paid through it.

Orders are placed through ``POST /api/v1/topups`` by subscribers who signed up through the
API, with every provider and channel (a provider charges the SIM's own currency, or yuan at
the locked rate), and paid at the simulators: the payer opens an Alipay cashier link (page,
WAP) or posts a bank card's form to UnionPay's gateway, and the simulators' test hooks take
the payment. Alipay's and WeChat Pay's notifiers are told to drop everything (their ``drop``
fault), and the kits' deliveries are kept instead of sent (``storm_kits.Capture``), so that
the storm decides when, how often and in what order each notification arrives; each
notification is what the simulator would have sent — the trade's own numbers, signed with
the simulator's keys (``tests.e2e.notices``, ``tests.e2e.storm_kits``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.app import create_app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import PROVIDERS, Channel, Provider
from simkeep.settings import load_settings
from simkeep.sims.model import Sim, SimState
from simkeep.simulators.alipay_trades import AlipayFault
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.topups import service as topups
from tests.e2e.storm_kits import KIT_PROVIDERS, Capture
from tests.e2e.test_app import serve
from tests.factories import HKD_CNY, issue_sim, last_code, seed_books

PASSWORD = "correct horse 42"
SUBSCRIBERS = 4
# Plans and how many SIMs of each. A validity SIM gets a few top-ups of 50 or 100 only, so
# its validity (5 days left, then 90 or 180 days a top-up) stays under the 730-day cap and
# must come out as the sum of its top-ups exactly.
KEEP_PLANS = (("HK-KEEP", 10), ("CN-KEEP", 10))
VALIDITY_PLANS = (("HK-VALID", 30), ("CN-VALID", 30))
VALIDITY_LEFT = timedelta(days=5)
TOPUPS_PER_VALIDITY_SIM = 4
VALIDITY_AMOUNTS = (5_000, 10_000)
ANY_AMOUNT = (5_000, 10_000, 20_000, 30_000)
LATER_RATE = Decimal("0.92345")  # set halfway through placing: HK$50 → ¥46.17, rounded
CHANNELS = {
    Provider.ALIPAY: (Channel.QR, Channel.WAP, Channel.PAGE),
    Provider.WECHATPAY: (Channel.QR, Channel.WAP),
    **{provider: PROVIDERS[provider].channels for provider in KIT_PROVIDERS},
}
PLACED_TOGETHER = 26  # orders placed at the same moment, concurrently
BETWEEN_PLACINGS = timedelta(seconds=25)


@dataclass(frozen=True, slots=True)
class Card:
    """A SIM of the storm, as it was issued."""

    sim: Sim
    validity_until: datetime | None

    @property
    def currency(self) -> str:
        return self.sim.home_currency

    @property
    def on_validity_plan(self) -> bool:
        return self.sim.plan_code.endswith("VALID")


@dataclass(frozen=True, slots=True)
class Ask:
    """An order to place: for which SIM and number, how much, how paid, by whom."""

    card: Card
    number: str
    credit: Money
    provider: Provider
    channel: Channel
    pay_currency: str  # the SIM's own, if the provider charges it, else yuan at the rate
    subscriber: int
    paid: bool  # False: nobody pays it (a target of the notifications that must not credit)


@dataclass(frozen=True, slots=True)
class Placed:
    ask: Ask
    order_no: str
    pay: Money
    pay_url: str | None
    form: dict[str, str] | None = None  # a bank card gateway's signed form, for pay_url

    @property
    def provider(self) -> Provider:
        return self.ask.provider


@dataclass
class Storm:
    app: FastAPI
    http: httpx.AsyncClient
    db: Database
    clock: FixedClock
    cards: list[Card]
    auth: list[dict[str, str]]
    # Its own connections to the same database, to read what the app has committed without
    # queueing behind the app's own transactions for a connection.
    observer: Database
    capture: Capture  # the kits' notifications, kept instead of sent

    @property
    def providers(self) -> EmbeddedProviders:
        providers: EmbeddedProviders = self.app.state.providers
        return providers


async def signup(http: httpx.AsyncClient, db: Database, phone: str) -> dict[str, str]:
    """Register ``phone`` through the API and return its bearer header."""
    sent = await http.post("/api/v1/auth/codes", json={"phone": phone, "purpose": "register"})
    assert sent.status_code == 202, sent.text
    registered = await http.post(
        "/api/v1/auth/register",
        json={"phone": phone, "code": await last_code(db, phone), "password": PASSWORD},
    )
    assert registered.status_code == 201, registered.text
    return {"Authorization": f"Bearer {registered.json()['token']}"}


@asynccontextmanager
async def running_storm(
    *, database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[Storm]:
    async def setup(conn: AsyncConnection) -> list[Card]:
        now = clock.now()
        await seed_books(conn, now=now)
        cards = []
        plans = [plan for plan, count in (*KEEP_PLANS, *VALIDITY_PLANS) for _ in range(count)]
        for n, plan in enumerate(plans, start=1):
            state = {1: SimState.GRACE, 3: SimState.SUSPENDED}.get(n % 5, SimState.ACTIVE)
            validity = now + VALIDITY_LEFT if plan.endswith("VALID") else None
            sim = await issue_sim(
                conn, n=n, plan=plan, now=now, state=state, validity_until=validity
            )
            cards.append(Card(sim, validity))
        return cards

    cards = await db.transaction(setup)
    settings = load_settings(
        database_url=database_url,
        keys_dir=str(tmp_path / "keys"),
        public_url="http://127.0.0.1:9",  # the simulators' notifiers drop everything anyway
        environment="test",
    )
    app = create_app(settings, db=db, clock=clock)
    providers: EmbeddedProviders = app.state.providers
    providers.alipay.faults.add(AlipayFault.DROP)
    providers.wechatpay.faults.drop = True
    capture = Capture()
    capture.install(providers)
    # A 500 is an answer the provider reads, not an exception in the test.
    observer = Database.from_settings(load_settings(database_url=database_url))
    try:
        async with serve(app, raise_app_exceptions=False) as http:
            auth = [await signup(http, db, f"+8526124{n:04d}") for n in range(SUBSCRIBERS)]
            yield Storm(app, http, db, clock, cards, auth, observer, capture)
    finally:
        await observer.dispose()


def plan_orders(rng: random.Random, cards: list[Card], *, paid: int, unpaid: int) -> list[Ask]:
    """``paid`` orders to be paid (four on each validity SIM as far as they go, the rest on
    the keep SIMs) by any provider that can charge the SIM, and ``unpaid`` that nobody pays
    (each provider in turn), shuffled."""

    def ask(card: Card, amounts: tuple[int, ...], provider: Provider, is_paid: bool) -> Ask:
        line = rng.choice((card.sim.hk_number, card.sim.cn_number))
        return Ask(
            card=card,
            number=line.e164,
            credit=Money(rng.choice(amounts), card.currency),
            provider=provider,
            channel=rng.choice(CHANNELS[provider]),
            pay_currency=pay_currency(card, provider),
            subscriber=rng.randrange(SUBSCRIBERS),
            paid=is_paid,
        )

    def any_provider(card: Card) -> Provider:
        return rng.choice([provider for provider in CHANNELS if charges(card, provider)])

    keep = [card for card in cards if not card.on_validity_plan]
    validity = [card for card in cards if card.on_validity_plan]
    providers = list(CHANNELS)
    asks = [
        ask(card, VALIDITY_AMOUNTS, any_provider(card), True)
        for card in validity
        for _ in range(TOPUPS_PER_VALIDITY_SIM)
    ]
    asks = asks[:paid]
    for _ in range(paid - len(asks)):
        card = rng.choice(keep)
        asks.append(ask(card, ANY_AMOUNT, any_provider(card), True))
    for n in range(unpaid):
        provider = providers[n % len(providers)]
        card = rng.choice([card for card in keep if charges(card, provider)])
        asks.append(ask(card, ANY_AMOUNT, provider, False))
    rng.shuffle(asks)
    return asks


def charges(card: Card, provider: Provider) -> bool:
    """Whether the provider charges in the SIM's currency or in yuan (at the HKD rate)."""
    return bool({card.currency, "CNY"} & set(PROVIDERS[provider].currencies))


def pay_currency(card: Card, provider: Provider) -> str:
    return card.currency if card.currency in PROVIDERS[provider].currencies else "CNY"


def expected_pay(credit: Money, rate: Decimal, currency: str) -> Money:
    """What the payer pays: the credit itself, or converted to CNY at the locked rate."""
    if credit.currency == currency:
        return credit
    return Money(int((credit.minor * rate).quantize(Decimal(1), ROUND_HALF_UP)), "CNY")


async def place_and_pay(storm: Storm, asks: list[Ask]) -> list[Placed]:
    """Place every order through the API, a batch at a time with the clock moving on, and
    pay those to be paid at the simulators; the FX rate changes halfway."""
    placed: list[Placed] = []
    rate = HKD_CNY
    for start in range(0, len(asks), PLACED_TOGETHER):
        if rate == HKD_CNY and start >= len(asks) // 2:
            rate = LATER_RATE
            await storm.db.transaction(lambda conn: _set_rate(conn, storm.clock.now()))
        storm.clock.advance(BETWEEN_PLACINGS)
        batch = asks[start : start + PLACED_TOGETHER]
        keys = range(start, start + len(batch))
        orders = await asyncio.gather(
            *(_place(storm, ask, key) for ask, key in zip(batch, keys, strict=True))
        )
        for order in orders:
            assert order.pay == expected_pay(order.ask.credit, rate, order.ask.pay_currency)
        await asyncio.gather(*(_pay(storm, order) for order in orders if order.ask.paid))
        placed += orders
    return placed


async def _set_rate(conn: AsyncConnection, now: datetime) -> None:
    await topups.set_fx_rate(
        conn, base="HKD", quote_currency="CNY", rate=LATER_RATE, source="test", now=now
    )


async def _place(storm: Storm, ask: Ask, key: int) -> Placed:
    body = {
        "number": ask.number,
        "confirm_number": ask.number,
        "amount": {"minor": ask.credit.minor, "currency": ask.credit.currency},
        "pay_currency": ask.pay_currency,
        "provider": ask.provider.value,
        "channel": ask.channel.value,
    }
    headers = {**storm.auth[ask.subscriber], "Idempotency-Key": f"storm-order-{key:05d}"}
    created = await storm.http.post("/api/v1/topups", json=body, headers=headers)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["state"] == "awaiting_payment", order
    pay = Money(order["pay"]["minor"], order["pay"]["currency"])
    payment = order["payment"]
    return Placed(ask, order["order_no"], pay, payment["pay_url"], payment.get("form"))


async def _pay(storm: Storm, order: Placed) -> None:
    """The payer pays: an Alipay cashier link is opened first (the trade exists at Alipay
    only from then on), then the simulator's test hook takes the payment; a kit's
    notification is kept by the capture."""
    if order.provider in KIT_PROVIDERS:
        await storm.capture.pay(storm, order)
        return
    if order.provider is Provider.ALIPAY and order.ask.channel is not Channel.QR:
        assert order.pay_url is not None
        link = urlsplit(order.pay_url)
        cashier = await storm.http.get(f"{link.path}?{link.query}")
        assert cashier.status_code == 200, cashier.text
    paid = await storm.http.post(
        f"/_sim/{order.provider.value}/pay/{order.order_no}", params={"outcome": "success"}
    )
    assert paid.status_code == 200, paid.text
