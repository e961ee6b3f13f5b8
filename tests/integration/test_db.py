"""The transaction helper: SQLite's locking and durability, PostgreSQL's retries, and what a
cancelled transaction leaves behind (nothing: no lock, no write, no lost connection slot)."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database, driver_connection
from simkeep.jobs.loop import run_forever
from simkeep.settings import load_settings

SETTLE = 60  # seconds: only a hang comes near it
SLEEP = "SELECT pg_sleep(600)"


class FakeConflict(Exception):
    """What a driver raises for a serialization failure (SQLSTATE 40001)."""

    sqlstate = "40001"


async def test_a_conflicting_transaction_reruns_whole(db: Database) -> None:
    attempts = 0

    async def flaky(conn: AsyncConnection) -> int:
        nonlocal attempts
        attempts += 1
        await conn.execute(text("SELECT 1"))
        if attempts < 3:
            raise FakeConflict("could not serialize access")
        return attempts

    assert await db.transaction(flaky) == 3


async def test_other_errors_are_not_retried(db: Database) -> None:
    attempts = 0

    async def broken(conn: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await db.transaction(broken)
    assert attempts == 1


async def test_retries_end(db: Database) -> None:
    db.retry_attempts = 3

    async def always(conn: AsyncConnection) -> None:
        raise FakeConflict("again")

    with pytest.raises(FakeConflict):
        await db.transaction(always)


async def test_sqlite_runs_wal_full_sync_and_begin_immediate(
    sqlite_template: object, tmp_path: object
) -> None:
    path = f"{tmp_path}/locks.db"
    db = Database.from_settings(load_settings(database_url=f"sqlite:///{path}"))
    try:

        async def inspect(conn: AsyncConnection) -> tuple[str, int, int, int]:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            sync = (await conn.execute(text("PRAGMA synchronous"))).scalar()
            timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:  # a transaction that has only read still holds the write lock
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
            return mode, sync, timeout, fks  # type: ignore[return-value]

        assert await db.transaction(inspect) == ("wal", 2, 5000, 1)
    finally:
        await db.dispose()


async def test_a_real_postgresql_deadlock_is_retried(postgres_url: str) -> None:
    db = Database.from_settings(load_settings(database_url=postgres_url))
    first_locked, second_locked = asyncio.Event(), asyncio.Event()
    attempts = {"a": 0, "b": 0}

    async def setup(conn: AsyncConnection) -> None:
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY, n int)")
        )
        await conn.execute(text("TRUNCATE deadlock_probe"))
        await conn.execute(text("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)"))

    def crosswise(name: str, mine: int, theirs: int, locked: asyncio.Event, wait: asyncio.Event):  # type: ignore[no-untyped-def]
        async def run(conn: AsyncConnection) -> None:
            attempts[name] += 1
            await conn.execute(
                text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :i"), {"i": mine}
            )
            locked.set()
            await wait.wait()
            await conn.execute(
                text("UPDATE deadlock_probe SET n = n + 1 WHERE id = :i"), {"i": theirs}
            )

        return run

    async def total(conn: AsyncConnection) -> int:
        return int((await conn.execute(text("SELECT sum(n) FROM deadlock_probe"))).scalar_one())

    try:
        await db.transaction(setup)
        await asyncio.gather(
            db.transaction(crosswise("a", 1, 2, first_locked, second_locked)),
            db.transaction(crosswise("b", 2, 1, second_locked, first_locked)),
        )
        assert await db.transaction(total) == 4  # both transactions committed, once each
        assert attempts["a"] + attempts["b"] == 3  # exactly one of them ran twice
    finally:
        await db.transaction(lambda conn: conn.execute(text("DROP TABLE deadlock_probe")))
        await db.dispose()


async def make_probe(db: Database) -> None:
    async def create(conn: AsyncConnection) -> None:
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS cancel_probe (id int PRIMARY KEY, n int)")
        )
        await conn.execute(text("DELETE FROM cancel_probe"))
        await conn.execute(text("INSERT INTO cancel_probe VALUES (1, 0)"))

    await db.transaction(create)


async def drop_probe(db: Database) -> None:
    await db.transaction(lambda conn: conn.execute(text("DROP TABLE cancel_probe")))


async def write_probe(conn: AsyncConnection) -> None:
    await conn.execute(text("UPDATE cancel_probe SET n = n + 1 WHERE id = 1"))


async def cancel_and_settle(task: asyncio.Task[object]) -> str:
    """Cancel once, wait for the task to end, and say how it ended."""
    task.cancel()
    await asyncio.wait({task}, timeout=SETTLE)
    if not task.done():
        return "still running"
    if task.cancelled():
        return "cancelled"
    return repr(task.exception())


async def statement_running(db: Database, sql: str) -> None:
    async def count(conn: AsyncConnection) -> int:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = :q")
        return int((await conn.execute(query, {"q": sql})).scalar_one())

    while True:  # the server is the only one who knows when the statement has begun
        if await db.transaction(count):
            return
        await asyncio.sleep(0.01)


async def nothing_is_left_behind(db: Database) -> None:
    """The cancelled write is gone, its row lock released, and every pool slot serves again."""
    meeting = asyncio.Barrier(db.pool_size)

    async def meet(conn: AsyncConnection) -> None:
        await conn.execute(text("SELECT 1"))
        await meeting.wait()

    async def write_and_read(conn: AsyncConnection) -> int:
        await write_probe(conn)
        return int((await conn.execute(text("SELECT n FROM cancel_probe"))).scalar_one())

    await asyncio.wait_for(
        asyncio.gather(*(db.transaction(meet) for _ in range(db.pool_size))), SETTLE
    )
    assert await asyncio.wait_for(db.transaction(write_and_read), SETTLE) == 1


async def test_a_transaction_cancelled_while_it_waits_ends_cancelled(db: Database) -> None:
    await make_probe(db)
    inside = asyncio.Event()

    async def waits(conn: AsyncConnection) -> None:
        await write_probe(conn)
        inside.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(db.transaction(waits))
    await inside.wait()
    try:
        assert await cancel_and_settle(task) == "cancelled"
        await nothing_is_left_behind(db)
    finally:
        await drop_probe(db)


@pytest.mark.parametrize("through", ["sqlalchemy", "driver"])
async def test_a_postgresql_statement_cancelled_midway_ends_cancelled(
    postgres_url: str, through: str
) -> None:
    db = Database.from_settings(load_settings(database_url=postgres_url))

    async def sleeps(conn: AsyncConnection) -> None:
        await write_probe(conn)
        if through == "sqlalchemy":
            await conn.execute(text(SLEEP))
        else:
            await (await driver_connection(conn)).execute(SLEEP)

    try:
        await make_probe(db)
        task = asyncio.create_task(db.transaction(sleeps))
        await asyncio.wait_for(statement_running(db, SLEEP), SETTLE)
        assert await cancel_and_settle(task) == "cancelled"
        await nothing_is_left_behind(db)
    finally:
        await drop_probe(db)
        await db.dispose()


async def test_the_worker_loop_stops_when_cancelled_inside_a_statement(
    postgres_url: str, clock: FixedClock
) -> None:
    db = Database.from_settings(load_settings(database_url=postgres_url))
    rounds = 0

    async def sleepy(now: object) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            await db.transaction(lambda conn: conn.execute(text(SLEEP)))

    loop = asyncio.create_task(run_forever({"sleepy": sleepy}, clock=clock))
    try:
        await asyncio.wait_for(statement_running(db, SLEEP), SETTLE)
        assert await cancel_and_settle(loop) == "cancelled"
        assert rounds == 1  # it did not log the cancellation as a failed job and go round again
    finally:
        loop.cancel()
        await asyncio.wait({loop}, timeout=SETTLE)
        await db.dispose()


async def test_a_read_sees_the_latest_commit_without_holding_a_transaction(db: Database) -> None:
    async def write(conn: AsyncConnection) -> None:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS t_read (v INTEGER)"))
        await conn.execute(text("INSERT INTO t_read VALUES (7)"))

    async def read(conn: AsyncConnection) -> tuple[int, bool]:
        value = (await conn.execute(text("SELECT max(v) FROM t_read"))).scalar_one()
        driver = await driver_connection(conn)
        held = driver.in_transaction if db.dialect == "sqlite" else driver.is_in_transaction()
        return int(value), bool(held)

    await db.transaction(write)
    assert await db.read(read) == (7, False)
    await db.transaction(lambda conn: conn.execute(text("INSERT INTO t_read VALUES (9)")))
    assert await db.read(read) == (9, False)
    await db.transaction(lambda conn: conn.execute(text("DROP TABLE t_read")))


async def test_pooled_connections_the_server_closed_are_not_a_failure(postgres_url: str) -> None:
    """A restart ends every connection in the pool while it sits idle: the next
    transactions run on fresh connections instead of failing once per dead connection."""
    db = Database.from_settings(load_settings(database_url=postgres_url, db_pool_size=3))
    try:

        async def backend(conn: AsyncConnection) -> int:
            await asyncio.sleep(0.05)  # three at once: three connections in the pool
            return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

        pids = await asyncio.gather(*(db.transaction(backend) for _ in range(3)))
        assert len(set(pids)) == 3
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", pids)
        finally:
            await admin.close()
        await asyncio.sleep(0.2)

        after = [await db.transaction(backend) for _ in range(4)]

        assert not set(after) & set(pids)
    finally:
        await db.dispose()
