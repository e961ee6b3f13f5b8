"""The outbox: queue a message with the change that causes it; deliver it later, at least once.

Design overview
---------------
``queue_sms`` and ``queue_email`` insert a row (of kind ``sms`` or ``email``) in the
caller's transaction, so a message exists if and only if its cause committed. ``deliver_due``
claims due rows of the kinds it has a gateway for (pushing their due time out by a lease, so
that two workers do not send the same row at once), sends each through the gateway of its
kind (``SmsGateway``, ``EmailGateway``) outside any transaction, then marks it sent — or
records the error and retries with back-off. A crash between sending and marking sends the
message again: at least once. On a queue (``jobs.relay``) each message comes to
``deliver_one``, which claims that row the same way: a message the queue delivers twice is
sent once.
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


class EmailGateway(Protocol):
    async def send(self, *, to: str, subject: str, text: str) -> None:
        """Hand one plain-text email to the mail server; raise on failure."""
        ...


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    kind: str
    recipient: str
    subject: str | None
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


async def queue_email(
    conn: AsyncConnection, *, to: str, subject: str, text: str, now: datetime
) -> None:
    """Queue a plain-text email in the caller's transaction."""
    await queue_emails(conn, messages=[Email(to, subject, text)], now=now)


async def queue_emails(conn: AsyncConnection, *, messages: Sequence[Email], now: datetime) -> None:
    """Queue many emails in the caller's transaction, in one statement."""
    if messages:
        rows = [
            {
                "kind": "email",
                "recipient": email.to,
                "subject": email.subject,
                "body": email.text,
                "created_at": now,
                "due_at": now,
            }
            for email in messages
        ]
        await conn.execute(outbox.insert(), rows)


async def deliver_due(
    db: Database,
    *,
    gateway: SmsGateway,
    email: EmailGateway | None = None,
    now: datetime,
    limit: int = 50,
) -> int:
    """Send the SMS, and the emails when there is an email gateway, that are due; returns
    how many were sent."""
    kinds = ["sms"] if email is None else ["sms", "email"]
    claimed = await db.transaction(lambda conn: _claim(conn, kinds, now, limit))
    return sum([await _send(db, message, gateway, email, now) for message in claimed])


async def deliver_one(
    db: Database,
    *,
    message_id: int,
    gateway: SmsGateway,
    email: EmailGateway | None = None,
    now: datetime,
) -> bool:
    """Send one message the queue brought, if it is still due and nobody holds it (a message
    delivered twice, or sent already, is left alone); returns whether it was sent."""
    kinds = ["sms"] if email is None else ["sms", "email"]
    claimed = await db.transaction(lambda conn: _claim_one(conn, kinds, now, message_id))
    return bool(claimed) and await _send(db, claimed[0], gateway, email, now)


async def _send(
    db: Database,
    message: Claimed,
    gateway: SmsGateway,
    email: EmailGateway | None,
    now: datetime,
) -> bool:
    """Send a claimed message and mark it sent, or record the error and its next try."""
    try:
        if message.kind == "email":
            assert email is not None  # claimed only with a gateway
            await email.send(to=message.recipient, subject=message.subject or "", text=message.body)
        else:
            await gateway.send(to=message.recipient, text=message.body)
    except Exception as error:
        backoff = min(MAX_BACKOFF, timedelta(seconds=15 * 2 ** min(message.attempts, 8)))
        failure = f"{type(error).__name__}: {error}"[:500]
        await db.transaction(_marker(message.id, due_at=now + backoff, last_error=failure))
        return False
    await db.transaction(_marker(message.id, sent_at=now))
    return True


async def _claim(
    conn: AsyncConnection, kinds: list[str], now: datetime, limit: int
) -> list[Claimed]:
    o = outbox.c
    rows = (
        await conn.execute(
            select(o.id, o.kind, o.recipient, o.subject, o.body, o.attempts)
            .where(o.sent_at.is_(None), o.due_at <= now, o.kind.in_(kinds))
            .order_by(o.due_at, o.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if rows:
        await conn.execute(
            update(outbox)
            .where(o.id.in_([row.id for row in rows]))
            .values(due_at=now + LEASE, attempts=o.attempts + 1)
        )
    return [
        Claimed(row.id, row.kind, row.recipient, row.subject, row.body, row.attempts + 1)
        for row in rows
    ]


async def _claim_one(
    conn: AsyncConnection, kinds: list[str], now: datetime, message_id: int
) -> list[Claimed]:
    """One statement: it waits for a relay still holding the row (not skipping it), then
    takes it if it is still due and unsent."""
    o = outbox.c
    row = (
        await conn.execute(
            update(outbox)
            .where(o.id == message_id, o.sent_at.is_(None), o.due_at <= now, o.kind.in_(kinds))
            .values(due_at=now + LEASE, attempts=o.attempts + 1)
            .returning(o.id, o.kind, o.recipient, o.subject, o.body, o.attempts)
        )
    ).first()
    if row is None:
        return []
    return [Claimed(row.id, row.kind, row.recipient, row.subject, row.body, row.attempts)]


def _marker(message_id: int, **values: object) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def mark(conn: AsyncConnection) -> None:
        await conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))

    return mark
