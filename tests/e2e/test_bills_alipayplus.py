"""Alipay+'s daily transaction details report for AlipayHK, both halves over HTTP: our
adapter's ``bill`` asks the simulator's signed ``reports/download`` for a Hong Kong day and
reads what comes back — the payments, refunds and cancels of that day with Alipay+'s fee, a
payment made at 23:59:59 in its day though its notification came after midnight, one at
00:00:01 in the next — checked against the SHA-256 Alipay+ vouches for; and the differences
the test hooks plant, and a payment made without a word."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from simkeep.money import Money
from simkeep.payments.model import ProviderError, RefundRequest, TradeStatus
from simkeep.reconciliation.bill import BillNotReady, BillRefused, BillRow, RowKind
from tests.e2e.alipayplus_world import PREFIX, World, keys_dir, pay_hook, payment_request, world

__all__ = ["keys_dir", "world"]  # fixtures used here

DAY = date(2026, 11, 25)
FIRST, LATE, EARLY = "TOPUP_000001", "TOPUP_000002", "TOPUP_000003"
REFUND_NO = "F2611250001"
AT_17 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 17:00 in Hong Kong
LAST_SECOND = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Hong Kong
NEXT_DAY = datetime(2026, 11, 25, 16, 0, 1, tzinfo=UTC)  # 00:00:01 on the 26th
MORNING_AFTER = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 on the 26th


async def _paid(world: World, otn: str, minor: int, *, outcome: str = "success") -> str:
    """A payment of ``minor`` cents made now through the test hook; its ``paymentId``."""
    expires_at = world.clock.now() + timedelta(minutes=15)
    await world.adapter.start(replace(payment_request(otn, minor=minor), expires_at=expires_at))
    assert (await pay_hook(world, otn, outcome)).json()["paymentStatus"] == "SUCCESS"
    return world.sim.find(otn).payment_id


async def _a_day_of_payments(world: World) -> str:
    """HK$123.45 paid at 17:00 and HK$23.45 of it refunded; HK$500.00 paid at 23:59:59, its
    notification taken only after midnight; HK$88.00 paid at 00:00:01 the next day."""
    world.clock.set(AT_17)
    first = await _paid(world, FIRST, 12345)
    refund = RefundRequest(
        out_trade_no=FIRST,
        out_refund_no=REFUND_NO,
        amount=Money(2345, "HKD"),
        total=Money(12345, "HKD"),
        reason="wrong number",
        provider_trade_no=first,
    )
    assert (await world.adapter.refund(refund)).provider_refund_no
    world.clock.set(LAST_SECOND)
    world.merchant.status = 500  # not taken before midnight
    await _paid(world, LATE, 50000)
    world.clock.set(NEXT_DAY + timedelta(minutes=3))
    world.merchant.status = None  # our adapter answers again
    await world.sim.deliver_due()
    late = [raw for raw in world.merchant.received if LATE.encode() in raw.body]
    assert len(late) == 2  # at 23:59:59, refused; again after midnight, taken
    world.clock.set(NEXT_DAY)
    await _paid(world, EARLY, 8800)
    return first


async def test_the_days_report_holds_its_payments_refunds_and_fees(world: World) -> None:
    first = await _a_day_of_payments(world)
    world.clock.set(MORNING_AFTER)
    bill = await world.adapter.bill(DAY)
    [refund] = world.sim.refund_desk.refunds.values()
    assert bill.day == DAY
    assert list(bill.rows) == [
        BillRow(
            kind=RowKind.PAY,
            order_no=FIRST,
            refund_no="",
            trade_no=first,
            amount=Money(12345, "HKD"),
            fee=Money(148, "HKD"),  # 1.2 % of HK$123.45 is 148.14 cents
            at=AT_17,
        ),
        BillRow(
            kind=RowKind.REFUND,
            order_no=FIRST,
            refund_no=REFUND_NO,
            trade_no=refund.refund_id,
            amount=Money(2345, "HKD"),
            fee=Money(28, "HKD"),  # its share: 148 × 2345 / 12345 = 28.1
            at=AT_17,
        ),
        BillRow(
            kind=RowKind.PAY,
            order_no=LATE,
            refund_no="",
            trade_no=world.sim.find(LATE).payment_id,
            amount=Money(50000, "HKD"),
            fee=Money(600, "HKD"),
            at=LAST_SECOND,
        ),
    ]
    world.clock.set(MORNING_AFTER + timedelta(days=1))
    [next_day] = (await world.adapter.bill(DAY + timedelta(days=1))).rows
    assert (next_day.order_no, next_day.at, next_day.fee) == (EARLY, NEXT_DAY, Money(106, "HKD"))
    records = {record["out_trade_no"]: record for record in world.sim.records()}
    assert records[FIRST]["fee_minor"] == 148
    assert records[FIRST]["refunds"] == [
        {"refund_no": REFUND_NO, "amount_minor": 2345, "fee_refunded_minor": 28}
    ]


async def test_a_paid_payment_cancelled_is_paid_back_in_the_report(world: World) -> None:
    world.clock.set(AT_17)
    await _paid(world, FIRST, 10000)
    world.sim.cancel(FIRST)
    world.clock.set(MORNING_AFTER)
    paid, cancelled = (await world.adapter.bill(DAY)).rows
    assert (paid.kind, paid.amount, paid.fee) == (
        RowKind.PAY,
        Money(10000, "HKD"),
        Money(120, "HKD"),
    )
    assert (cancelled.kind, cancelled.order_no, cancelled.refund_no) == (RowKind.REFUND, FIRST, "")
    assert (cancelled.amount, cancelled.fee) == (Money(10000, "HKD"), Money(120, "HKD"))


async def test_no_report_before_the_day_is_over(world: World) -> None:
    await _a_day_of_payments(world)
    world.clock.set(LAST_SECOND)
    with pytest.raises(BillNotReady, match="REPORT_NOT_READY"):
        await world.adapter.bill(DAY)


async def test_planted_differences_show_in_the_next_reports(world: World) -> None:
    await _a_day_of_payments(world)
    world.clock.set(LAST_SECOND - timedelta(hours=1))
    hook = f"{PREFIX}/bills/differences"
    planted = await world.client.post(
        hook, params={"kind": "amount_mismatch", "out_trade_no": LATE}
    )
    assert planted.status_code == 200, planted.text
    only = await world.client.post(hook, params={"kind": "provider_only", "amount": "66.60"})
    stranger = only.json()["out_trade_no"]
    world.clock.set(MORNING_AFTER)
    rows = {row.order_no: row for row in (await world.adapter.bill(DAY)).rows}
    assert rows[LATE].amount == Money(50100, "HKD")  # shifted by 100 cents
    assert (rows[stranger].amount, rows[stranger].fee) == (Money(6660, "HKD"), Money(80, "HKD"))
    assert (await world.adapter.query(stranger)).status is TradeStatus.PAID
    assert not [raw for raw in world.merchant.received if stranger.encode() in raw.body]
    for kind, reason in (("bad_digest", "SHA-256"), ("bad_totals", "summary says")):
        await world.client.delete(hook)
        assert (await world.client.post(hook, params={"kind": kind})).status_code == 200
        with pytest.raises(BillRefused, match=reason):
            await world.adapter.bill(DAY)
    await world.client.delete(hook)
    assert len((await world.adapter.bill(DAY)).rows) == 4


async def test_a_payment_made_silently_is_in_the_report_and_never_notified(world: World) -> None:
    world.clock.set(AT_17)
    await _paid(world, FIRST, 1000, outcome="silent")
    await world.sim.deliver_due(AT_17 + timedelta(days=1))
    assert world.merchant.received == []
    world.clock.set(MORNING_AFTER)
    [row] = (await world.adapter.bill(DAY)).rows
    assert (row.order_no, row.amount, row.fee) == (FIRST, Money(1000, "HKD"), Money(12, "HKD"))


async def test_the_download_is_a_signed_ams_call(world: World) -> None:
    await _a_day_of_payments(world)
    world.clock.set(MORNING_AFTER)
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    world.client.event_hooks["request"].append(keep)
    await world.adapter.bill(DAY)
    [request] = sent
    assert request.url.path == f"{PREFIX}/ams/api/v1/reports/download"
    assert json.loads(request.content) == {
        "reportType": "TRANSACTION_DETAILS",
        "reportDate": "2026-11-25",
    }
    assert request.headers["Signature"].startswith("algorithm=RSA256,keyVersion=1,signature=")
    unsigned = await world.client.post(
        f"{PREFIX}/ams/api/v1/reports/download", content=request.content
    )
    assert json.loads(unsigned.content)["result"]["resultCode"] == "INVALID_CLIENT"


async def test_an_answer_changed_after_signing_is_refused(world: World) -> None:
    await _a_day_of_payments(world)
    world.clock.set(MORNING_AFTER)

    class Tampering(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            answer = await world.client.send(request)
            content = answer.content.replace(b'"digest":"', b'"digest":"0')
            return httpx.Response(200, headers=answer.headers, content=content)

    async with httpx.AsyncClient(transport=Tampering()) as client:
        with pytest.raises(ProviderError, match="bad_signature"):
            await world.adapter_with(http=client).bill(DAY)
