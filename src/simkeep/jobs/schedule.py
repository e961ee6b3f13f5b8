"""The periodic jobs' ticks on a queue: each job once per interval across the fleet.

Every queue worker asks, every interval, which jobs are due (``claim_ticks``). One statement
moves a due job's ``next_at`` on (``job_schedule``), so of the workers that ask at the same
moment one gets the tick and publishes it. A tick lost (its worker died before publishing)
is followed by the next one an interval later: every job finds its work in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.jobs.tables import job_schedule


async def claim_ticks(
    db: Database, *, jobs: Sequence[str], every: timedelta, now: datetime
) -> list[str]:
    """The jobs due a tick now, each taken for this worker until ``now + every``."""

    async def claim(conn: AsyncConnection) -> list[str]:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        j = job_schedule.c
        known = set((await conn.execute(select(j.job).where(j.job.in_(jobs)))).scalars())
        if missing := [job for job in jobs if job not in known]:
            await conn.execute(
                insert(job_schedule)
                .values([{"job": job, "next_at": now} for job in missing])
                .on_conflict_do_nothing(index_elements=["job"])
            )
        taken = await conn.execute(
            update(job_schedule)
            .where(j.job.in_(jobs), j.next_at <= now)
            .values(next_at=now + every)
            .returning(j.job)
        )
        return sorted(taken.scalars())

    return await db.transaction(claim)
