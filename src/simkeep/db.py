"""Database access: the engine, and the one transaction helper every write goes through.

Design overview
---------------
* One URL setting picks the database. ``postgresql://…`` runs on asyncpg; ``sqlite:///…``
  runs on the standard ``sqlite3`` module through a small SQLAlchemy dialect that calls it on
  the event-loop thread (docs/decisions/0002-sqlite-on-the-event-loop.md: a thread hop per
  statement cost ~100 µs here, more than the statement itself).
* ``Database.transaction(fn)`` owns the transaction at the driver level: ``BEGIN`` (SQLite:
  ``BEGIN IMMEDIATE``, so the write lock is taken up front), ``fn(conn)``, then ``COMMIT`` or
  ``ROLLBACK``. SQLAlchemy runs in autocommit mode on top, so its statements join that
  transaction without adding round trips, and the ledger's hot path may use the driver
  connection directly (docs/decisions/0003-one-round-trip-journals.md). ``Database.read``
  runs a one-statement read with no transaction at all (no BEGIN/COMMIT round trips, no
  SQLite write lock): a session lookup on every request is one. ``Database.one_statement``
  does the same on PostgreSQL for a write made by one statement (a journal posted on its
  own: docs/decisions/0003-one-round-trip-journals.md). ``Database.schema_change`` is the
  transaction of a migration.
* SQLite: WAL, ``synchronous=FULL``, ``busy_timeout``, foreign keys on; one connection per
  process, shared by turns, since SQLite has one writer anyway.
* PostgreSQL: up to ``db_pool_size`` connections, opened on demand and then kept (a checkout
  is a queue get); a connection that breaks is dropped. One the server closed while it sat
  idle (a restart, a cut network) is dropped before use, or when its ``BEGIN`` fails, and
  the transaction runs on another: nothing of it had reached the server. A transaction that
  fails with a serialization failure or a deadlock is rolled back and the whole transaction
  function runs again (with jittered back-off), so the function must have no side effects
  outside the database. A cancelled transaction is not rolled back on its connection: the
  connection is dropped (the server rolls back), and the cancellation reaches the caller
  unchanged.
* Nothing connects at import; ``Database`` is built by the composition root.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncpg
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
    """``sqlite+simkeep://``: the stdlib driver, called on the event loop."""

    driver = "simkeep"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool

    # Database.transaction owns BEGIN / COMMIT / ROLLBACK on the driver connection;
    # SQLAlchemy's own calls (autobegin bookkeeping, Alembic) must not end it early.
    def do_begin(self, dbapi_connection: Any) -> None:
        return None

    def do_commit(self, dbapi_connection: Any) -> None:
        return None

    def do_rollback(self, dbapi_connection: Any) -> None:
        return None


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
        max_overflow=0,
        isolation_level="AUTOCOMMIT",  # Database.transaction issues BEGIN / COMMIT itself
        pool_reset_on_return=None,
    )


def _sqlite_engine(url: URL, busy_timeout_ms: int) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        pool_size=1,
        max_overflow=0,
        isolation_level="AUTOCOMMIT",
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


class StaleConnection(Exception):
    """A pooled connection found broken before its transaction began (the server went
    away while it sat idle): the transaction runs again on another connection."""


def is_retryable(error: BaseException) -> bool:
    """A failure that a fresh run of the same transaction may not meet again."""
    if isinstance(error, StaleConnection):
        return True
    if isinstance(error, DBAPIError):
        error = error.orig or error
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error)


