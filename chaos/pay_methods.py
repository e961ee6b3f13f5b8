"""How a person pays: the ways to pay the workload orders with, and each provider's cashier.

Design overview
---------------
``PROVIDERS`` and ``channels`` come from the registry (``payment_methods``: the online
providers and their channels), so a provider joins the workload once it is registered and
its simulator served; a person's first top-ups take each provider in turn
(``provider_for``), so that a short run meets every one; ``pay_currency`` picks a currency
the provider charges in (the SIM's own, or the other at the operator's rate).

``Pay`` pays an order as a person does: it goes where the order sends the payer
(``landing``: the order's link, or where scanning its QR code lands,
``simulators.kits.scan_url``; a bank card's gateway takes the order's signed form, posted
from the browser), then takes that cashier's steps — ``CASHIERS``, one small
function per provider: the payment password; AlipayHK's test account (now and then the
empty one, which is declined); a test card (now and then the declined one first, or the one
that asks an SMS code); the PIN in the FPS banking app.

FPS is a push payment: the payer's own transfer, with whatever reference the banking app's
form carries. One payer in three changes it (a typo, another text, or none), or sends
another amount (the simulator's test hook, on the transfer the scan opened): those must
end in review, never credited. A person's first push is exact for one person in two and
carries a typo for the other, so that a short run has both. Each attempt keeps the
reference and amount it sent, and ``settle`` looks them up in the provider's records.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from simkeep.payment_methods import ONLINE_PROVIDERS, Provider
from simkeep.payment_methods import PROVIDERS as REGISTRY
from simkeep.simulators.alipayplus_payments import DECLINED_ACCOUNT, DEFAULT_ACCOUNT
from simkeep.simulators.alipayplus_payments import DEMO_PASSWORD as WALLET_PASSWORD
from simkeep.simulators.fps_transfers import DEMO_PIN
from simkeep.simulators.kits import scan_url
from simkeep.simulators.unionpay_trades import DECLINED_CARD, GOOD_CARD, SMS_CARD, SMS_CODE
from simkeep.simulators.unionpay_trades import PASSWORD as CARD_PASSWORD

if TYPE_CHECKING:
    from chaos.workload import Answer, Attempt, Outcome, Person, World

PROVIDERS = tuple(provider.value for provider in ONLINE_PROVIDERS)
TRANSFER = re.compile(r'<form method=post action="app/([^"]+)"')
Cashier = Callable[["World", random.Random, dict[str, Any], dict[str, Any]], Awaitable["Answer"]]


def provider_for(rng: random.Random, *, turn: int) -> str:
    """The provider of a person's ``turn``-th top-up (counted from the person's index): each
    in turn at first, so that a short run meets every one, then any."""
    if turn < 2 * len(PROVIDERS):
        return PROVIDERS[turn % len(PROVIDERS)]
    return rng.choice(PROVIDERS)


def channels(provider: str) -> tuple[str, ...]:
    """The provider's channels, on a phone and elsewhere."""
    return tuple(channel.value for channel in REGISTRY[Provider(provider)].channels)


def pay_currency(rng: random.Random, provider: str) -> str:
    """A currency the provider charges in."""
    return rng.choice(REGISTRY[Provider(provider)].currencies)


def is_push(provider: str) -> bool:
    """Whether the payer pushes the money with a reference (FPS)."""
    return REGISTRY[Provider(provider)].push


def landing(world: World, order: dict[str, Any]) -> str:
    """Where the payer lands: the link the order gave, or where its QR code's scan opens."""
    payment = order["payment"]
    if payment.get("pay_url"):
        return str(payment["pay_url"])
    qr = str(payment.get("qr") or "")
    if qr.startswith("http"):
        return qr
    found = scan_url(Provider(order["provider"]), order["order_no"], qr) or ""
    return found if found.startswith("http") else f"{world.simulators_url}{found}"


class Pay:
    """Pay an order at its provider's cashier page: open it, take its steps, pay. A late
    payer comes back after the order expired and must be turned away (a push payment
    cannot be: simkeep decides what it pays for)."""

    name: ClassVar[str] = "pay"
    weight: ClassVar[int] = 10
    role: ClassVar[str] = "subscriber"

    def ready(self, person: Person) -> bool:
        now = time.monotonic()
        return any(order.get("pay_after", now + 1) <= now for order in person.orders)

    async def attempt(self, person: Person, world: World) -> Attempt | None:
        now = time.monotonic()
        order = next(o for o in person.orders if o.get("pay_after", now + 1) <= now)
        order.pop("pay_after")
        return await self.pay(person, world, order, late=True)

    async def pay(
        self, person: Person, world: World, order: dict[str, Any], *, late: bool = False
    ) -> Attempt:
        from chaos.workload import _done

        started = time.monotonic()
        data: dict[str, Any] = {
            "order_no": order["order_no"],
            "provider": order["provider"],
            "late": late,
            "reference": order["order_no"],
        }
        if is_push(order["provider"]):
            data["fate"] = self._fate(person, world, order["provider"])
        answer = await CASHIERS[order["provider"]](world, person.rng, order, data)
        return world.record(_done(self.name, person, started, answer, **data))

    def _fate(self, person: Person, world: World, provider: str) -> float:
        """How a push payer pays (``_push``): a person's first push is exact for one person
        in two and carries a typo for the other, so a short run has both; later, any."""
        pushed = any(
            a.op == self.name and a.who == person.index and a.data["provider"] == provider
            for a in world.attempts
        )
        if pushed:
            return person.rng.random()
        return 0.9 if person.index % 2 == 0 else 0.2

    async def settle(self, attempt: Attempt, person: Person, world: World) -> Outcome:
        """Ask the provider whether the payment was made: the payer pays once, not again."""
        from chaos.workload import Outcome, ask

        answer = await ask(world, "GET", f"{world.simulators_url}/_sim/records")
        if answer.outcome is not Outcome.OK:
            return Outcome.UNKNOWN
        data = attempt.data
        for trade in answer.body.get(data["provider"], []):
            if (
                trade["out_trade_no"] == data["reference"]
                and trade["paid"]
                and data.get("amount_minor", trade["amount_minor"]) == trade["amount_minor"]
            ):
                return Outcome.OK
        return Outcome.REFUSED


