"""A simulated SMS gateway: it "delivers" by storing the message, and a page at ``/_sim/sms``
shows them, so a person can read a one-time code in the embedded default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.notifications.tables import sms_inbox


@dataclass(frozen=True, slots=True)
class SentSms:
    recipient: str
    body: str
    sent_at: datetime


class SimulatedSmsGateway:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def send(self, *, to: str, text: str) -> None:
        now = self.clock.now()

        async def store(conn: AsyncConnection) -> None:
            await conn.execute(sms_inbox.insert().values(recipient=to, body=text, sent_at=now))

        await self.db.transaction(store)

    async def messages(self, *, to: str | None = None, limit: int = 50) -> list[SentSms]:
        """The newest messages first, optionally for one recipient."""

        async def read(conn: AsyncConnection) -> list[SentSms]:
            query = select(sms_inbox).order_by(sms_inbox.c.id.desc()).limit(limit)
            if to is not None:
                query = query.where(sms_inbox.c.recipient == to)
            rows = await conn.execute(query)
            return [SentSms(r.recipient, r.body, r.sent_at) for r in rows]

        return await self.db.transaction(read)
