"""Migration 0007 on SQLite and PostgreSQL: notifications stored before it get their size and
digest, and a refused one stored whole is cut to its first bytes."""

from __future__ import annotations

import hashlib

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.migrations import upgrade
from simkeep.payments import tables as t
from simkeep.payments.model import REFUSED_PREFIX_BYTES
from tests.conftest import downgrade

BEFORE = "0006"  # the revision 0007 follows


async def test_migration_0007_measures_kept_bodies_and_cuts_refused_ones(
    db: Database, clock: FixedClock
) -> None:
    forged = b"sign=forged&" + b"x" * 50_000
    genuine = b'{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}'
    await downgrade(db, BEFORE)
    try:

        async def store_the_old_way(conn: AsyncConnection) -> None:
            for body, status in ((forged, "rejected"), (genuine, "credited")):
                # only the columns of revision 0006 are named
                await conn.execute(
                    insert(t.inbox).values(
                        provider="alipay",
                        headers="{}",
                        body=body,
                        status=status,
                        received_at=clock.now(),
                    )
                )

        await db.transaction(store_the_old_way)
    finally:
        await upgrade(db)

    async def read(conn: AsyncConnection) -> list[tuple[bytes, int, str]]:
        n = t.inbox.c
        query = select(n.body, n.body_size, n.body_sha256).order_by(n.id)
        rows = (await conn.execute(query)).all()
        return [(row.body, row.body_size, row.body_sha256) for row in rows]

    kept_forged, kept_genuine = await db.transaction(read)
    assert kept_forged == (
        forged[:REFUSED_PREFIX_BYTES],
        len(forged),
        hashlib.sha256(forged).hexdigest(),
    )
    assert kept_genuine == (genuine, len(genuine), hashlib.sha256(genuine).hexdigest())
