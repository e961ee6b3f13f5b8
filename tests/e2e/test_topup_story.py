"""Top-up end to end, per provider, on SQLite and PostgreSQL: an order, the provider's
simulator takes the payment, its signed notification reaches the payments inbox, the SIM is
credited — once, whatever the provider's notifier does.

The simulators run as ASGI apps (no network); their notifier "delivers" by calling the
payments service the way the notify endpoint does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.payments import service as payments
from simkeep.payments import tables as payment_tables
from simkeep.payments.model import PaymentProviderAdapter, PaymentRequest, RawNotification
from simkeep.payments.providers.alipay import AlipayAdapter, AlipayConfig
from simkeep.payments.providers.wechatpay import WeChatPayAdapter, WeChatPayConfig
from simkeep.payments.signing import KeyPair
from simkeep.sims import service as sims
from simkeep.sims.model import Sim, SimState
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_routes import alipay_router
from simkeep.simulators.alipay_trades import AlipayFault
from simkeep.simulators.wechatpay import WeChatPaySimulator
from simkeep.simulators.wechatpay_routes import wechatpay_router
from simkeep.topups import followup
from simkeep.topups import service as topups
from simkeep.topups.model import (
    ConfirmNumber,
    IdempotencyConflict,
    NumberNotEligible,
    OrderRequest,
    OrderState,
)
from tests.factories import issue_sim, seed_books

MERCHANT_KEYS = KeyPair.generate()
HOST = "http://providers.test"
NOTIFY = "https://simkeep.test/notify"
SUBSCRIBER = 7


@dataclass
class Inbox:
    """The notify endpoint: hands each delivery to the payments service."""

    db: Database
    clock: FixedClock
    adapters: dict[Provider, PaymentProviderAdapter] = field(default_factory=dict)
    raws: list[RawNotification] = field(default_factory=list)
    hold: bool = False  # record deliveries without processing them (and answer "fail")

    async def alipay(self, url: str, form: Mapping[str, str]) -> str:
        raw = RawNotification(headers={}, body=urlencode(dict(form)).encode())
        self.raws.append(raw)
        if self.hold:
            return "fail"
        ack = await payments.receive_notification(
            self.db, adapter=self.adapters[Provider.ALIPAY], raw=raw, now=self.clock.now()
        )
        return ack.body.decode()

    async def wechatpay(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        raw = RawNotification(headers=dict(headers), body=body)
        self.raws.append(raw)
        ack = await payments.receive_notification(
            self.db, adapter=self.adapters[Provider.WECHATPAY], raw=raw, now=self.clock.now()
        )
        return ack.status


@dataclass
class World:
    db: Database
    clock: FixedClock
    inbox: Inbox
    http: httpx.AsyncClient
    alipay: AlipaySimulator
    wechat: WeChatPaySimulator
    hk_sim: Sim
    cn_sim: Sim
    recycled: Sim


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> AsyncIterator[World]:
    async def setup(conn: AsyncConnection) -> tuple[Sim, Sim, Sim]:
        now = clock.now()
        await seed_books(conn, now=now)
        return (
            await issue_sim(conn, n=1, plan="HK-VALID", now=now, state=SimState.GRACE),
            await issue_sim(conn, n=2, plan="CN-KEEP", now=now),
            await issue_sim(conn, n=3, plan="HK-KEEP", now=now, state=SimState.RECYCLED),
        )

    hk_sim, cn_sim, recycled = await db.transaction(setup)
    inbox = Inbox(db, clock)
    alipay = AlipaySimulator(
        app_id="2021000000000001",
        seller_id="2088000000000001",
        merchant_public_key_pem=MERCHANT_KEYS.public_pem,
        clock=clock,
        base_url=f"{HOST}/_sim/alipay",
        deliver=inbox.alipay,
    )
    wechat = WeChatPaySimulator(
        mchid="1900000109",
        appid="wxd678efh567hg6787",
        merchant_public_key_pem=MERCHANT_KEYS.public_pem,
        merchant_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        apiv3_key="0123456789abcdef0123456789ABCDEF",
        clock=clock,
        public_base_url=f"{HOST}/_sim/wechatpay",
        deliver=inbox.wechatpay,
    )
    app = FastAPI()
    app.include_router(alipay_router(alipay), prefix="/_sim/alipay")
    app.include_router(wechatpay_router(wechat), prefix="/_sim/wechatpay")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as http:
        inbox.adapters[Provider.ALIPAY] = AlipayAdapter(
            config=AlipayConfig(
                app_id="2021000000000001",
                seller_id="2088000000000001",
                app_private_key_pem=MERCHANT_KEYS.private_pem,
                alipay_public_key_pem=alipay.public_key_pem,
                gateway_url=f"{HOST}/_sim/alipay/gateway.do",
            ),
            http=http,
            clock=clock,
        )
        inbox.adapters[Provider.WECHATPAY] = WeChatPayAdapter(
            config=WeChatPayConfig(
                mchid="1900000109",
                appid="wxd678efh567hg6787",
                merchant_private_key_pem=MERCHANT_KEYS.private_pem,
                merchant_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
                apiv3_key="0123456789abcdef0123456789ABCDEF",
                platform_public_key_pem=wechat.platform_keys.public_pem,
                platform_public_key_id=wechat.public_key_id,
                base_url=f"{HOST}/_sim/wechatpay",
            ),
            client=http,
            clock=clock,
        )
        yield World(db, clock, inbox, http, alipay, wechat, hk_sim, cn_sim, recycled)


async def order_and_start(
    world: World, sim: Sim, credit: Money, pay_currency: str, provider: Provider, key: str
) -> topups.Order:
    number = sim.hk_number.e164

    async def create(conn: AsyncConnection) -> topups.Order:
        return await topups.create_order(
            conn,
            request=OrderRequest.of(
                subscriber_id=SUBSCRIBER,
                idempotency_key=key,
                number=number,
                confirm_number=number,
                credit=credit,
                pay_currency=pay_currency,
                provider=provider,
                channel=Channel.QR,
            ),
            now=world.clock.now(),
        )

    order = await world.db.transaction(create)
    await world.inbox.adapters[provider].start(
        PaymentRequest(
            out_trade_no=order.order_no,
            amount=order.pay,
            subject="中港卡充值",
            channel=Channel.QR,
            notify_url=f"{NOTIFY}/{provider.value}",
            return_url=None,
            expires_at=order.expires_at,
        )
    )

    async def awaiting(conn: AsyncConnection) -> None:
        await followup.record_payment_start(
            conn, order_no=order.order_no, pay_url=None, pay_qr=None
        )

    await world.db.transaction(awaiting)
    return order


async def pay(world: World, provider: Provider, order_no: str) -> None:
    response = await world.http.post(
        f"/_sim/{provider.value}/pay/{order_no}", params={"outcome": "success"}
    )
    assert response.status_code == 200, response.text


async def state_of(world: World, order_no: str) -> OrderState:
    async def read(conn: AsyncConnection) -> OrderState:
        order = await topups.get_order(conn, order_no=order_no)
        assert order is not None
        return order.state

    return await world.db.transaction(read)


async def balance(world: World, code: str) -> int:
    async def read(conn: AsyncConnection) -> int:
        account = await ledger.get_account_by_code(conn, code=code)
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).posted

    return await world.db.transaction(read)


async def books_are_sound(world: World) -> None:
    report = await world.db.transaction(ledger.check_books)
    assert report.ok, report.problems


async def test_hk50_paid_with_alipay_in_yuan_is_credited_once(world: World) -> None:
    order = await order_and_start(
        world, world.hk_sim, Money(5_000, "HKD"), "CNY", Provider.ALIPAY, "k1"
    )
    assert order.pay == Money(4_600, "CNY")  # HK$50 at the locked 0.92
    await pay(world, Provider.ALIPAY, order.order_no)
    assert await state_of(world, order.order_no) is OrderState.CREDITED
    assert await balance(world, chart.sim_balance(world.hk_sim.id, "HKD").code) == 5_000
    assert await balance(world, chart.provider_clearing_code("alipay", "CNY")) == 4_600
    assert await balance(world, chart.system_code(chart.System.FX_POSITION, "CNY")) == 4_600

    async def sim_after(conn: AsyncConnection) -> Sim | None:
        return await sims.get_sim(conn, sim_id=world.hk_sim.id)

    after = await world.db.transaction(sim_after)
    assert after is not None
    assert after.state is SimState.ACTIVE  # the grace SIM is active again at once
    assert after.validity_until == world.clock.now() + timedelta(days=90)

    async def sms(conn: AsyncConnection) -> list[str]:
        return list((await conn.execute(select(outbox.c.body))).scalars())

    assert any("已增值" in text for text in await world.db.transaction(sms))
    await books_are_sound(world)


async def test_cny100_paid_with_wechat_pay(world: World) -> None:
    order = await order_and_start(
        world, world.cn_sim, Money(10_000, "CNY"), "CNY", Provider.WECHATPAY, "k2"
    )
    await pay(world, Provider.WECHATPAY, order.order_no)
    assert await state_of(world, order.order_no) is OrderState.CREDITED
    assert await balance(world, chart.sim_balance(world.cn_sim.id, "CNY").code) == 10_000
    assert await balance(world, chart.provider_clearing_code("wechatpay", "CNY")) == 10_000
    await books_are_sound(world)


async def test_duplicate_and_replayed_notifications_credit_once(world: World) -> None:
    world.alipay.faults.add(AlipayFault.DUPLICATE)
    order = await order_and_start(
        world, world.cn_sim, Money(5_000, "CNY"), "CNY", Provider.ALIPAY, "k3"
    )
    await pay(world, Provider.ALIPAY, order.order_no)
    assert len(world.inbox.raws) == 2
    for raw in world.inbox.raws:  # replayed later, too
        await payments.receive_notification(
            world.db, adapter=world.inbox.adapters[Provider.ALIPAY], raw=raw, now=world.clock.now()
        )
    assert await balance(world, chart.sim_balance(world.cn_sim.id, "CNY").code) == 5_000
    await books_are_sound(world)


async def test_fifty_concurrent_deliveries_credit_once(world: World) -> None:
    world.inbox.hold = True
    order = await order_and_start(
        world, world.cn_sim, Money(10_000, "CNY"), "CNY", Provider.ALIPAY, "k4"
    )
    await pay(world, Provider.ALIPAY, order.order_no)
    raw = world.inbox.raws[-1]
    answers = await asyncio.gather(
        *[
            payments.receive_notification(
                world.db,
                adapter=world.inbox.adapters[Provider.ALIPAY],
                raw=raw,
                now=world.clock.now(),
            )
            for _ in range(50)
        ]
    )
    assert {answer.body for answer in answers} == {b"success"}
    assert await balance(world, chart.sim_balance(world.cn_sim.id, "CNY").code) == 10_000

    async def statuses(conn: AsyncConnection) -> list[str]:
        rows = await conn.execute(select(payment_tables.inbox.c.status))
        return sorted(rows.scalars())

    kept = await world.db.transaction(statuses)
    assert kept.count("credited") == 1
    assert kept.count("duplicate") == 49
    await books_are_sound(world)


async def test_tampered_notification_credits_nothing_and_is_kept(world: World) -> None:
    world.alipay.faults.add(AlipayFault.TAMPERED_AMOUNT)
    order = await order_and_start(
        world, world.cn_sim, Money(5_000, "CNY"), "CNY", Provider.ALIPAY, "k5"
    )
    await pay(world, Provider.ALIPAY, order.order_no)
    assert await state_of(world, order.order_no) is OrderState.AWAITING_PAYMENT
    assert await balance(world, chart.sim_balance(world.cn_sim.id, "CNY").code) == 0

    async def statuses(conn: AsyncConnection) -> list[str]:
        return list((await conn.execute(select(payment_tables.inbox.c.status))).scalars())

    assert await world.db.transaction(statuses) == ["rejected"]


async def test_a_lost_notification_is_credited_by_polling(world: World) -> None:
    world.wechat.faults.drop = True
    order = await order_and_start(
        world, world.cn_sim, Money(20_000, "CNY"), "CNY", Provider.WECHATPAY, "k6"
    )
    await pay(world, Provider.WECHATPAY, order.order_no)
    assert await state_of(world, order.order_no) is OrderState.AWAITING_PAYMENT
    world.clock.advance(timedelta(seconds=31))
    credited = await payments.poll_unpaid(
        world.db, adapters=world.inbox.adapters, now=world.clock.now()
    )
    assert credited == 1
    assert await state_of(world, order.order_no) is OrderState.CREDITED
    assert await balance(world, chart.sim_balance(world.cn_sim.id, "CNY").code) == 20_000


async def test_idempotency_key_replay_and_conflict(world: World) -> None:
    first = await order_and_start(
        world, world.cn_sim, Money(5_000, "CNY"), "CNY", Provider.WECHATPAY, "same"
    )

    async def again(credit: Money) -> topups.Order:
        async def create(conn: AsyncConnection) -> topups.Order:
            return await topups.create_order(
                conn,
                request=OrderRequest.of(
                    subscriber_id=SUBSCRIBER,
                    idempotency_key="same",
                    number=world.cn_sim.hk_number.e164,
                    confirm_number=world.cn_sim.hk_number.e164,
                    credit=credit,
                    pay_currency="CNY",
                    provider=Provider.WECHATPAY,
                    channel=Channel.QR,
                ),
                now=world.clock.now(),
            )

        return await world.db.transaction(create)

    assert (await again(Money(5_000, "CNY"))).order_no == first.order_no
    with pytest.raises(IdempotencyConflict):
        await again(Money(10_000, "CNY"))


async def test_the_wrong_number_guard(world: World) -> None:
    async def create(number: str, confirm: str | None) -> topups.Order:
        async def run(conn: AsyncConnection) -> topups.Order:
            return await topups.create_order(
                conn,
                request=OrderRequest.of(
                    subscriber_id=SUBSCRIBER,
                    idempotency_key=None,
                    number=number,
                    confirm_number=confirm,
                    credit=Money(5_000, "HKD"),
                    pay_currency="HKD",
                    provider=Provider.ALIPAY,
                    channel=Channel.QR,
                ),
                now=world.clock.now(),
            )

        return await world.db.transaction(run)

    with pytest.raises(ConfirmNumber):  # never topped up by this subscriber: type it twice
        await create(world.hk_sim.hk_number.e164, None)
    with pytest.raises(NumberNotEligible):
        await create(world.recycled.hk_number.e164, world.recycled.hk_number.e164)
    with pytest.raises(topups.TopupError, match="no China"):
        await create("+852 9123 0000", "+852 9123 0000")