async def _password(
    world: World, rng: random.Random, order: dict[str, Any], data: dict[str, Any]
) -> Answer:
    """Alipay and WeChat Pay: the cashier, the payment password, Pay (WeChat Pay HK asks
    which wallet, a Hong Kong or a Mainland one, too)."""
    from chaos.workload import PAY_PASSWORD, Outcome, ask

    cashier = landing(world, order)
    opened = await ask(world, "GET", cashier)
    if opened.outcome is not Outcome.OK:
        return opened
    form = {"action": "pay", "password": PAY_PASSWORD}
    if order["provider"] == Provider.WECHATPAY_HK.value:
        form["wallet"] = rng.choice(("HKD", "CNY"))
    target = cashier  # the form posts to its own page (an H5 return URL kept)
    if order["provider"] == Provider.ALIPAY.value:
        target = f"{world.simulators_url}/_sim/alipay/cashier/{order['order_no']}"
    return await ask(world, "POST", target, data=form)


async def _alipayhk(
    world: World, rng: random.Random, order: dict[str, Any], data: dict[str, Any]
) -> Answer:
    """AlipayHK: log in with a test account, then the payment password. One payer in
    twenty logs in with the empty account, whose payment is declined."""
    from chaos.workload import HIDDEN, Outcome, ask

    cashier = landing(world, order)
    opened = await ask(world, "GET", cashier)
    if opened.outcome is not Outcome.OK:
        return opened
    account = DECLINED_ACCOUNT if rng.random() < 0.05 else DEFAULT_ACCOUNT
    login = {**dict(HIDDEN.findall(str(opened.body))), "action": "login", "account": account}
    logged_in = await ask(world, "POST", cashier, data=login)
    if logged_in.outcome is not Outcome.OK:
        return logged_in
    form = {**dict(HIDDEN.findall(str(logged_in.body))), "action": "pay"}
    return await ask(world, "POST", cashier, data={**form, "password": WALLET_PASSWORD})


async def _card(
    world: World, rng: random.Random, order: dict[str, Any], data: dict[str, Any]
) -> Answer:
    """A bank card (UnionPay): the order's signed form to the gateway, which sends the
    browser on to its cashier; a test card and the payment password (one payer in seven
    tries the declined card first; one in five has the card that asks an SMS code)."""
    from chaos.workload import Outcome, ask

    payment = order["payment"]
    posted = await ask(world, "POST", payment["pay_url"], data=payment.get("form") or {})
    if posted.outcome is not Outcome.OK or not posted.location:
        return posted
    cashier = posted.location
    if rng.random() < 0.15:
        declined = {"card_no": DECLINED_CARD, "password": CARD_PASSWORD}
        await ask(world, "POST", cashier, data=declined)
    card = SMS_CARD if rng.random() < 0.2 else GOOD_CARD
    paid = await ask(world, "POST", cashier, data={"card_no": card, "password": CARD_PASSWORD})
    if card != SMS_CARD or paid.outcome is not Outcome.OK:
        return paid
    return await ask(world, "POST", f"{cashier}/sms", data={"sms_code": SMS_CODE})


async def _push(
    world: World, rng: random.Random, order: dict[str, Any], data: dict[str, Any]
) -> Answer:
    """FPS: the banking app scans the QR code; the payer confirms with the PIN, now and then
    with the reference changed or cleared, or sends another amount."""
    from chaos.workload import Answer, Outcome, ask

    app = f"{world.simulators_url}/_sim/{order['provider']}"
    scanned = await ask(world, "GET", landing(world, order))
    if scanned.outcome is not Outcome.OK:
        return scanned
    transfer = TRANSFER.search(str(scanned.body))
    if transfer is None:
        return Answer(Outcome.REFUSED, scanned.status, scanned.body, "the app showed no transfer")
    amount = int(order["pay"]["minor"])
    fate = data["fate"]
    if fate < 0.12:  # another amount, on the transfer the scan opened
        data["amount_minor"] = amount + rng.choice((-100, 100, 1_000))
        hook = f"{app}/pay/{order['order_no']}"
        params = {"outcome": "success", "amount_minor": str(data["amount_minor"])}
        return await ask(world, "POST", hook, params=params)
    if fate < 0.24:  # a typo, or the payer's own words
        data["reference"] = rng.choice((order["order_no"][1:], order["order_no"][:-3], "TOPUP"))
    elif fate < 0.32:
        data["reference"] = ""
    data["amount_minor"] = amount
    form = {"action": "pay", "pin": DEMO_PIN, "reference": data["reference"]}
    return await ask(world, "POST", f"{app}/app/{transfer.group(1)}", data=form)


CASHIERS: dict[str, Cashier] = {
    Provider.ALIPAY.value: _password,
    Provider.WECHATPAY.value: _password,
    Provider.WECHATPAY_HK.value: _password,
    Provider.ALIPAYHK.value: _alipayhk,
    Provider.UNIONPAY.value: _card,
    Provider.FPS.value: _push,
}
