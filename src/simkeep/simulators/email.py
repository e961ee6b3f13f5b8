"""A simulated mailbox: it "delivers" an email by storing it, and a page at ``/_sim/email``
lists them, so a person can read a verification code and the reminders in the embedded
default, and tests can read what simkeep sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.notifications.tables import mailbox


@dataclass(frozen=True, slots=True)
class SentEmail:
    recipient: str
    subject: str
    body: str
    sent_at: datetime


class SimulatedMailbox:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def send(self, *, to: str, subject: str, text: str) -> None:
        now = self.clock.now()

        async def store(conn: AsyncConnection) -> None:
            await conn.execute(
                mailbox.insert().values(recipient=to, subject=subject, body=text, sent_at=now)
            )

        await self.db.transaction(store)

    async def messages(self, *, to: str | None = None, limit: int = 50) -> list[SentEmail]:
        """The newest emails first, optionally for one address."""

        async def read(conn: AsyncConnection) -> list[SentEmail]:
            query = select(mailbox).order_by(mailbox.c.id.desc()).limit(limit)
            if to is not None:
                query = query.where(mailbox.c.recipient == to)
            rows = await conn.execute(query)
            return [SentEmail(r.recipient, r.subject, r.body, r.sent_at) for r in rows]

        return await self.db.transaction(read)
