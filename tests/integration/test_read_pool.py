"""Reads off the primary, on a real streaming replica: a reader's own write is read back
even while the replica is behind (the primary answers), others read the replica; a replica
more than ``max_lag`` behind is dropped and taken back once it has caught up; a replica that
dies is dropped at once and its reads are answered by the primary."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.notifications import service as notifications
from simkeep.notifications.tables import outbox
from simkeep.replicas import ReadPool, Replica
from tests.replicated import Pair

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
MAX_LAG = 0.3


async def write(db: Database, text: str) -> None:
    await db.transaction(
        lambda conn: notifications.queue_sms(conn, to="+85291234567", text=text, now=NOW)
    )


async def count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())


async def in_pool(pool: ReadPool) -> ReadPool:
    for _ in range(100):
        await pool.watch_once()
        if pool.replicas[0].in_pool:
            return pool
        await asyncio.sleep(0.05)
    raise AssertionError("the replica was never taken into the pool")


async def test_a_readers_own_write_is_read_back_while_the_replica_is_behind(
    pair: Pair, primary_db: Database, replica_db: Database
) -> None:
    pool = await in_pool(ReadPool(primary_db, [Replica("r1", replica_db)], max_lag=60))
    await write(primary_db, "before")
    await pair.caught_up()
    await pair.pause()
    await write(primary_db, "mine")
    seen = await pool.written()
    assert seen is not None
    await pool.watch_once()
    assert pool.replicas[0].in_pool  # a write behind, well within max_lag: kept

    async def where(db: Database) -> tuple[bool, int]:
        return db is replica_db, await db.read(count)

    assert await pool.run(where, seen=seen) == (False, 2)  # the primary: the replica is behind
    assert await pool.run(where) == (True, 1)  # someone else: the replica, a write behind

    await pair.resume()
    await pair.caught_up()
    await pool.watch_once()
    assert await pool.run(where, seen=seen) == (True, 2)  # caught up: the replica again


async def test_a_replica_behind_is_dropped_and_taken_back(
    pair: Pair, primary_db: Database, replica_db: Database
) -> None:
    pool = await in_pool(ReadPool(primary_db, [Replica("r1", replica_db)], max_lag=MAX_LAG))
    await pair.pause()
    await write(primary_db, "one")
    await pool.watch_once()
    await asyncio.sleep(MAX_LAG + 0.1)
    await write(primary_db, "two")
    await pool.watch_once()
    assert not pool.replicas[0].in_pool  # behind what the primary had MAX_LAG ago

    async def where(db: Database) -> bool:
        return db is replica_db

    assert await pool.run(where) is False

    await pair.resume()
    await pair.caught_up()
    await pool.watch_once()
    assert pool.replicas[0].in_pool
    assert await pool.run(where) is True


async def test_a_dead_replica_is_dropped_and_the_primary_answers(
    pair: Pair, primary_db: Database, replica_db: Database
) -> None:
    pool = await in_pool(ReadPool(primary_db, [Replica("r1", replica_db)], max_lag=MAX_LAG))
    await write(primary_db, "one")
    await pair.caught_up()
    assert await pool.read(count) == 1  # warm: a connection to the replica is open
    await asyncio.to_thread(pair.replica.stop, "immediate")
    try:
        assert await pool.read(count) == 1  # the replica failed; the primary answered
        assert not pool.replicas[0].in_pool
        await pool.watch_once()  # a dead replica does not stop the watch
        assert not pool.replicas[0].in_pool
    finally:
        await asyncio.to_thread(pair.replica.start)
    await pair.caught_up()
    await in_pool(pool)


async def test_without_replicas_everything_reads_the_primary(primary_db: Database) -> None:
    pool = ReadPool(primary_db, [])
    await write(primary_db, "one")
    assert await pool.written() is None
    await pool.watch_once()
    assert await pool.read(count, seen=10**12) == 1
