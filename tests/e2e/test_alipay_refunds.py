"""Alipay refunds end to end: our adapter's ``refund``/``query_refund`` against our simulator
over HTTP, in the world of ``tests.e2e.alipay_world`` — a trade of ¥100.00 paid back in
full, in parts, once however often it is asked for, refused with Alipay's own codes; answers
nobody signed are never believed; and the notifications Alipay sends after a refund leave a
credited order as it was (on SQLite and PostgreSQL, through the payments inbox).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.payments import service as payments
from simkeep.payments import tables as payment_tables
from simkeep.payments.model import (
    ProviderError,
    ProviderRefund,
    RawNotification,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from simkeep.sims.model import Sim
from simkeep.simulators.alipay_trades import AlipayFault
from simkeep.topups import service as topups
from simkeep.topups.model import OrderRequest, OrderState
from tests.e2e.alipay_world import BASE, START, World, adapter_via, order, pay, world
from tests.factories import issue_sim, seed_books

__all__ = ["world"]  # the shared fixture: imported so that pytest finds it here

TOTAL = Money(10000, "CNY")
URLS = payments.CheckoutUrls("https://shop.example")


def refund_of(
    out_trade_no: str, out_refund_no: str, minor: int, currency: str = "CNY"
) -> RefundRequest:
    return RefundRequest(
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        amount=Money(minor, currency),
        total=TOTAL,
        reason="退款 refund",
    )


async def paid(world: World, out_trade_no: str) -> None:
    await world.adapter.start(order(out_trade_no))
    assert (await pay(world, out_trade_no)).status_code == 200


def refunded(world: World, out_trade_no: str) -> int:
    """What the simulator paid back on the trade, in fen."""
    return world.sim.trades[out_trade_no].refunded.minor


def succeeded(refund: ProviderRefund, number: str, minor: int) -> bool:
    return (refund.out_refund_no, refund.status, refund.amount) == (
        number,
        RefundStatus.SUCCEEDED,
        Money(minor, "CNY"),
    )


def refund_notices(world: World) -> list[dict[str, str]]:
    return [form for form in world.merchant.received if "refund_fee" in form]


async def test_a_full_refund_closes_the_trade_and_is_notified(world: World) -> None:
    await paid(world, "TOPUP_R00001")
    world.clock.advance(timedelta(hours=2))

    refund = await world.adapter.refund(refund_of("TOPUP_R00001", "RF_R00001_1", 10000))

    assert succeeded(refund, "RF_R00001_1", 10000)
    assert refund.refunded_at == world.clock.now()
    assert refunded(world, "TOPUP_R00001") == 10000
    assert (await world.adapter.query("TOPUP_R00001")).status is TradeStatus.CLOSED
    await world.sim.deliver_pending()
    [notice] = refund_notices(world)
    assert (notice["trade_status"], notice["refund_fee"], notice["out_biz_no"]) == (
        "TRADE_CLOSED",
        "100.00",
        "RF_R00001_1",
    )
    assert notice["gmt_refund"] == "2026-11-26 02:30:00.000"  # Beijing time, milliseconds
    assert world.merchant.verified[-1].status is TradeStatus.CLOSED
    again = await world.adapter.refund(refund_of("TOPUP_R00001", "RF_R00001_2", 1))
    assert (again.status, again.reason) == (RefundStatus.FAILED, "ACQ.TRADE_HAS_CLOSE: 交易已关闭")


async def test_two_partial_refunds_then_one_past_the_total_is_refused(world: World) -> None:
    await paid(world, "TOPUP_R00002")

    first = await world.adapter.refund(refund_of("TOPUP_R00002", "RF_R00002_1", 3000))
    second = await world.adapter.refund(refund_of("TOPUP_R00002", "RF_R00002_2", 5000))
    third = await world.adapter.refund(refund_of("TOPUP_R00002", "RF_R00002_3", 2001))

    assert succeeded(first, "RF_R00002_1", 3000)
    assert succeeded(second, "RF_R00002_2", 5000)  # this refund's amount, not refund_fee 80.00
    assert third.status is RefundStatus.FAILED
    assert third.reason == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL: 退款金额超限"
    assert refunded(world, "TOPUP_R00002") == 8000
    assert (await world.adapter.query("TOPUP_R00002")).status is TradeStatus.PAID
    await world.sim.deliver_pending()
    assert [
        (n["trade_status"], n["refund_fee"], n["out_biz_no"]) for n in refund_notices(world)
    ] == [
        ("TRADE_SUCCESS", "30.00", "RF_R00002_1"),
        ("TRADE_SUCCESS", "80.00", "RF_R00002_2"),
    ]
    last = await world.adapter.refund(refund_of("TOPUP_R00002", "RF_R00002_4", 2000))
    assert succeeded(last, "RF_R00002_4", 2000)
    assert world.sim.trades["TOPUP_R00002"].status == "TRADE_CLOSED"


async def test_the_same_refund_asked_again_is_the_same_refund(world: World) -> None:
    await paid(world, "TOPUP_R00003")
    first = await world.adapter.refund(refund_of("TOPUP_R00003", "RF_R00003_1", 1000))
    world.clock.advance(timedelta(minutes=5))

    again = await world.adapter.refund(refund_of("TOPUP_R00003", "RF_R00003_1", 1000))

    assert again == first  # fund_change=N, confirmed by the refund query
    assert refunded(world, "TOPUP_R00003") == 1000
    with pytest.raises(ProviderError, match=r"ACQ\.DISCORDANT_REPEAT_REQUEST"):  # not "nothing"
        await world.adapter.refund(refund_of("TOPUP_R00003", "RF_R00003_1", 2000))
    assert refunded(world, "TOPUP_R00003") == 1000
    await world.sim.deliver_pending()
    assert len(refund_notices(world)) == 1


async def test_ten_concurrent_asks_for_one_refund_pay_once(world: World) -> None:
    await paid(world, "TOPUP_R00004")
    request = refund_of("TOPUP_R00004", "RF_R00004_1", 1000)

    answers = await asyncio.gather(*[world.adapter.refund(request) for _ in range(10)])

    assert all(succeeded(answer, "RF_R00004_1", 1000) for answer in answers)
    assert refunded(world, "TOPUP_R00004") == 1000
    assert list(world.sim.trades["TOPUP_R00004"].refunds) == ["RF_R00004_1"]
    await world.sim.deliver_pending()
    assert len(refund_notices(world)) == 1


async def test_query_refund_after_success_and_for_unknown_numbers(world: World) -> None:
    await paid(world, "TOPUP_R00005")
    made = await world.adapter.refund(refund_of("TOPUP_R00005", "RF_R00005_1", 2550))
    world.clock.advance(timedelta(hours=1))

    found = await world.adapter.query_refund(refund_of("TOPUP_R00005", "RF_R00005_1", 2550))
    unknown = await world.adapter.query_refund(refund_of("TOPUP_R00005", "RF_R00005_9", 2550))
    no_trade = await world.adapter.query_refund(refund_of("TOPUP_R00099", "RF_R00099_1", 2550))

    assert succeeded(found, "RF_R00005_1", 2550)
    assert found.refunded_at == made.refunded_at == START
    assert (unknown.status, unknown.reason) == (RefundStatus.FAILED, "unknown")
    assert (no_trade.status, no_trade.reason) == (RefundStatus.FAILED, "unknown")


async def test_refunds_of_unpaid_or_unknown_trades_are_refused(world: World) -> None:
    await world.adapter.start(order("TOPUP_R00006"))  # precreated, never scanned
    never_seen = await world.adapter.refund(refund_of("TOPUP_R00006", "RF_R00006_1", 1000))
    assert (await world.http.get(f"{BASE}/cashier/TOPUP_R00006")).status_code == 200
    unpaid = await world.adapter.refund(refund_of("TOPUP_R00006", "RF_R00006_2", 1000))
    await world.adapter.close("TOPUP_R00006")
    closed = await world.adapter.refund(refund_of("TOPUP_R00006", "RF_R00006_3", 1000))

    assert [(r.status, r.reason) for r in (never_seen, unpaid, closed)] == [
        (RefundStatus.FAILED, "ACQ.TRADE_NOT_EXIST: trade does not exist"),
        (RefundStatus.FAILED, "ACQ.TRADE_STATUS_ERROR: 交易状态非法"),
        (RefundStatus.FAILED, "ACQ.TRADE_HAS_CLOSE: 交易已关闭"),
    ]
    assert refunded(world, "TOPUP_R00006") == 0


@pytest.mark.parametrize(
    ("minor", "currency", "reason"),
    [
        (0, "CNY", "ACQ.REASON_TRADE_REFUND_FEE_ERR: 退款金额无效"),
        (-500, "CNY", "ACQ.REASON_TRADE_REFUND_FEE_ERR: 退款金额无效"),
        (1000, "HKD", "ACQ.CURRENCY_NOT_SUPPORT: 退款币种不支持"),
    ],
)
async def test_refunds_of_no_money_or_another_currency_are_refused(
    world: World, minor: int, currency: str, reason: str
) -> None:
    await paid(world, "TOPUP_R00007")

    refund = await world.adapter.refund(refund_of("TOPUP_R00007", "RF_R00007_1", minor, currency))

    assert (refund.status, refund.reason) == (RefundStatus.FAILED, reason)
    assert refunded(world, "TOPUP_R00007") == 0


async def test_a_seller_without_balance_is_refused_and_may_ask_again(world: World) -> None:
    await paid(world, "TOPUP_R00008")
    world.sim.faults.add(AlipayFault.SELLER_BALANCE_NOT_ENOUGH)
    request = refund_of("TOPUP_R00008", "RF_R00008_1", 1000)

    refused = await world.adapter.refund(request)
    world.sim.faults.clear()
    later = await world.adapter.refund(request)

    assert (refused.status, refused.reason) == (
        RefundStatus.FAILED,
        "ACQ.SELLER_BALANCE_NOT_ENOUGH: 卖家余额不足",
    )
    assert succeeded(later, "RF_R00008_1", 1000)
    assert refunded(world, "TOPUP_R00008") == 1000


# --- answers changed on their way back -----------------------------------------------------


def unsigned(status: int, text: str) -> tuple[int, str]:
    return status, re.sub(r',"sign":"[^"]*"', "", text)


def forged_refusal(status: int, text: str) -> tuple[int, str]:
    refusal = '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}'
    return status, f'{{"error_response":{refusal}}}'


async def test_answers_nobody_signed_are_not_believed(world: World) -> None:
    await paid(world, "TOPUP_R00009")
    request = refund_of("TOPUP_R00009", "RF_R00009_1", 1000)

    def cheaper(status: int, text: str) -> tuple[int, str]:
        assert '"refund_fee":"10.00"' in text
        return status, text.replace('"refund_fee":"10.00"', '"refund_fee":"1.00"')

    async with adapter_via(world, cheaper) as adapter:
        with pytest.raises(ProviderError, match="signature does not verify"):
            await adapter.refund(request)
    async with adapter_via(world, unsigned) as adapter:
        with pytest.raises(ProviderError, match="signature does not verify"):
            await adapter.refund(refund_of("TOPUP_R00009", "RF_R00009_2", 99999))
        with pytest.raises(ProviderError, match="signature does not verify"):
            await adapter.query_refund(request)
    async with adapter_via(world, forged_refusal) as adapter:
        with pytest.raises(ProviderError, match=r"ACQ\.TRADE_NOT_EXIST"):
            await adapter.refund(refund_of("TOPUP_R00009", "RF_R00009_3", 1000))
        with pytest.raises(ProviderError, match=r"ACQ\.TRADE_NOT_EXIST"):
            await adapter.query_refund(request)

    assert succeeded(await world.adapter.refund(request), "RF_R00009_1", 1000)  # asked again
    # The forged refusal hid a refund Alipay made: read as FAILED, it would be lost.
    assert list(world.sim.trades["TOPUP_R00009"].refunds) == ["RF_R00009_1", "RF_R00009_3"]
    assert refunded(world, "TOPUP_R00009") == 2000


async def test_a_lost_answer_is_asked_again_with_the_same_number_and_pays_once(
    world: World,
) -> None:
    await paid(world, "TOPUP_R00010")
    request = refund_of("TOPUP_R00010", "RF_R00010_1", 4000)

    async with adapter_via(world, lambda status, text: (502, "Bad Gateway")) as adapter:
        with pytest.raises(ProviderError, match="HTTP 502"):
            await adapter.refund(request)
    assert refunded(world, "TOPUP_R00010") == 4000  # Alipay paid; we did not hear it

    again = await world.adapter.refund(request)

    assert succeeded(again, "RF_R00010_1", 4000)
    assert refunded(world, "TOPUP_R00010") == 4000


# --- the notifications after a refund, through the payments inbox -------------------------


@dataclass(frozen=True)
class Books:
    state: OrderState
    sim_balance: int
    clearing: int
    messages: int
    validity_until: datetime | None


async def posted(conn: AsyncConnection, code: str) -> int:
    account = await ledger.get_account_by_code(conn, code=code)
    assert account is not None
    return (await ledger.get_balance(conn, account_id=account.id)).posted


async def books_of(db: Database, order_no: str, sim_id: int) -> Books:
    async def read(conn: AsyncConnection) -> Books:
        order_now = await topups.get_order(conn, order_no=order_no)
        assert order_now is not None
        return Books(
            state=order_now.state,
            sim_balance=await posted(conn, chart.sim_balance(sim_id, "CNY").code),
            clearing=await posted(conn, chart.provider_clearing_code("alipay", "CNY")),
            messages=int(await conn.scalar(select(func.count()).select_from(outbox)) or 0),
            validity_until=order_now.validity_until,
        )

    return await db.transaction(read)


async def credited_order(world: World, db: Database) -> tuple[str, int]:
    """A ¥100 top-up paid with Alipay and credited, its notifications sent to the real
    payments inbox; its order number and SIM."""
    now = world.clock.now()

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=now)
        return await issue_sim(conn, n=2, plan="CN-KEEP", now=now)

    card = await db.transaction(setup)

    async def inbox(raw: RawNotification) -> str:
        answer = await payments.receive_notification(
            db, adapter=world.adapter, raw=raw, now=world.clock.now()
        )
        return answer.body.decode()

    world.merchant.service, world.merchant.notify_url = inbox, URLS.notify(Provider.ALIPAY)
    number = card.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=7,
        idempotency_key="refunded-later",
        number=number,
        confirm_number=number,
        credit=TOTAL,
        pay_currency="CNY",
        provider=Provider.ALIPAY,
        channel=Channel.QR,
    )
    placed = await payments.checkout(
        db, adapter=world.adapter, request=request, urls=URLS, payer_ip="127.0.0.1", now=now
    )
    assert (await pay(world, placed.order_no)).status_code == 200
    return placed.order_no, card.id


async def inbox_statuses(db: Database) -> list[str]:
    async def read(conn: AsyncConnection) -> list[str]:
        kept = payment_tables.inbox.c
        return list((await conn.execute(select(kept.status).order_by(kept.id))).scalars())

    return await db.transaction(read)


async def test_refund_notifications_leave_a_credited_order_as_it_was(
    world: World, db: Database
) -> None:
    order_no, sim_id = await credited_order(world, db)
    credited = await books_of(db, order_no, sim_id)
    assert (credited.state, credited.sim_balance, credited.clearing) == (
        OrderState.CREDITED,
        10000,
        10000,
    )
    world.clock.advance(timedelta(days=1))

    part = await world.adapter.refund(refund_of(order_no, f"{order_no}_R1", 3000))
    await world.sim.deliver_pending()
    rest = await world.adapter.refund(refund_of(order_no, f"{order_no}_R2", 7000))
    await world.sim.deliver_pending()

    assert (part.status, rest.status) == (RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED)
    assert [form["trade_status"] for form in world.merchant.received] == [
        "TRADE_SUCCESS",
        "TRADE_SUCCESS",  # partial: refund_fee 30.00
        "TRADE_CLOSED",  # in full
    ]
    assert [delivery.answers for delivery in world.sim.deliveries] == [["success"]] * 3
    assert await books_of(db, order_no, sim_id) == credited
    assert await inbox_statuses(db) == ["credited", "duplicate", "ignored"]
    report = await db.transaction(ledger.check_books)
    assert report.ok, report.problems
