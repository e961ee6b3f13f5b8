"""Database access: the engine, and the one transaction helper every write goes through.

Design overview
---------------
* One URL setting picks the database. ``postgresql://…`` runs on asyncpg; ``sqlite:///…``
  runs on the standard ``sqlite3`` module through a small SQLAlchemy dialect that calls it on
  the event-loop thread (see docs/decisions/0002-sqlite-on-the-event-loop.md: a thread hop
  per statement cost ~100 µs here, more than the statement itself).
* SQLite: WAL, ``synchronous=FULL``, ``busy_timeout``, foreign keys on, and every
  transaction opens with ``BEGIN IMMEDIATE`` so the write lock is taken up front. One
  connection per process, held open and shared by turns (an asyncio lock), since SQLite has
  one writer anyway.
* PostgreSQL: a pool; a transaction that fails with a serialization failure or a deadlock
  is rolled back and the whole transaction function runs again (with jittered back-off), so
  the function must have no side effects outside the database.
* Nothing connects at import; ``Database`` is built by the composition root.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import structlog
from sqlalchemy import event, pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import await_

from simkeep.settings import Settings

T = TypeVar("T")
Dialect = Literal["sqlite", "postgresql"]
TransactionFn = Callable[[AsyncConnection], Awaitable[T]]

log = structlog.get_logger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


async def _already_done() -> None:
    return None


class _InLoopCursor(sqlite3.Cursor):
    """A sqlite3 cursor usable under SQLAlchemy's asyncio layer without a thread hop.

    SQLAlchemy's async engine requires each driver call to pass through ``await_``; awaiting
    an already-finished coroutine satisfies it at the cost of a greenlet switch.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> _InLoopCursor:
        await_(_already_done())
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _InLoopCursor:
        await_(_already_done())
        return super().executemany(sql, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        return None


class InLoopSQLiteConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _InLoopCursor) -> Any:
        return super().cursor(factory)


class InLoopSQLiteDialect(SQLiteDialect_pysqlite):
    """``sqlite+simkeep://``: the stdlib driver, called on the event loop, BEGIN IMMEDIATE."""

    driver = "simkeep"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool

    def do_begin(self, dbapi_connection: Any) -> None:
        dbapi_connection.execute("BEGIN IMMEDIATE")


registry.register("sqlite.simkeep", __name__, "InLoopSQLiteDialect")


def engine_url(database_url: str) -> URL:
    """Normalise a user-facing URL to the driver simkeep uses for it."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+simkeep")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def make_engine(settings: Settings) -> AsyncEngine:
    url = engine_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings.sqlite_busy_timeout_ms)
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_reset_on_return=None,  # every transaction ends in an explicit commit or rollback
    )


def _sqlite_engine(url: URL, busy_timeout_ms: int) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_reset_on_return=None,
        connect_args={"factory": InLoopSQLiteConnection, "check_same_thread": False},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # simkeep issues BEGIN itself
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
            "PRAGMA foreign_keys=ON",
        ):
            sqlite3.Connection.execute(dbapi_connection, pragma)

    return engine


def is_retryable(error: BaseException) -> bool:
    """A failure that a fresh run of the same transaction may not meet again."""
    if isinstance(error, DBAPIError):
        error = error.orig or error
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error)


class Database:
    """The engine plus the transaction helper; one per process."""

    def __init__(self, engine: AsyncEngine, *, retry_attempts: int = 10) -> None:
        self.engine = engine
        self.dialect: Dialect = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
        self.retry_attempts = retry_attempts
        self._sqlite_lock = asyncio.Lock()
        self._sqlite_conn: AsyncConnection | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(make_engine(settings), retry_attempts=settings.db_retry_attempts)

    async def transaction(self, fn: TransactionFn[T]) -> T:
        """Run ``fn(conn)`` in one transaction; rerun it whole on a retryable conflict."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._begin() as conn:
                    return await fn(conn)
            except Exception as error:
                if attempt >= self.retry_attempts or not is_retryable(error):
                    raise
                delay = min(0.2, 0.002 * 2**attempt) * random.random()  # noqa: S311
                log.debug("db.retry", attempt=attempt, delay=round(delay, 4), error=str(error))
                await asyncio.sleep(delay)

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        if self.dialect == "postgresql":
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with self._sqlite_lock:
            conn = await self._sqlite_connection()
            async with conn.begin():
                yield conn

    async def _sqlite_connection(self) -> AsyncConnection:
        if self._sqlite_conn is None or self._sqlite_conn.closed:
            self._sqlite_conn = await self.engine.connect()
        return self._sqlite_conn

    async def dispose(self) -> None:
        if self._sqlite_conn is not None:
            await self._sqlite_conn.close()
            self._sqlite_conn = None
        await self.engine.dispose()


async def driver_connection(conn: AsyncConnection) -> Any:
    """The driver's own connection under ``conn`` (inside the same transaction)."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection
