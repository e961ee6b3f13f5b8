"""Read models of the counters for agents and the operator: an outlet's shifts and sales of a
Hong Kong day.

Design overview
---------------
Everything is read from ``counter_shifts`` and ``outlet_sales`` as the POS wrote them; a
day is a Hong Kong calendar day (``day_window``: its two UTC instants). ``shifts_of_day``
lists the shifts opened that day at some outlets, each with the count and sum of its sales
(one grouped query for all of them). ``sales_of_day`` lists an agent's sales of the day, a
page at a time (keyset on the id), and ``totals_of_day`` sums them per outlet: top-ups and
vouchers, cash and card, commission — one grouped query, whatever the number of sales —
less the refunds paid out at the outlet that day (one more grouped query), as the Z-report
counts a shift.
The agent's pages and API, and the operator's agent page, read these; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG
from simkeep.counter import tables as t
from simkeep.money import Money
from simkeep.refunds import tables as refund_tables

MAX_SALES_PAGE = 500
MAX_SHIFTS = 500


@dataclass(frozen=True, slots=True)
class ShiftReport:
    id: int
    outlet_id: int
    clerk_id: int
    state: str  # open | closed
    opened_at: datetime
    closed_at: datetime | None
    opening_cash: Money
    expected_cash: Money | None
    expected_card: Money | None
    counted_cash: Money | None
    difference: Money | None
    sales: int
    takings: Money  # every sale of the shift, cash and card


@dataclass(frozen=True, slots=True)
class Sale:
    id: int
    receipt_no: str
    outlet_id: int
    shift_id: int
    clerk_id: int
    kind: str  # topup | voucher
    payment: str  # cash | card
    amount: Money
    commission: Money
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SalesPage:
    sales: list[Sale]
    next_after: int | None  # the id the next page starts after; None on the last page


@dataclass(slots=True)
class OutletTotals:
    """An outlet's sales of a day, in its currency."""

    outlet_id: int
    currency: str
    sales: int = 0
    topups: int = 0
    vouchers: int = 0
    refunds: int = 0  # paid out at its counters
    amounts: dict[str, int] = field(default_factory=dict)  # by kind and by payment

    def amount(self, key: str) -> Money:
        """The sum of a kind (``topup``, ``voucher``), of the refunds paid out (``refund``),
        or of a payment (``cash``, ``card``), ``total`` or ``commission``: those four net of
        the refunds paid out (in cash, to cards, and the commission they took back), as the
        Z-report counts them."""
        return Money(self.amounts.get(key, 0), self.currency)


def day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a Hong Kong day starts and ends (the end excluded)."""
    start = datetime.combine(day, time(), HONG_KONG)
    end = datetime.combine(day + timedelta(days=1), time(), HONG_KONG)
    return start.astimezone(UTC), end.astimezone(UTC)


def _money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money(int(minor), currency)


async def shifts_of_day(
    conn: AsyncConnection, *, outlet_ids: Sequence[int], day: date
) -> list[ShiftReport]:
    """The shifts opened on a Hong Kong day at these outlets, in the order they opened, each
    with its sales."""
    if not outlet_ids:
        return []
    start, end = day_window(day)
    s = t.shifts.c
    query = (
        select(t.shifts)
        .where(s.outlet_id.in_(list(outlet_ids)), s.opened_at >= start, s.opened_at < end)
        .order_by(s.opened_at, s.id)
        .limit(MAX_SHIFTS)
    )
    rows = list(await conn.execute(query))
    taken = await _takings(conn, [row.id for row in rows])
    return [
        ShiftReport(
            id=row.id,
            outlet_id=row.outlet_id,
            clerk_id=row.clerk_id,
            state=row.state,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            opening_cash=Money(row.opening_cash_minor, row.currency),
            expected_cash=_money(row.expected_cash_minor, row.currency),
            expected_card=_money(row.expected_card_minor, row.currency),
            counted_cash=_money(row.counted_cash_minor, row.currency),
            difference=_money(row.difference_minor, row.currency),
            sales=taken.get(row.id, (0, 0))[0],
            takings=Money(taken.get(row.id, (0, 0))[1], row.currency),
        )
        for row in rows
    ]


async def _takings(conn: AsyncConnection, shift_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Count and sum of the sales of each shift."""
    if not shift_ids:
        return {}
    c = t.sales.c
    query = (
        select(c.shift_id, func.count(), func.sum(c.amount_minor))
        .where(c.shift_id.in_(shift_ids))
        .group_by(c.shift_id)
    )
    return {row[0]: (int(row[1]), int(row[2] or 0)) for row in await conn.execute(query)}


