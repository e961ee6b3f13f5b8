"""Starting an order's payment moves it once: an expired order is refused before the
provider is asked anything, and stays expired even when a caller holding it as it was
(created) gets as far as the provider; an order started already returns the way to pay it
was given, without asking the provider again, and a caller holding it as it was before the
start cannot replace that way to pay with another trade's."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments import service as payments
from simkeep.payments.model import PaymentRequest, PaymentStart
from simkeep.topups import service as topups
from simkeep.topups.model import ORDER_TTL, Order, OrderRequest, OrderState
from tests.factories import issue_sim, seed_books

URLS = payments.CheckoutUrls("https://simkeep.test")


class Wallet:
    """A provider at the border: every trade it opens has a QR payload of its own."""

    provider = Provider.WECHATPAY
    currencies = frozenset({"CNY"})

    def __init__(self) -> None:
        self.asked: list[str] = []  # the out_trade_no of every start, in order

    def signs_locally(self, channel: Channel) -> bool:
        return False

    async def start(self, request: PaymentRequest) -> PaymentStart:
        self.asked.append(request.out_trade_no)
        return PaymentStart(qr_payload=f"wallet://trade/{len(self.asked)}")


async def created_order(db: Database, now: datetime) -> Order:
    """A ¥100 WeChat Pay QR order, written and not yet started."""

    async def create(conn: AsyncConnection) -> Order:
        await seed_books(conn, now=now)
        sim = await issue_sim(conn, n=1, plan="CN-KEEP", now=now)
        number = sim.cn_number.e164
        request = OrderRequest.of(
            subscriber_id=7,
            idempotency_key="start-0001",
            number=number,
            confirm_number=number,
            credit=Money(10_000, "CNY"),
            pay_currency="CNY",
            provider=Provider.WECHATPAY,
            channel=Channel.QR,
        )
        return await topups.create_order(conn, request=request, now=now)

    order = await db.transaction(create)
    assert order.state is OrderState.CREATED
    return order


async def stored(db: Database, order_no: str) -> Order:
    async def read(conn: AsyncConnection) -> Order | None:
        return await topups.get_order(conn, order_no=order_no)

    order = await db.transaction(read)
    assert order is not None
    return order


async def start(db: Database, wallet: Wallet, order: Order) -> Order:
    return await payments.start_payment(
        db,
        adapter=wallet,  # type: ignore[arg-type]  # only start is needed
        order=order,
        urls=URLS,
        payer_ip="127.0.0.1",
    )


async def test_an_expired_order_cannot_be_started(db: Database, clock: FixedClock) -> None:
    created = await created_order(db, clock.now())
    clock.advance(ORDER_TTL)
    expired = await db.transaction(lambda conn: topups.expire_orders(conn, now=clock.now()))
    assert expired == [created.order_no]
    wallet = Wallet()

    with pytest.raises(payments.OrderNotPayable):
        await start(db, wallet, await stored(db, created.order_no))
    assert wallet.asked == []  # refused before the provider is asked

    late = await start(db, wallet, created)  # a caller still holding it as created
    assert (late.state, late.pay_qr) == (OrderState.EXPIRED, None)
    after = await stored(db, created.order_no)
    assert (after.state, after.pay_qr, after.pay_url) == (OrderState.EXPIRED, None, None)


async def test_starting_a_started_order_returns_the_same_way_to_pay(
    db: Database, clock: FixedClock
) -> None:
    created = await created_order(db, clock.now())
    wallet = Wallet()
    started = await start(db, wallet, created)
    assert (started.state, started.pay_qr) == (OrderState.AWAITING_PAYMENT, "wallet://trade/1")

    clock.advance(timedelta(minutes=1))
    again = await start(db, wallet, await stored(db, created.order_no))  # a reload
    assert again == started
    assert wallet.asked == [created.order_no]  # no second trade

    racing = await start(db, wallet, created)  # a caller that read it before the start
    assert racing.pay_qr == "wallet://trade/1"
    assert (await stored(db, created.order_no)).pay_qr == "wallet://trade/1"
