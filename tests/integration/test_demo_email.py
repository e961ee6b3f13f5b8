"""``simkeep demo seed`` gives the first demo subscriber an email address confirmed with the
code emailed to it, by the same service a subscriber uses, so their reminders go by email
too; seeding again sends no second code."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.demo.emails import DEMO_EMAIL
from simkeep.demo.service import DEMO_SUBSCRIBERS
from simkeep.notifications.tables import outbox
from simkeep.subscribers import tables as st
from tests.integration.test_demo import seed


async def test_the_first_demo_subscriber_has_a_verified_email(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    async def state(conn: AsyncConnection) -> tuple[list[tuple[str, bool]], int]:
        s = st.subscribers.c
        rows = await conn.execute(
            select(s.phone, s.email_verified_at.is_not(None)).where(s.email == DEMO_EMAIL)
        )
        codes = select(func.count()).where(outbox.c.kind == "email")
        return [tuple(row) for row in rows], int((await conn.execute(codes)).scalar_one())  # type: ignore[misc]

    await seed(database_url, tmp_path)
    first = await db.transaction(state)
    assert first == ([(DEMO_SUBSCRIBERS[0].phone, True)], 1)  # the code, emailed once
    await seed(database_url, tmp_path)
    assert await db.transaction(state) == first
