"""Reconciliation in figures, for the operator's dashboard and exports: the provider days of
a range of days with their rows by class, and every recorded row of those days, a batch at
a time.

Design overview
---------------
* ``days_of`` reads the reconciliations of the providers' days within a ``DayRange`` — one
  row per provider and day, so at most a few thousand a year — with their counts by class
  (``Counts.differences``: everything but the matched rows).
* ``rows_of_days`` reads the rows recorded for those days (the differences, the carries,
  the payments matched on another day), each with its provider and day, after a given row
  id: an export walks them in batches (keyset on the row id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.days import DayRange
from simkeep.payment_methods import Provider
from simkeep.reconciliation import tables as t
from simkeep.reconciliation.queries import (
    Difference,
    Reconciliation,
    difference_from_row,
    reconciliation_from_row,
)


@dataclass(frozen=True, slots=True)
class DayRow:
    """A recorded row with the provider and day it belongs to."""

    provider: Provider
    day: date
    row: Difference


async def days_of(conn: AsyncConnection, *, days: DayRange) -> list[Reconciliation]:
    """The providers' days within ``days`` that were reconciled (or tried), by day."""
    r = t.reconciliations.c
    rows = await conn.execute(
        select(t.reconciliations)
        .where(r.day >= days.first, r.day <= days.last)
        .order_by(r.day, r.provider)
    )
    return [reconciliation_from_row(row) for row in rows]


async def rows_of_days(
    conn: AsyncConnection, *, days: DayRange, after_id: int, limit: int
) -> list[tuple[int, DayRow]]:
    """At most ``limit`` rows recorded for the providers' days within ``days``, with their
    ids, in the order of their ids, after ``after_id``."""
    r, i = t.reconciliations.c, t.reconciliation_items.c
    query = (
        select(t.reconciliation_items, r.provider.label("provider"), r.day.label("day"))
        .join(t.reconciliations, r.id == i.reconciliation_id)
        .where(r.day >= days.first, r.day <= days.last, i.id > after_id)
        .order_by(i.id)
        .limit(limit)
    )
    return [
        (row.id, DayRow(Provider(row.provider), row.day, difference_from_row(row)))
        for row in await conn.execute(query)
    ]