class Database:
    """The engine plus the transaction helper; one per process."""

    def __init__(
        self, engine: AsyncEngine, *, retry_attempts: int = 10, pool_size: int = 10
    ) -> None:
        self.engine = engine
        self.dialect: Dialect = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
        self.retry_attempts = retry_attempts
        self.pool_size = 1 if self.dialect == "sqlite" else pool_size
        self._idle: list[AsyncConnection] = []
        self._slots = asyncio.Semaphore(self.pool_size)
        self._open: set[AsyncConnection] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            make_engine(settings),
            retry_attempts=settings.db_retry_attempts,
            pool_size=settings.db_pool_size,
        )

    async def transaction(self, fn: TransactionFn[T]) -> T:
        """Run ``fn(conn)`` in one transaction; rerun it whole on a retryable conflict."""
        return await self._retrying(fn, transactional=True)

    async def _retrying(self, fn: TransactionFn[T], *, transactional: bool) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots:
                    return await self._once(fn, transactional=transactional)
            except Exception as error:
                if attempt >= self.retry_attempts or not is_retryable(error):
                    raise
                delay = min(0.2, 0.002 * 2**attempt) * random.random()  # noqa: S311
                log.debug("db.retry", attempt=attempt, delay=round(delay, 4), error=str(error))
                await asyncio.sleep(delay)

    async def one_statement(self, fn: TransactionFn[T]) -> T:
        """Run ``fn(conn)``, which writes with one statement at most, in one round trip where
        the database allows: on PostgreSQL a statement outside a transaction block is a
        transaction of its own (its deferred checks included), so no BEGIN/COMMIT is sent;
        SQLite runs it as a transaction. Retried whole on a conflict, like ``transaction``."""
        if self.dialect == "sqlite":
            return await self.transaction(fn)
        return await self._retrying(fn, transactional=False)

    async def schema_change(self, fn: TransactionFn[T]) -> T:
        """Run ``fn(conn)``, a migration, in one transaction. On SQLite, foreign keys are
        checked once before the commit (``PRAGMA foreign_key_check``), not statement by
        statement: SQLite changes a column by rebuilding its table, which breaks the
        references to that table until the rebuilt one is in place (SQLite's own procedure,
        https://sqlite.org/lang_altertable.html#otheralter)."""
        if self.dialect == "postgresql":
            return await self.transaction(fn)

        async def checked_at_the_end(conn: AsyncConnection) -> T:
            result = await fn(conn)
            cursor = sqlite3.Cursor(await driver_connection(conn))
            broken = cursor.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise sqlite3.IntegrityError(f"the migration broke references: {broken[:5]}")
            return result

        async def unchecked(conn: AsyncConnection) -> T:
            driver = await driver_connection(conn)
            sqlite3.Cursor(driver).execute("PRAGMA foreign_keys=OFF")  # a no-op in a transaction
            try:
                return await _in_sqlite_transaction(driver, conn, checked_at_the_end)
            finally:
                sqlite3.Cursor(driver).execute("PRAGMA foreign_keys=ON")

        return await self.read(unchecked)

    async def read(self, fn: TransactionFn[T]) -> T:
        """Run ``fn(conn)`` outside a transaction, each statement seeing the latest commit:
        for a read of one statement (a session lookup), which then costs no BEGIN/COMMIT
        round trips and, on SQLite, does not queue for the write lock."""
        async with self._slots:
            return await self._once(fn, transactional=False)

    async def _once(self, fn: TransactionFn[T], *, transactional: bool) -> T:
        conn = await self._checkout()
        driver = await driver_connection(conn)
        try:
            if not transactional:
                result = await fn(conn)
            elif self.dialect == "postgresql":
                result = await _in_postgresql_transaction(driver, conn, fn)
            else:
                result = await _in_sqlite_transaction(driver, conn, fn)
            if conn.in_transaction():  # SQLAlchemy's own (autocommit) bookkeeping only
                await conn.commit()
        except Exception:
            if conn.invalidated or conn.closed or _unusable(driver):
                await self._discard(conn, terminate=True)
            else:
                if conn.in_transaction():
                    await conn.rollback()
                self._idle.append(conn)
            raise
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            await asyncio.shield(self._discard(conn, terminate=True))
            raise
        self._idle.append(conn)
        return result

    async def _checkout(self) -> AsyncConnection:
        """An idle connection that is still open (one the server closed while it was idle,
        as a restart does, is dropped), or a new one."""
        while self._idle:
            conn = self._idle.pop()
            if not _unusable(await driver_connection(conn)):
                return conn
            await self._discard(conn, terminate=True)  # not back to SQLAlchemy's pool
        return await self._connect()

    async def _discard(self, conn: AsyncConnection, *, terminate: bool = False) -> None:
        """Forget a connection; ``terminate`` invalidates it first, so that SQLAlchemy's pool
        does not hand it out again: for a broken connection, and for one left mid-statement
        by a cancellation (the running statement is cancelled at the server and the
        connection dropped, so the transaction's locks go with it)."""
        self._open.discard(conn)
        _drivers.pop(id(conn), None)
        if terminate:
            await conn.invalidate()
        await conn.close()

    async def _connect(self) -> AsyncConnection:
        conn = await self.engine.connect()
        self._open.add(conn)
        _drivers[id(conn)] = (await conn.get_raw_connection()).driver_connection
        return conn

    async def dispose(self) -> None:
        """Close every connection; the Database can be used again afterwards."""
        self._idle.clear()
        for conn in list(self._open):
            await self._discard(conn)
        await self.engine.dispose()


_drivers: dict[int, Any] = {}  # id(AsyncConnection) -> its driver connection, while open


async def driver_connection(conn: AsyncConnection) -> Any:
    """The driver's own connection under ``conn``: inside ``Database.transaction`` its
    statements are part of the same transaction."""
    driver = _drivers.get(id(conn))
    if driver is None:
        driver = (await conn.get_raw_connection()).driver_connection
    return driver


async def _in_postgresql_transaction(driver: Any, conn: AsyncConnection, fn: TransactionFn[T]) -> T:
    """BEGIN, ``fn``, COMMIT, or ROLLBACK after an error. Not asyncpg's ``transaction()``
    block: when a statement is cancelled, SQLAlchemy closes the connection, and that block's
    exit would raise ``InterfaceError`` in place of the ``CancelledError`` — which a caller
    such as the worker loop takes for an ordinary failure, and carries on."""
    try:
        await driver.execute("BEGIN")
    except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as error:
        raise StaleConnection(str(error)) from error  # nothing was sent: safe to run again
    try:
        result = await fn(conn)
    except Exception:
        if not _unusable(driver):
            await driver.execute("ROLLBACK")
        raise
    await driver.execute("COMMIT")
    return result


async def _in_sqlite_transaction(
    driver: sqlite3.Connection, conn: AsyncConnection, fn: TransactionFn[T]
) -> T:
    cursor = sqlite3.Cursor(driver)
    cursor.execute("BEGIN IMMEDIATE")
    try:
        result = await fn(conn)
        cursor.execute("COMMIT")
    except BaseException:
        if driver.in_transaction:  # also when COMMIT itself failed
            cursor.execute("ROLLBACK")
        raise
    return result


def _unusable(driver: Any) -> bool:
    is_closed = getattr(driver, "is_closed", None)
    return bool(is_closed()) if callable(is_closed) else False
