"""UnionPay's daily flow file, both halves over HTTP: our adapter's ``bill`` asks the
simulator's file transfer (``txnType`` 76) for a Beijing day and reads what comes back — the
consumes paid and the refunds paid back that day, with UnionPay's fee, a consume paid at
23:59:59 in its day though its notification came after midnight, one paid at 00:00:01 in
the next — and the differences the test hooks plant: an amount, a consume simkeep never
made, a damaged file, a trailer that does not add up; and a consume paid without a word."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from simkeep.clock import FixedClock
from simkeep.money import Money
from simkeep.payments.model import ProviderError, RefundRequest, TradeStatus
from simkeep.payments.providers.unionpay_signing import parse_form
from simkeep.reconciliation.bill import BillNotReady, BillRefused, BillRow, RowKind
from simkeep.simulators.unionpay_refunds import REFUND_SECONDS
from simkeep.simulators.unionpay_setup import simulator_adapter
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

DAY = date(2026, 11, 25)
FIRST, LATE, EARLY = "T202611250000000001", "T202611250000000002", "T202611260000000003"
REFUND_NO = "F261125A1B2C3D4E5F6"
AT_17 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # 17:00 in Beijing
LAST_SECOND = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Beijing
NEXT_DAY = datetime(2026, 11, 25, 16, 0, 1, tzinfo=UTC)  # 00:00:01 on the 26th
MORNING_AFTER = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 on the 26th


async def _paid(world: World, otn: str, minor: int, *, outcome: str = "success") -> str:
    """A consume of ``minor`` fen paid now through the test hook; its ``queryId``."""
    expires_at = world.clock.now() + timedelta(minutes=15)
    request = replace(payment_request(otn, amount=Money(minor, "CNY")), expires_at=expires_at)
    await open_cashier(world, request)
    paid = await world.client.post(f"{PREFIX}/pay/{otn}", params={"outcome": outcome})
    assert paid.json()["state"] == "PAID", paid.text
    return world.sim.by_order(otn).query_id


async def _a_day_of_trades(world: World) -> str:
    """¥123.45 paid at 17:00 and ¥23.45 of it refunded; ¥500.00 paid at 23:59:59, its
    notification answered only after midnight; ¥88.00 paid at 00:00:01 the next day."""
    world.clock.set(AT_17)
    first = await _paid(world, FIRST, 12345)
    refund = RefundRequest(
        out_trade_no=FIRST,
        out_refund_no=REFUND_NO,
        amount=Money(2345, "CNY"),
        total=Money(12345, "CNY"),
        reason="wrong number",
        provider_trade_no=first,
    )
    assert (await world.adapter.refund(refund)).provider_refund_no
    world.clock.set(LAST_SECOND)
    world.merchant.status = 500  # the notification is not taken before midnight
    await _paid(world, LATE, 50000)
    world.clock.set(NEXT_DAY)
    world.merchant.status = 200
    await world.sim.deliver_due(NEXT_DAY + timedelta(minutes=1))
    late = [raw for raw in world.merchant.received if f"orderId={LATE}".encode() in raw.body]
    assert len(late) == 2  # at 23:59:59, refused; again after midnight, taken
    await _paid(world, EARLY, 8800)
    return first


async def test_the_days_file_holds_its_consumes_refunds_and_fees(world: World) -> None:
    first = await _a_day_of_trades(world)
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
    world.clock.set(MORNING_AFTER + timedelta(days=1))
    [next_day] = (await world.adapter.bill(DAY + timedelta(days=1))).rows
    assert (next_day.order_no, next_day.at, next_day.fee) == (EARLY, NEXT_DAY, Money(48, "CNY"))
    records = {record["out_trade_no"]: record for record in world.sim.records()}
    assert records[FIRST]["fee_minor"] == 68
    assert records[FIRST]["refunds"] == [
        {"refund_no": REFUND_NO, "amount_minor": 2345, "fee_refunded_minor": 13}
    ]


async def test_no_file_before_the_day_is_over(world: World) -> None:
    await _a_day_of_trades(world)
    world.clock.set(LAST_SECOND)
    sent = _recorded(world.client)
    with pytest.raises(BillNotReady, match="98"):
        await world.adapter.bill(DAY)  # today: asked, and UnionPay has no file of it yet
    with pytest.raises(BillNotReady, match="has not begun"):
        await world.adapter.bill(DAY + timedelta(days=2))  # MMDD alone names last year's
    assert len(sent) == 1  # the day not begun was not asked for
    early = await world.client.post(f"{PREFIX}/bills/differences", params={"kind": "early"})
    assert early.status_code == 200, early.text
    so_far = await world.adapter.bill(DAY)  # made early: what is booked so far
    assert {row.order_no for row in so_far.rows} >= {FIRST}
    await world.client.delete(f"{PREFIX}/bills/differences")
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
    await _a_day_of_trades(world)
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
    assert rows[LATE].amount == Money(50100, "CNY")  # shifted by 100 fen
    assert rows[stranger].amount == Money(6660, "CNY")
    assert (await world.adapter.query(stranger)).status is TradeStatus.PAID
    assert not [raw for raw in world.merchant.received if stranger.encode() in raw.body]
    for kind, reason in (("bad_digest", "CRC"), ("bad_totals", "trailer says consumes")):
        await world.client.delete(hook)
        assert (await world.client.post(hook, params={"kind": kind})).status_code == 200
        with pytest.raises(BillRefused, match=reason):
            await world.adapter.bill(DAY)
    await world.client.delete(hook)
    assert len((await world.adapter.bill(DAY)).rows) == 4


async def test_a_hook_that_names_nothing_known_is_refused(world: World) -> None:
    hook = f"{PREFIX}/bills/differences"
    unknown = await world.client.post(
        hook, params={"kind": "amount_mismatch", "out_trade_no": "T1"}
    )
    assert unknown.status_code == 400
    nothing = await world.client.post(hook, params={"kind": "provider_only", "amount": "0"})
    assert nothing.status_code == 400
    assert (await world.client.post(hook, params={"kind": "lost"})).status_code == 422


async def test_a_consume_paid_silently_is_in_the_file_and_never_notified(world: World) -> None:
    world.clock.set(AT_17)
    await _paid(world, FIRST, 1000, outcome="silent")
    await world.sim.deliver_due(AT_17 + timedelta(days=1))
    assert world.merchant.received == []
    assert (await world.adapter.query(FIRST)).status is TradeStatus.PAID
    world.clock.set(MORNING_AFTER)
    [row] = (await world.adapter.bill(DAY)).rows
    assert (row.order_no, row.amount, row.fee) == (FIRST, Money(1000, "CNY"), Money(6, "CNY"))


async def test_the_answer_is_signed_and_checked_like_every_other(world: World) -> None:
    await _a_day_of_trades(world)
    world.clock.set(MORNING_AFTER)
    sent = _recorded(world.client)
    await world.adapter.bill(DAY)
    [request] = sent
    assert str(request.url) == f"{HOST}{PREFIX}/filedownload"
    fields = parse_form(request.content)
    assert (fields["txnType"], fields["txnSubType"], fields["bizType"]) == ("76", "01", "000000")
    assert (fields["settleDate"], fields["fileType"]) == ("1125", "00")
    assert fields["signature"]


async def test_an_answer_changed_after_signing_is_refused(world: World) -> None:
    await _a_day_of_trades(world)
    world.clock.set(MORNING_AFTER)

    class Tampering(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            answer = await world.client.send(request)
            return httpx.Response(200, content=answer.content.replace(b"fileName=", b"fileName=x"))

    async with httpx.AsyncClient(transport=Tampering(), base_url=HOST) as client:
        adapter = simulator_adapter(
            world.keys_dir, world.clock, base_url=HOST + PREFIX, http=client
        )
        with pytest.raises(ProviderError, match="bad_signature"):
            await adapter.bill(DAY)


def _recorded(client: httpx.AsyncClient) -> list[httpx.Request]:
    """Every request ``client`` sends from now on."""
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    client.event_hooks["request"].append(keep)
    return sent
