"""Which days the retention run has to do, and how many SIMs it looks at (for a progress
bar, and to split a day's run into chunks the fleet shares)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.retention import tables as rt
from simkeep.sims import tables as st
from simkeep.sims.model import SimState


async def days_to_run(db: Database, *, day: date) -> list[date]:
    """Every day after the last finished run up to ``day``, in order (``day`` alone the
    first time)."""
    last = await db.transaction(_last_finished)
    first = day if last is None else last + timedelta(days=1)
    return [first + timedelta(days=n) for n in range((day - first).days + 1)]


async def id_range(db: Database) -> tuple[int, int] | None:
    """The lowest and highest SIM ids, to split a run into chunks (None without SIMs)."""

    async def read(conn: AsyncConnection) -> tuple[int, int] | None:
        s = st.sims.c
        low, high = (await conn.execute(select(func.min(s.id), func.max(s.id)))).one()
        return None if low is None else (int(low), int(high))

    return await db.read(read)


async def sims_to_run(db: Database) -> int:
    """How many SIMs a run looks at (for a progress bar)."""

    async def count(conn: AsyncConnection) -> int:
        query = select(func.count()).where(st.sims.c.state != SimState.RECYCLED.value)
        return int((await conn.execute(query)).scalar_one())

    return await db.transaction(count)


async def _last_finished(conn: AsyncConnection) -> date | None:
    runs = rt.runs.c
    query = select(func.max(runs.day)).where(runs.finished_at.is_not(None))
    last: date | None = (await conn.execute(query)).scalar()
    return last
