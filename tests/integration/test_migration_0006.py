"""Migration 0006 on SQLite and PostgreSQL: a login lock live at the upgrade still holds
afterwards, as a spent window; failure counts below the limit are not carried."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.migrations import alembic_config, upgrade
from simkeep.statements import Statement
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import Limits, LockedOut
from simkeep.subscribers.tables import attempt_windows

OLD_ROW = Statement(
    """
    INSERT INTO login_throttle (phone, failures, locked_until, last_failure_at)
    VALUES (:phone, :failures, :locked_until, :last_failure_at)
    """
)


def downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_a_lock_live_at_the_upgrade_still_holds(db: Database, clock: FixedClock) -> None:
    now = clock.now()
    await db.transaction(lambda conn: conn.run_sync(downgrade, "0005"))
    try:

        async def old_rows(conn: AsyncConnection) -> None:
            locked = {"failures": 0, "locked_until": now + timedelta(minutes=10)}
            counting = {"failures": 3, "locked_until": None}
            await OLD_ROW.execute(conn, phone="+85291234567", last_failure_at=now, **locked)
            await OLD_ROW.execute(conn, phone="+85291234568", last_failure_at=now, **counting)

        await db.transaction(old_rows)
    finally:
        await upgrade(db)

    async def windows(conn: AsyncConnection) -> list[tuple[str, str, int, object]]:
        rows = await conn.execute(select(attempt_windows))
        return [tuple(row) for row in rows]

    assert await db.read(windows) == [
        ("login", "+85291234567", 5, now + timedelta(minutes=10)),
    ]
    with pytest.raises(LockedOut, match="try again after 09:10 UTC"):
        await subscribers.login(
            db, phone="+85291234567", password="any password", limits=Limits(), now=now
        )
