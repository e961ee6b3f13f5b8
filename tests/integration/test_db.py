"""The transaction helper: SQLite's locking and durability, PostgreSQL's retries."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.settings import load_settings


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