async def sales_of_day(
    conn: AsyncConnection,
    *,
    agent_id: int,
    day: date,
    outlet_id: int | None = None,
    after: int | None = None,
    limit: int = 100,
) -> SalesPage:
    """An agent's sales of a Hong Kong day (at one outlet, or at all), oldest first, a page
    at a time: the page after the sale ``after``."""
    start, end = day_window(day)
    c = t.sales.c
    size = max(1, min(limit, MAX_SALES_PAGE))
    query = (
        select(t.sales)
        .where(c.agent_id == agent_id, c.created_at >= start, c.created_at < end)
        .order_by(c.id)
        .limit(size + 1)
    )
    if outlet_id is not None:
        query = query.where(c.outlet_id == outlet_id)
    if after is not None:
        query = query.where(c.id > after)
    rows = list(await conn.execute(query))
    sales = [_sale(row) for row in rows[:size]]
    return SalesPage(sales, sales[-1].id if len(rows) > size else None)


def _sale(row: Row[Any]) -> Sale:
    return Sale(
        id=row.id,
        receipt_no=row.receipt_no,
        outlet_id=row.outlet_id,
        shift_id=row.shift_id,
        clerk_id=row.clerk_id,
        kind=row.kind,
        payment=row.payment,
        amount=Money(row.amount_minor, row.currency),
        commission=Money(row.commission_minor, row.currency),
        created_at=row.created_at,
    )


async def totals_of_day(
    conn: AsyncConnection, *, agent_id: int, day: date, outlet_id: int | None = None
) -> list[OutletTotals]:
    """An agent's sales of a Hong Kong day summed per outlet (and currency), by outlet id."""
    start, end = day_window(day)
    c = t.sales.c
    query = (
        select(
            c.outlet_id,
            c.currency,
            c.kind,
            c.payment,
            func.count(),
            func.sum(c.amount_minor),
            func.sum(c.commission_minor),
        )
        .where(c.agent_id == agent_id, c.created_at >= start, c.created_at < end)
        .group_by(c.outlet_id, c.currency, c.kind, c.payment)
    )
    if outlet_id is not None:
        query = query.where(c.outlet_id == outlet_id)
    totals: dict[tuple[int, str], OutletTotals] = {}
    for outlet, currency, kind, payment, count, amount, commission in await conn.execute(query):
        found = totals.setdefault((outlet, currency), OutletTotals(outlet, currency))
        _add(found, kind, payment, int(count), int(amount or 0), int(commission or 0))
    r = refund_tables.refunds.c
    paid_out = (
        select(
            r.outlet_id,
            r.pay_currency,
            r.payout,
            func.count(),
            func.sum(r.pay_minor),
            func.sum(r.commission_back_minor),
        )
        .where(
            r.agent_id == agent_id,
            r.outlet_id.is_not(None),
            r.paid_out_at >= start,
            r.paid_out_at < end,
        )
        .group_by(r.outlet_id, r.pay_currency, r.payout)
    )
    if outlet_id is not None:
        paid_out = paid_out.where(r.outlet_id == outlet_id)
    for outlet, currency, payout, count, amount, back in await conn.execute(paid_out):
        found = totals.setdefault((outlet, currency), OutletTotals(outlet, currency))
        _take_back(found, payout, int(count), int(amount or 0), int(back or 0))
    return [totals[key] for key in sorted(totals)]


def _take_back(totals: OutletTotals, payout: str, count: int, amount: int, back: int) -> None:
    """Refunds paid out at the outlet: off its takings in cash or on cards, and the
    commission they took back."""
    totals.refunds += count
    for key, minor in (("refund", amount), (payout, -amount), ("total", -amount)):
        totals.amounts[key] = totals.amounts.get(key, 0) + minor
    totals.amounts["commission"] = totals.amounts.get("commission", 0) - back


def _add(
    totals: OutletTotals, kind: str, payment: str, count: int, amount: int, commission: int
) -> None:
    totals.sales += count
    if kind == "topup":
        totals.topups += count
    else:
        totals.vouchers += count
    for key, minor in ((kind, amount), (payment, amount), ("total", amount)):
        totals.amounts[key] = totals.amounts.get(key, 0) + minor
    totals.amounts["commission"] = totals.amounts.get("commission", 0) + commission
