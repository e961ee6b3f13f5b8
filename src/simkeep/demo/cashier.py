"""Demo top-ups placed and paid as a payer's are, at the provider simulators built
in-process.

Design overview
---------------
``demo_providers`` builds the simulators with our adapters (``EmbeddedProviders.build``),
their signed notifications handed to ``payments.receive_notification`` at the demo clock's
time, as the notify endpoint would. ``top_up`` places one order by ``payments.checkout``
with its fixed ``Idempotency-Key``, then leaves it at the cashier to expire or pays it at the
simulator by its test hook, whose notification credits it. An order placed by an earlier
seed is returned as it is. The history (``demo.service``) and the demo's refunds
(``demo.refunds``) place theirs through here; a simulator keeps its trades in memory, so a
refund is asked of the simulator that was paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import PROVIDERS, Provider
from simkeep.payments import methods
from simkeep.payments import service as payments
from simkeep.payments.model import Acknowledgement, PaymentProviderAdapter, RawNotification
from simkeep.settings import Settings
from simkeep.sims.model import luhn_complete
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.topups import service as topups
from simkeep.topups.model import ORDER_TTL, Order, OrderRequest, OrderState

DEMO_SIMS = {1: "HKD", 2: "HKD", 3: "CNY", 4: "HKD", 5: "CNY", 6: "HKD"}
PAY_AFTER = timedelta(minutes=2)  # from the order to the payment at the cashier


@dataclass(frozen=True)
class DemoTopup:
    """One top-up in a demo subscriber's history."""

    days_ago: int
    at: time  # Hong Kong time of day
    sim: int  # the demo SIM topped up (see ``demo_number``)
    amount: int  # in whole units of the SIM's currency
    provider: Provider
    paid: bool = True  # False: left at the cashier, it expired
    name: str = ""  # its Idempotency-Key when not placed by the day-by-day history

    @property
    def key(self) -> str:
        return self.name or f"demo-{self.days_ago:02d}-{self.at:%H%M}-{self.sim}"


def demo_providers(db: Database, settings: Settings, clock: FixedClock) -> EmbeddedProviders:
    """The simulators and our adapters, their notifications received at ``clock``'s time."""

    async def receive(adapter: PaymentProviderAdapter, raw: RawNotification) -> Acknowledgement:
        return await payments.receive_notification(db, adapter=adapter, raw=raw, now=clock.now())

    return EmbeddedProviders.build(settings, clock, notify=receive)


async def top_up(
    db: Database,
    providers: EmbeddedProviders,
    settings: Settings,
    clock: FixedClock,
    subscriber_id: int,
    topup: DemoTopup,
) -> Order:
    """Order, pay and credit one top-up as a payer would; an order placed by an earlier
    seed is returned as it is."""
    earlier = await db.transaction(
        lambda conn: topups.by_idempotency_key(conn, subscriber_id=subscriber_id, key=topup.key)
    )
    if earlier is not None:
        return earlier[0]
    _, hk, cn = demo_number(topup.sim)
    currency = sim_currency(topup.sim)
    number = hk if currency == "HKD" else cn  # the number of the SIM's home side
    charges = PROVIDERS[topup.provider].currencies  # the SIM's own currency if it can
    pay_currency = currency if currency in charges else charges[0]
    channel = methods.channels_for(PROVIDERS[topup.provider], phone=False)[0]
    order = await payments.checkout(
        db,
        adapter=providers.adapters[topup.provider],
        request=OrderRequest.of(
            subscriber_id=subscriber_id,
            idempotency_key=topup.key,
            number=number,
            confirm_number=number,
            credit=Money(topup.amount * 100, currency),
            pay_currency=pay_currency,
            provider=topup.provider,
            channel=channel,
        ),
        urls=payments.CheckoutUrls(settings.public_url),
        payer_ip="127.0.0.1",
        now=clock.now(),
    )
    if not topup.paid:
        clock.advance(ORDER_TTL)
        await payments.expire_unpaid(db, adapters=providers.adapters, now=clock.now())
        return await order_of(db, order.order_no)
    clock.advance(PAY_AFTER)
    return await _pay(db, providers, settings, clock.now(), order)


async def _pay(
    db: Database, providers: EmbeddedProviders, settings: Settings, now: datetime, order: Order
) -> Order:
    """The payer pays at the simulator; its notification credits the order. A gateway
    that takes a form first gets it from the payer's browser, which opens the trade."""
    if order.pay_url and order.pay_form:
        opened = await providers.http.post(order.pay_url, data=dict(order.pay_form))
        if opened.status_code != 303:
            raise RuntimeError(f"demo order {order.order_no}: the gateway refused its form")
    pay = f"{settings.public_url.rstrip('/')}/_sim/{order.provider.value}/pay/{order.order_no}"
    # the amount for a push payment's bank, which never saw the QR code
    outcome = {"outcome": "success", "amount_minor": str(order.pay.minor)}
    paid = await providers.http.post(pay, params=outcome)
    paid.raise_for_status()
    await providers.tick(now)  # Alipay notifies on its next round; WeChat Pay at once
    credited = await order_of(db, order.order_no)
    if credited.state is not OrderState.CREDITED:
        raise RuntimeError(f"demo order {order.order_no} is {credited.state.value}, not credited")
    return credited


async def order_of(db: Database, order_no: str) -> Order:
    """The order as it is now."""
    order = await db.transaction(lambda conn: topups.get_order(conn, order_no=order_no))
    assert order is not None
    return order


def demo_number(n: int) -> tuple[str, str, str]:
    """ICCID, HK and Mainland number of demo SIM ``n``."""
    return (
        luhn_complete(f"8985200{n:011d}"),
        f"9{n + 200:03d}{n * 37 % 10000:04d}",
        f"139{n:04d}{n * 53 % 10000:04d}",
    )


def sim_currency(n: int) -> str:
    """The home currency of demo SIM ``n``."""
    return DEMO_SIMS.get(n, "CNY" if n % 3 == 0 else "HKD")
