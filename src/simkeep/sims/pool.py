"""The number pool: the numbers of recycled SIMs, kept out of use for a quarantine.

Design overview
---------------
A number that was recycled yesterday still reaches its old holder's friends, banks and
two-factor codes; issuing it at once to a stranger would hand them all of that. So when the
retention run recycles a SIM (``release``, in the run's transaction), its two numbers enter
the pool with the day. For ``QUARANTINE_DAYS`` they may not be issued; issuing one then is
refused with the day it becomes free (``NumberInQuarantine``). After that ``claim`` (called
by ``service.issue_sim``) moves the number's line to the new SIM and marks its pool row
reissued, with one conditional update, so two SIMs issued at once cannot both take it. The
recycled SIM keeps its numbers on its pool rows: its page, history and books still name
them (``service`` reads them there once the line has moved on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import in_hong_kong
from simkeep.phone import Number, Region
from simkeep.sims import tables as t
from simkeep.sims.model import SimError

QUARANTINE_DAYS = 90  # after recycling, before a number may be issued again


class NumberInQuarantine(SimError):
    code = "number_in_quarantine"


class NumberTaken(SimError):
    code = "number_taken"


@dataclass(frozen=True, slots=True)
class PoolSummary:
    waiting: int  # in quarantine
    free: int  # out of quarantine, not issued again yet
    next_free_on: date | None  # the day the next number in quarantine is free


def free_on(released_on: date) -> date:
    """The first day a number recycled on ``released_on`` may be issued again."""
    return released_on + timedelta(days=QUARANTINE_DAYS)


async def release(conn: AsyncConnection, *, sim_ids: Sequence[int], day: date) -> None:
    """Put the numbers of the SIMs recycled on ``day`` into the pool (once per SIM)."""
    lines = t.lines.c
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    released = literal(day, t.pool.c.released_on.type)
    await conn.execute(
        insert(t.pool)
        .from_select(
            ["e164", "region", "sim_id", "released_on"],
            select(lines.e164, lines.region, lines.sim_id, released).where(
                lines.sim_id.in_(sim_ids)
            ),
        )
        .on_conflict_do_nothing()
    )


async def claim(
    conn: AsyncConnection, *, numbers: Sequence[Number], sim_id: int, now: datetime
) -> set[str]:
    """Take those of ``numbers`` that wait in the pool for SIM ``sim_id`` (whose lines the
    caller inserts for the rest); refuses a number still in quarantine, or taken just now."""
    p = t.pool.c
    e164s = [number.e164 for number in numbers]
    rows = (
        await conn.execute(
            select(p.id, p.e164, p.region, p.sim_id, p.released_on).where(
                p.e164.in_(e164s), p.reissued_at.is_(None)
            )
        )
    ).all()
    today = in_hong_kong(now).date()
    for row in rows:
        if free_on(row.released_on) > today:
            masked = Number(row.e164, Region(row.region)).masked()
            raise NumberInQuarantine(
                f"{masked} was recycled and is in quarantine; it may be issued again from "
                f"{free_on(row.released_on)}"
            )
    for row in rows:
        taken = await conn.execute(
            update(t.pool)
            .where(p.id == row.id, p.reissued_at.is_(None))
            .values(reissued_to=sim_id, reissued_at=now)
        )
        if taken.rowcount != 1:
            raise NumberTaken(f"{row.e164} was issued to another SIM just now")
        await conn.execute(
            update(t.lines)
            .where(t.lines.c.e164 == row.e164, t.lines.c.sim_id == row.sim_id)
            .values(sim_id=sim_id)
        )
    return {row.e164 for row in rows}


async def summary(conn: AsyncConnection, *, today: date) -> PoolSummary:
    """How many numbers wait in quarantine, how many are free again, and when the next is."""
    p = t.pool.c
    boundary = today - timedelta(days=QUARANTINE_DAYS)
    waiting = p.released_on > boundary
    row = (
        await conn.execute(
            select(
                func.count().filter(waiting),
                func.count().filter(~waiting),
                func.min(p.released_on).filter(waiting),
            ).where(p.reissued_at.is_(None))
        )
    ).one()
    first: date | None = row[2]
    return PoolSummary(row[0], row[1], free_on(first) if first else None)
