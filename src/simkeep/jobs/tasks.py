"""The outbox of work: pieces of a job that the fleet shares (docs/scaling.md).

Design overview
---------------
``add`` writes a task in the caller's transaction, once per ``key`` (a second ``add`` of the
same work does nothing), so a task exists if and only if the decision that made it
committed. The relay (``jobs.relay``) publishes what is due. ``claim`` takes one for the
worker the queue gave it to by one conditional statement — not done, due, nobody's lease on
it — pushing its due time out by a lease; a task delivered twice, or done already, is not
claimed again. ``finish`` marks it done; ``later`` gives it back with its next time (and
the error, if any), and the relay publishes it again then. A worker that died holding a
task leaves its lease: the relay publishes it again when the lease has run out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.jobs.tables import tasks

LEASE = timedelta(minutes=10)  # a retention chunk or a day's bill can take minutes
ERROR = 500


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    name: str
    args: dict[str, Any]
    attempts: int


async def add(
    conn: AsyncConnection,
    *,
    name: str,
    key: str,
    batch: str,
    args: dict[str, Any],
    now: datetime,
    due_at: datetime | None = None,
) -> None:
    """Write a task in the caller's transaction, unless the same ``key`` exists."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(tasks)
        .values(
            name=name,
            key=key,
            batch=batch,
            args=json.dumps(args, sort_keys=True),
            created_at=now,
            due_at=due_at or now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )


async def claim(conn: AsyncConnection, *, task_id: int, now: datetime) -> Task | None:
    """Take the task for this worker, if it is not done, due and nobody holds it."""
    t = tasks.c
    row = (
        await conn.execute(
            update(tasks)
            .where(t.id == task_id, t.done_at.is_(None), t.due_at <= now)
            .values(due_at=now + LEASE, attempts=t.attempts + 1)
            .returning(t.id, t.name, t.args, t.attempts)
        )
    ).first()
    if row is None:
        return None
    return Task(row.id, row.name, json.loads(row.args), row.attempts)


async def finish(conn: AsyncConnection, *, task_id: int, now: datetime) -> None:
    await conn.execute(
        update(tasks).where(tasks.c.id == task_id).values(done_at=now, last_error=None)
    )


async def later(
    conn: AsyncConnection, *, task_id: int, at: datetime, error: str | None = None
) -> None:
    """Give the task back, to run again at ``at``."""
    values: dict[str, object] = {"due_at": at}
    if error is not None:
        values["last_error"] = error[:ERROR]
    await conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))


async def open_in(conn: AsyncConnection, batch: str) -> tuple[int, int]:
    """How many tasks of ``batch`` there are, and how many are not done."""
    t = tasks.c
    row = (
        await conn.execute(
            select(
                func.count().label("all"),
                func.count().filter(t.done_at.is_(None)).label("open"),
            ).where(t.batch == batch)
        )
    ).one()
    return int(row.all), int(row.open)
