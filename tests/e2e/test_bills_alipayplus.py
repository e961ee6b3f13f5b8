"""Alipay+'s daily transaction details report for AlipayHK, both halves over HTTP: our
adapter's ``bill`` asks the simulator's signed ``reports/download`` for a Hong Kong day and
reads what comes back — the payments, refunds and cancels of that day with Alipay+'s fee, a
payment made at 23:59:59 in its day though its notification came after midnight, one at
00:00:01 in the next — checked against the SHA-256 Alipay+ vouches for; and the differences
the test hooks plant, and a payment made without a word."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from simkeep.money import Money
from simkeep.payments.model import ProviderError
from simkeep.reconciliation.bill import BillNotReady, BillRow, RowKind
from tests.e2e.alipayplus_world import PREFIX, World, keys_dir, pay_hook, payment_request, world
from tests.e2e.bill_world import (
    AT_17,
    DAY,
    LAST_SECOND,
    MORNING_AFTER,
    Kit,
    Tampering,
    a_day,
    fees_recorded,
    paid_silently,
    planted_in_the_next_bill,
    recorded,
    spoilt_bills_refused,
    the_next_days_row,
)

__all__ = ["keys_dir", "world"]  # fixtures used here


async def _paid(world: World, otn: str, minor: int, *, outcome: str = "success") -> str:
    """A payment of ``minor`` cents made now through the test hook; its ``paymentId``."""
    expires_at = world.clock.now() + timedelta(minutes=15)
    await world.adapter.start(replace(payment_request(otn, minor=minor), expires_at=expires_at))
    assert (await pay_hook(world, otn, outcome)).json()["paymentStatus"] == "SUCCESS"
    return world.sim.find(otn).payment_id


FIRST, LATE, EARLY = "TOPUP_000001", "TOPUP_000002", "TOPUP_000003"
REFUND_NO = "F2611250001"
KIT = Kit(PREFIX, "HKD", _paid, first=FIRST, late=LATE, early=EARLY, refund_no=REFUND_NO)


async def test_the_days_report_holds_its_payments_refunds_and_fees(world: World) -> None:
    first = await a_day(world, KIT)
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
    assert (await the_next_days_row(world, KIT)).fee == Money(106, "HKD")
    fees_recorded(world, KIT, fee=148, fee_back=28)


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
    await a_day(world, KIT)
    world.clock.set(LAST_SECOND)
    with pytest.raises(BillNotReady, match="REPORT_NOT_READY"):
        await world.adapter.bill(DAY)


async def test_planted_differences_show_in_the_next_reports(world: World) -> None:
    await a_day(world, KIT)
    assert (await planted_in_the_next_bill(world, KIT)).fee == Money(80, "HKD")
    spoilt = {"bad_digest": "SHA-256", "bad_totals": "summary says"}
    await spoilt_bills_refused(world.adapter, KIT.hooks(world), spoilt)
    assert len((await world.adapter.bill(DAY)).rows) == 4


async def test_a_payment_made_silently_is_in_the_report_and_never_notified(world: World) -> None:
    assert (await paid_silently(world, KIT)).fee == Money(12, "HKD")


async def test_the_download_is_a_signed_ams_call(world: World) -> None:
    await a_day(world, KIT)
    world.clock.set(MORNING_AFTER)
    sent = recorded(world.client)
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
    await a_day(world, KIT)
    world.clock.set(MORNING_AFTER)
    tampering = Tampering(world.client, b'"digest":"', b'"digest":"0')

    async with httpx.AsyncClient(transport=tampering) as client:
        with pytest.raises(ProviderError, match="bad_signature"):
            await world.adapter_with(http=client).bill(DAY)
