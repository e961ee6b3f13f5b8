"""Alipay's daily bill end to end: our adapter asks the simulator over HTTP for
``alipay.data.dataservice.bill.downloadurl.query`` (signed both ways), downloads the zip and
reads it — in the world of ``tests.e2e.alipay_world``, whose clock starts at 00:30 on
2026-11-26 in Beijing.

The day's story: ¥100.00 paid at 00:30 and ¥30.00 of it refunded; ¥100.00 paid at 23:59:59
whose notification reaches us after midnight; until midnight there is no bill. The
differences the reconciliation tests rely on are planted over HTTP: a trade's amount shifted,
a trade we never made, a trade paid without telling us, totals that do not add up.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from simkeep.clock import SHANGHAI
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.model import RefundRequest
from simkeep.reconciliation.bill import BillNotReady, RowKind
from tests.e2e.alipay_world import BASE, World, order, pay, world
from tests.e2e.bill_world import (
    BillHooks,
    planting_refused,
    shifted_and_stranger,
    spoilt_bills_refused,
)

__all__ = ["world"]  # the shared fixture: imported so that pytest finds it here

DAY = date(2026, 11, 26)  # START is 00:30 of it in Beijing
MIDNIGHT = datetime(2026, 11, 27, tzinfo=SHANGHAI)


def hooks(world: World) -> BillHooks:
    return BillHooks(world.http, BASE)


async def paid(world: World, out_trade_no: str, *, outcome: str = "success") -> None:
    expires_at = world.clock.now() + timedelta(minutes=15)
    await world.adapter.start(replace(order(out_trade_no), expires_at=expires_at))
    assert (await pay(world, out_trade_no, outcome)).json()["trade_status"] == "TRADE_SUCCESS"


async def a_day(world: World) -> None:
    """¥100.00 paid and ¥30.00 of it refunded, and ¥100.00 paid at 23:59:59 whose first
    notification we fail to take (the retry comes four minutes later, after midnight)."""
    await paid(world, "TOPUP_0001")
    refund = RefundRequest(
        out_trade_no="TOPUP_0001",
        out_refund_no="RF_0001_A",
        amount=Money(3000, "CNY"),
        total=Money(10000, "CNY"),
        reason="wrong number",
    )
    await world.adapter.refund(refund)
    await world.sim.deliver_pending()  # the refund's notification, taken
    world.clock.set(MIDNIGHT - timedelta(seconds=1))
    world.merchant.script.append("fail")
    await paid(world, "TOPUP_0002")


async def test_the_days_bill_comes_once_the_day_is_over(world: World) -> None:
    await a_day(world)

    with pytest.raises(BillNotReady, match="2026-11-26"):
        await world.adapter.bill(DAY)
    world.clock.set(MIDNIGHT + timedelta(minutes=4))
    await world.sim.deliver_pending()
    bill = await world.adapter.bill(DAY)

    assert bill.provider is Provider.ALIPAY
    assert [
        (row.kind, row.order_no, row.refund_no, row.amount.minor, row.fee.minor)
        for row in bill.rows
    ] == [
        (RowKind.PAY, "TOPUP_0001", "", 10000, 60),
        (RowKind.REFUND, "TOPUP_0001", "RF_0001_A", 3000, 18),
        (RowKind.PAY, "TOPUP_0002", "", 10000, 60),
    ]
    assert bill.rows[-1].at == MIDNIGHT - timedelta(seconds=1)
    late = [n for n in world.merchant.received if n["out_trade_no"] == "TOPUP_0002"]
    assert len(late) == 2  # refused at 23:59:59, taken at 00:04
    assert bill.rows[0].trade_no == world.sim.trades["TOPUP_0001"].trade_no


async def test_a_day_without_trades_has_an_empty_bill(world: World) -> None:
    bill = await world.adapter.bill(DAY - timedelta(days=1))

    assert bill.rows == ()


async def test_planted_differences_are_in_the_next_bills(world: World) -> None:
    await a_day(world)
    stranger = await shifted_and_stranger(hooks(world), "TOPUP_0002", amount="12.34", shift=1)
    world.clock.set(MIDNIGHT + timedelta(hours=9))

    bill = await world.adapter.bill(DAY)

    assert {row.order_no: row.amount for row in bill.rows if row.kind is RowKind.PAY} == {
        "TOPUP_0001": Money(10000, "CNY"),
        "TOPUP_0002": Money(10001, "CNY"),
        stranger: Money(1234, "CNY"),
    }
    await hooks(world).clear()
    cleared = await world.adapter.bill(DAY)
    assert [row.amount.minor for row in cleared.rows if row.order_no == "TOPUP_0002"] == [10000]


async def test_a_summary_that_does_not_add_up_refuses_the_bill(world: World) -> None:
    await a_day(world)
    world.clock.set(MIDNIGHT + timedelta(hours=9))

    spoilt = {"bad_totals": "订单金额（元）"}
    await spoilt_bills_refused(world.adapter, hooks(world), spoilt, day=DAY)


async def test_a_trade_paid_without_telling_is_in_the_bill_only(world: World) -> None:
    await paid(world, "TOPUP_0003", outcome="silent")
    world.clock.set(MIDNIGHT + timedelta(hours=9))
    await world.sim.deliver_pending()

    bill = await world.adapter.bill(DAY)

    assert world.merchant.received == []
    assert [row.order_no for row in bill.rows] == ["TOPUP_0003"]


async def test_the_hooks_refuse_what_they_cannot_plant(world: World) -> None:
    await planting_refused(hooks(world), cannot="bad_digest")  # the zip has no digest
