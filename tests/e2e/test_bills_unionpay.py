"""UnionPay's daily flow file, both halves over HTTP: our adapter's ``bill`` asks the
simulator's file transfer (``txnType`` 76) for a Beijing day and reads what comes back — the
consumes paid and the refunds paid back that day, with UnionPay's fee, a consume paid at
23:59:59 in its day though its notification came after midnight, one paid at 00:00:01 in
the next — and the differences the test hooks plant: an amount, a consume simkeep never
made, a damaged file, a trailer that does not add up; and a consume paid without a word."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import ProviderError
from simkeep.payments.providers.unionpay_signing import parse_form
from simkeep.reconciliation.bill import BillNotReady, BillRefused, BillRow, RowKind
from simkeep.simulators.unionpay_refunds import REFUND_SECONDS
from simkeep.simulators.unionpay_setup import simulator_adapter
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
    planting_refused,
    recorded,
    spoilt_bills_refused,
    the_next_days_row,
)
from tests.e2e.unionpay_world import (
    HOST,
    NOTIFY_URL,
    PREFIX,
    World,
    keys_dir,
    open_cashier,
    payment_request,
    world,
)

__all__ = ["keys_dir", "world"]  # fixtures used here

FIRST, LATE, EARLY = "T202611250000000001", "T202611250000000002", "T202611260000000003"
REFUND_NO = "F261125A1B2C3D4E5F6"


async def _paid(world: World, otn: str, minor: int, *, outcome: str = "success") -> str:
    """A consume of ``minor`` fen paid now through the test hook; its ``queryId``."""
    expires_at = world.clock.now() + timedelta(minutes=15)
    request = replace(payment_request(otn, amount=Money(minor, "CNY")), expires_at=expires_at)
    await open_cashier(world, request)
    paid = await world.client.post(f"{PREFIX}/pay/{otn}", params={"outcome": outcome})
    assert paid.json()["state"] == "PAID", paid.text
    return world.sim.by_order(otn).query_id


KIT = Kit(
    PREFIX,
    "CNY",
    _paid,
    first=FIRST,
    late=LATE,
    early=EARLY,
    refund_no=REFUND_NO,
    mark=lambda order_no: f"orderId={order_no}".encode(),
)


async def test_the_days_file_holds_its_consumes_refunds_and_fees(world: World) -> None:
    first = await a_day(world, KIT)
    world.clock.set(MORNING_AFTER)
    bill = await world.adapter.bill(DAY)
    late = world.sim.by_order(LATE)
    [refund] = world.sim.refund_book.refunds.values()
    assert bill.day == DAY
    assert list(bill.rows) == [
        BillRow(
            kind=RowKind.PAY,
            order_no=FIRST,
            refund_no="",
            trade_no=first,
            amount=Money(12345, "CNY"),
            fee=Money(68, "CNY"),  # 0.55 % of ¥123.45 is 67.8975 fen
            at=AT_17,
        ),
        BillRow(
            kind=RowKind.REFUND,
            order_no=FIRST,
            refund_no=REFUND_NO,
            trade_no=refund.query_id,
            amount=Money(2345, "CNY"),
            fee=Money(13, "CNY"),  # its share of the fee: 68 × 2345 / 12345 = 12.9
            at=AT_17 + timedelta(seconds=REFUND_SECONDS),
        ),
        BillRow(
            kind=RowKind.PAY,
            order_no=LATE,
            refund_no="",
            trade_no=late.query_id,
            amount=Money(50000, "CNY"),
            fee=Money(275, "CNY"),
            at=LAST_SECOND,
        ),
    ]
    assert (await the_next_days_row(world, KIT)).fee == Money(48, "CNY")
    fees_recorded(world, KIT, fee=68, fee_back=13)


async def test_no_file_before_the_day_is_over(world: World) -> None:
    await a_day(world, KIT)
    world.clock.set(LAST_SECOND)
    sent = recorded(world.client)
    with pytest.raises(BillNotReady, match="98"):
        await world.adapter.bill(DAY)  # today: asked, and UnionPay has no file of it yet
    with pytest.raises(BillNotReady, match="has not begun"):
        await world.adapter.bill(DAY + timedelta(days=2))  # MMDD alone names last year's
    assert len(sent) == 1  # the day not begun was not asked for
    early = await KIT.hooks(world).plant("early")
    assert early.status_code == 200, early.text
    so_far = await world.adapter.bill(DAY)  # made early: what is booked so far
    assert {row.order_no for row in so_far.rows} >= {FIRST}
    await KIT.hooks(world).clear()
    ahead = simulator_adapter(
        world.keys_dir,
        FixedClock(MORNING_AFTER),  # our clock says the 26th, UnionPay's the 25th
        base_url=HOST + PREFIX,
        http=world.client,
        notify_url=NOTIFY_URL,
    )
    with pytest.raises(BillNotReady, match="98"):
        await ahead.bill(DAY)
    world.clock.set(MORNING_AFTER)
    with pytest.raises(BillRefused, match="a year ago"):
        await world.adapter.bill(DAY - timedelta(days=364))


async def test_planted_differences_show_in_the_next_files(world: World) -> None:
    await a_day(world, KIT)
    await planted_in_the_next_bill(world, KIT)
    spoilt = {"bad_digest": "CRC", "bad_totals": "trailer says consumes"}
    await spoilt_bills_refused(world.adapter, KIT.hooks(world), spoilt)
    assert len((await world.adapter.bill(DAY)).rows) == 4


async def test_a_hook_that_names_nothing_known_is_refused(world: World) -> None:
    await planting_refused(KIT.hooks(world))


async def test_a_consume_paid_silently_is_in_the_file_and_never_notified(world: World) -> None:
    assert (await paid_silently(world, KIT)).fee == Money(6, "CNY")


async def test_the_answer_is_signed_and_checked_like_every_other(world: World) -> None:
    await a_day(world, KIT)
    world.clock.set(MORNING_AFTER)
    sent = recorded(world.client)
    await world.adapter.bill(DAY)
    [request] = sent
    assert str(request.url) == f"{HOST}{PREFIX}/filedownload"
    fields = parse_form(request.content)
    assert (fields["txnType"], fields["txnSubType"], fields["bizType"]) == ("76", "01", "000000")
    assert (fields["settleDate"], fields["fileType"]) == ("1125", "00")
    assert fields["signature"]


async def test_an_answer_changed_after_signing_is_refused(world: World) -> None:
    await a_day(world, KIT)
    world.clock.set(MORNING_AFTER)
    tampering = Tampering(world.client, b"fileName=", b"fileName=x")

    async with httpx.AsyncClient(transport=tampering, base_url=HOST) as client:
        adapter = simulator_adapter(
            world.keys_dir, world.clock, base_url=HOST + PREFIX, http=client
        )
        with pytest.raises(ProviderError, match="bad_signature"):
            await adapter.bill(DAY)
