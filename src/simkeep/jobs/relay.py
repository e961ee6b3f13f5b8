"""The relay: what the outbox holds goes to the queue after its transaction committed.

Design overview
---------------
Two outboxes feed the queue: the messages (``notifications.tables.outbox``: SMS and email)
and the pieces of work (``jobs.tables.tasks``). A row is to be published when it is not
done, due, and not published since it became due (``published_at`` is empty or older
than ``due_at``: a claim or a retry moves ``due_at`` on, so a row given back, or whose
worker died holding it, is published again when that time comes). ``relay_once`` takes such
rows with ``FOR UPDATE SKIP LOCKED`` (two relays share the work), publishes each, and marks
them published in the same transaction. A relay that dies after publishing and before its
commit leaves them unmarked: they are published again, and the worker's claim
(``notifications.service.deliver_one``, ``jobs.tasks.claim``) runs each once. A publish
that fails rolls the transaction back: nothing is marked. A row published ``REDRIVE`` ago
and still due and untaken is published again: its message was lost after the relay (a
worker that failed before its claim, a broker that dropped it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.jobs.tables import tasks
from simkeep.notifications.tables import outbox

BATCH = 200
# A row published this long ago and still not taken is published again: its message was
# lost on the way (a worker that failed before its claim, a broker that lost it).
REDRIVE = timedelta(minutes=5)


class Publisher(Protocol):
    async def publish(self, kind: str, ref: int) -> None:
        """Put one message on the queue (``kind``: ``message`` or ``task``, ``ref`` its row
        id); return once the broker has it, raise if it does not."""
        ...


@dataclass(frozen=True, slots=True)
class Source:
    kind: str
    table: Table
    done: str  # the column set when the row's work is done


SOURCES = (Source("message", outbox, "sent_at"), Source("task", tasks, "done_at"))


async def relay_once(db: Database, publisher: Publisher, *, now: datetime) -> int:
    """Publish what is due of both outboxes; returns how many rows were published."""
    published = 0
    for source in SOURCES:
        published += await db.transaction(
            lambda conn: _relay(conn, source, publisher, now)  # noqa: B023 - awaited here
        )
    return published


async def _relay(conn: AsyncConnection, source: Source, publisher: Publisher, now: datetime) -> int:
    c = source.table.c
    due = (
        select(c.id)
        .where(
            c[source.done].is_(None),
            c.due_at <= now,
            or_(
                c.published_at.is_(None),
                c.published_at < c.due_at,
                c.published_at < now - REDRIVE,
            ),
        )
        .order_by(c.due_at, c.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    ids = list((await conn.execute(due)).scalars())
    for ref in ids:
        await publisher.publish(source.kind, ref)
    if ids:
        await conn.execute(update(source.table).where(c.id.in_(ids)).values(published_at=now))
    return len(ids)
