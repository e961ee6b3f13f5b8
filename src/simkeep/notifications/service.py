"""The outbox: queue a message with the change that causes it; deliver it later, at least once.

Design overview
---------------
``queue_sms`` inserts a row in the caller's transaction, so a message exists if and only if
its cause committed. ``deliver_due`` claims due rows (pushing their due time out by a lease,
so that two workers do not send the same row at once), sends each through the gateway
outside any transaction, then marks it sent — or records the error and retries with
back-off. A crash between sending and marking sends the message again: at least once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.notifications import statements as sql
from simkeep.notifications.tables import outbox

LEASE = timedelta(minutes=1)  # a worker that died mid-send leaves its claim this long
MAX_BACKOFF = timedelta(hours=1)


class SmsGateway(Protocol):
    async def send(self, *, to: str, text: str) -> None:
        """Hand one SMS to the carrier; raise on failure."""
        ...


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    recipient: str
    body: str
    attempts: int


async def queue_sms(conn: AsyncConnection, *, to: str, text: str, now: datetime) -> None:
    """Queue an SMS in the caller's transaction."""
    await sql.QUEUE_SMS.execute(conn, recipient=to, body=text, now=now)


async def queue_many(
    conn: AsyncConnection, *, messages: Sequence[tuple[str, str]], now: datetime
) -> None:
    """Queue many SMS (recipient, text) in the caller's transaction, in one statement."""
    if messages:
        rows = [
            {"kind": "sms", "recipient": to, "body": text, "created_at": now, "due_at": now}
            for to, text in messages
        ]
        await conn.execute(outbox.insert(), rows)


async def deliver_due(db: Database, *, gateway: SmsGateway, now: datetime, limit: int = 50) -> int:
    """Send the SMS that are due; returns how many were sent."""
    sent = 0
    for message in await db.transaction(lambda conn: _claim(conn, now, limit)):
        try:
            await gateway.send(to=message.recipient, text=message.body)
        except Exception as error:
            backoff = min(MAX_BACKOFF, timedelta(seconds=15 * 2 ** min(message.attempts, 8)))
            failure = f"{type(error).__name__}: {error}"[:500]
            await db.transaction(_marker(message.id, due_at=now + backoff, last_error=failure))
            continue
        await db.transaction(_marker(message.id, sent_at=now))
        sent += 1
    return sent


async def _claim(conn: AsyncConnection, now: datetime, limit: int) -> list[Claimed]:
    rows = (
        await conn.execute(
            select(outbox.c.id, outbox.c.recipient, outbox.c.body, outbox.c.attempts)
            .where(outbox.c.sent_at.is_(None), outbox.c.due_at <= now, outbox.c.kind == "sms")
            .order_by(outbox.c.due_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if rows:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_([row.id for row in rows]))
            .values(due_at=now + LEASE, attempts=outbox.c.attempts + 1)
        )
    return [Claimed(row.id, row.recipient, row.body, row.attempts + 1) for row in rows]


def _marker(message_id: int, **values: object) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def mark(conn: AsyncConnection) -> None:
        await conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))

    return mark
