"""Migration 0017 on a database with subscribers and queued SMS, on SQLite and PostgreSQL:
the SMS wait in the outbox as they were, a subscriber has no address until they set one,
and an email to an address of 254 characters fits."""

from __future__ import annotations

import asyncio

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.migrations import upgrade
from simkeep.notifications import service as notifications
from simkeep.sqltypes import UTCDateTime
from tests.conftest import START
from tests.integration.test_migration_names import empty_db

__all__ = ["empty_db"]

LONGEST = "a" * 64 + "@" + "b" * 62 + "." + "c" * 62 + "." + "d" * 60 + ".hk"  # 254 characters


async def test_queued_sms_stay_and_an_address_of_254_characters_fits(empty_db: Database) -> None:
    assert len(LONGEST) == 254
    await upgrade(empty_db, "0016")

    async def before(conn: AsyncConnection) -> None:
        now = bindparam("now", START, type_=UTCDateTime())
        await conn.execute(
            text(
                "INSERT INTO subscribers (phone, password_hash, created_at, password_changed_at)"
                " VALUES ('+85261234567', 'x', :now, :now)"
            ).bindparams(now)
        )
        await conn.execute(
            text(
                "INSERT INTO outbox (kind, recipient, body, created_at, due_at)"
                " VALUES ('sms', '+85261234567', 'code 123456', :now, :now)"
            ).bindparams(now)
        )

    await empty_db.transaction(before)
    await asyncio.wait_for(upgrade(empty_db), timeout=60)

    async def after(conn: AsyncConnection) -> tuple[object, ...]:
        await notifications.queue_email(conn, to=LONGEST, subject="s", text="t", now=START)
        queued = await conn.execute(
            text("SELECT kind, recipient, subject, body FROM outbox ORDER BY id")
        )
        address = await conn.execute(
            text("SELECT email, email_verified_at, pending_email FROM subscribers")
        )
        return tuple(queued.all()), tuple(address.one())

    queued, address = await empty_db.transaction(after)
    assert [tuple(row) for row in queued] == [
        ("sms", "+85261234567", None, "code 123456"),
        ("email", LONGEST, "s", "t"),
    ]
    assert address == (None, None, None)
