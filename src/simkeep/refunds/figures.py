"""Refunds in figures, for the operator's dashboard and exports: what was asked, paid and
refused per Hong Kong day, and every refund asked within a range of days, a batch at a time.

Design overview
---------------
* ``refunds_by_day`` counts three events, each on its own day: a refund is *asked* on the
  day of ``requested_at``, *paid* on the day of ``paid_at``, *refused* on the day staff
  decided it (``decided_at`` of a refund in ``refused``). One grouped query per event
  (``GROUP BY`` the Hong Kong day and the currency paid back), amounts in minor units of
  that currency, summed by the database.
* ``refunds_requested`` reads the refunds asked on a range of days after a given id, for an
  export that walks the range in batches (keyset on the id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.days import DayRange, as_day, hk_day
from simkeep.refunds import tables as t
from simkeep.refunds.model import RefundState
from simkeep.refunds.queries import Refund, refund_from_row


class Event(StrEnum):
    ASKED = "asked"
    PAID = "paid"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class RefundCount:
    """The refunds of one event on one Hong Kong day, paid back in one currency."""

    day: date
    event: Event
    currency: str
    count: int
    pay_minor: int  # what goes (or would have gone) back to the payers


async def refunds_by_day(conn: AsyncConnection, *, days: DayRange) -> list[RefundCount]:
    """The refunds asked, paid and refused within ``days``, counted and summed per day and
    currency."""
    c = t.refunds.c
    events: dict[Event, tuple[Any, ColumnElement[bool] | None]] = {
        Event.ASKED: (c.requested_at, None),
        Event.PAID: (c.paid_at, None),
        Event.REFUSED: (c.decided_at, c.state == RefundState.REFUSED.value),
    }
    counts = []
    for event, (instant, only) in events.items():
        counts += await _by_day(conn, days, event, instant, only)
    return counts


async def _by_day(
    conn: AsyncConnection,
    days: DayRange,
    event: Event,
    instant: Any,
    only: ColumnElement[bool] | None,
) -> list[RefundCount]:
    c = t.refunds.c
    start, end = days.window()
    day = hk_day(conn, instant).label("day")
    query = (
        select(day, c.pay_currency, func.count().label("n"), func.sum(c.pay_minor).label("pay"))
        .where(instant >= start, instant < end)
        .group_by(day, c.pay_currency)
    )
    if only is not None:
        query = query.where(only)
    return [
        RefundCount(as_day(row.day), event, row.pay_currency, int(row.n), int(row.pay))
        for row in await conn.execute(query)
    ]


async def refunds_requested(
    conn: AsyncConnection, *, days: DayRange, after_id: int, limit: int
) -> list[tuple[int, Refund]]:
    """At most ``limit`` refunds asked on the Hong Kong days of ``days``, with their ids, in
    the order of their ids, after ``after_id``."""
    c = t.refunds.c
    start, end = days.window()
    query = (
        select(t.refunds)
        .where(c.requested_at >= start, c.requested_at < end, c.id > after_id)
        .order_by(c.id)
        .limit(limit)
    )
    return [(row.id, refund_from_row(row)) for row in await conn.execute(query)]
