"""Reading adjustments: one by id, the queue waiting for a checker, the latest decided, and a
SIM's (newest first, a page at a time, for its timeline)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.adjustments import tables as t
from simkeep.adjustments.model import Adjustment, AdjustmentState
from simkeep.keyset import Keyset, older_than
from simkeep.money import Money

QUEUE_PAGE = 100


def adjustment_from_row(row: Row[Any]) -> Adjustment:
    m = row._mapping
    return Adjustment(
        id=m["id"],
        sim_id=m["sim_id"],
        amount=Money(m["amount_minor"], m["currency"]),
        reason=m["reason"],
        state=AdjustmentState(m["state"]),
        made_by=m["made_by"],
        made_at=m["made_at"],
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
        decision_note=m["decision_note"],
        journal_id=m["journal_id"],
    )


async def get_adjustment(conn: AsyncConnection, *, adjustment_id: int) -> Adjustment | None:
    row = (
        await conn.execute(select(t.adjustments).where(t.adjustments.c.id == adjustment_id))
    ).first()
    return adjustment_from_row(row) if row else None


async def by_key(conn: AsyncConnection, *, made_by: int, key: str) -> Adjustment | None:
    """The adjustment a member entered with this form key, if any."""
    c = t.adjustments.c
    row = (
        await conn.execute(select(t.adjustments).where(c.made_by == made_by, c.made_key == key))
    ).first()
    return adjustment_from_row(row) if row else None


async def pending(conn: AsyncConnection, *, limit: int = QUEUE_PAGE) -> list[Adjustment]:
    """Adjustments waiting for a checker, oldest first."""
    c = t.adjustments.c
    rows = await conn.execute(
        select(t.adjustments)
        .where(c.state == AdjustmentState.PENDING.value)
        .order_by(c.id)
        .limit(limit)
    )
    return [adjustment_from_row(row) for row in rows]


async def recent_decided(conn: AsyncConnection, *, limit: int = QUEUE_PAGE) -> list[Adjustment]:
    """The latest decided adjustments, newest first."""
    c = t.adjustments.c
    rows = await conn.execute(
        select(t.adjustments)
        .where(c.state != AdjustmentState.PENDING.value)
        .order_by(c.id.desc())
        .limit(limit)
    )
    return [adjustment_from_row(row) for row in rows]


async def of_sim(
    conn: AsyncConnection, *, sim_id: int, before: Keyset | None, limit: int
) -> list[Adjustment]:
    """The SIM's adjustments, newest entered first: at most ``limit`` before ``before`` (a
    SIM's timeline on the console; ``ix_balance_adjustments_sim``)."""
    c = t.adjustments.c
    rows = await conn.execute(
        select(t.adjustments)
        .where(c.sim_id == sim_id, older_than(c.made_at, c.id, before))
        .order_by(c.made_at.desc(), c.id.desc())
        .limit(limit)
    )
    return [adjustment_from_row(row) for row in rows]
