"""The ceiling for the top-up scenario: a bench-only ASGI endpoint, never part of the product.

Design overview
---------------
``POST /tpcb`` runs one pgbench TPC-B-shaped transaction per request — add a random delta to
one account (returning its balance), one teller and one branch, insert a history row — on the
bare driver: an asyncpg pool on PostgreSQL (as many connections per worker as the product's
``db_pool_size``), or one ``sqlite3`` connection per worker called on the event loop with the
product's pragmas (WAL, ``synchronous=FULL``, ``busy_timeout``) and ``BEGIN IMMEDIATE``.
It reads the same ``SIMKEEP_`` settings as the app and is served by the same uvicorn command
line, so the two differ only in what a request does. ``GET /healthz`` answers without the
database. Like pgbench, each request picks its account, teller and branch at random;
the tables have pgbench's shape at scale 64 (64 branches, 640 tellers) but 100,000 accounts:
more branches than clients, so no single row serialises the load, and every row in cache.
``create_tables`` makes and fills the tables before the server starts.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any

import asyncpg

from bench.targets import Target
from simkeep.settings import Settings, load_settings

BRANCHES, TELLERS, ACCOUNTS = 64, 640, 100_000

_TABLES = (
    "CREATE TABLE tpcb_branches (bid integer PRIMARY KEY, bbalance bigint NOT NULL)",
    "CREATE TABLE tpcb_tellers (tid integer PRIMARY KEY, bid integer NOT NULL,"
    " tbalance bigint NOT NULL)",
    "CREATE TABLE tpcb_accounts (aid integer PRIMARY KEY, bid integer NOT NULL,"
    " abalance bigint NOT NULL)",
    "CREATE TABLE tpcb_history (tid integer NOT NULL, bid integer NOT NULL, aid integer NOT NULL,"
    " delta integer NOT NULL, mtime {timestamp} NOT NULL)",
)
_FILL = (
    ("tpcb_branches", "{n}, 0", BRANCHES),
    ("tpcb_tellers", "{n}, ({n} - 1) % " + str(BRANCHES) + " + 1, 0", TELLERS),
    ("tpcb_accounts", "{n}, ({n} - 1) % " + str(BRANCHES) + " + 1, 0", ACCOUNTS),
)
_PG = (
    "UPDATE tpcb_accounts SET abalance = abalance + $1 WHERE aid = $2 RETURNING abalance",
    "UPDATE tpcb_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    "UPDATE tpcb_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    "INSERT INTO tpcb_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, now())",
)
_SQLITE = (
    "UPDATE tpcb_accounts SET abalance = abalance + ? WHERE aid = ? RETURNING abalance",
    "UPDATE tpcb_tellers SET tbalance = tbalance + ? WHERE tid = ?",
    "UPDATE tpcb_branches SET bbalance = bbalance + ? WHERE bid = ?",
    "INSERT INTO tpcb_history VALUES (?, ?, ?, ?, strftime('%Y-%m-%d %H:%M:%f', 'now'))",
)


async def create_tables(target: Target) -> None:
    """The four TPC-B tables, filled, in the benchmark database."""
    if target.name == "sqlite":
        conn = sqlite3.connect(target.sqlite_path, isolation_level=None)
        try:
            for ddl in _TABLES:
                conn.execute(ddl.format(timestamp="TEXT"))
            for table, values, count in _FILL:
                conn.execute(
                    f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)"
                    f" INSERT INTO {table} SELECT {values.format(n='n')} FROM g",
                    (count,),
                )
            conn.execute("ANALYZE")
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(target.url)
    try:
        for ddl in _TABLES:
            await pg.execute(ddl.format(timestamp="timestamptz"))
        for table, values, count in _FILL:
            await pg.execute(
                f"INSERT INTO {table} SELECT {values.format(n='g')}"
                f" FROM generate_series(1, {count}) g"
            )
        await pg.execute("VACUUM ANALYZE")
    finally:
        await pg.close()


class _Postgres:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: Any = None

    async def open(self) -> None:
        size = self.settings.db_pool_size
        self.pool = await asyncpg.create_pool(
            self.settings.database_url, min_size=size, max_size=size
        )

    async def transaction(self, *, aid: int, tid: int, bid: int, delta: int) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            balance = await conn.fetchval(_PG[0], delta, aid)
            await conn.execute(_PG[1], delta, tid)
            await conn.execute(_PG[2], delta, bid)
            await conn.execute(_PG[3], tid, bid, aid, delta)
        return int(balance)

    async def close(self) -> None:
        await self.pool.close()


class _Sqlite:
    def __init__(self, settings: Settings) -> None:
        path = settings.sqlite_path()
        assert path is not None
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            f"PRAGMA busy_timeout={settings.sqlite_busy_timeout_ms}",
            "PRAGMA foreign_keys=ON",
        ):
            self.conn.execute(pragma)

    async def open(self) -> None:
        return None

    async def transaction(self, *, aid: int, tid: int, bid: int, delta: int) -> int:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            balance = conn.execute(_SQLITE[0], (delta, aid)).fetchone()[0]
            conn.execute(_SQLITE[1], (delta, tid))
            conn.execute(_SQLITE[2], (delta, bid))
            conn.execute(_SQLITE[3], (tid, bid, aid, delta))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(balance)

    async def close(self) -> None:
        self.conn.close()


async def _respond(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class CeilingApp:
    """The ASGI application uvicorn serves (``bench.ceiling_app:app``)."""

    def __init__(self) -> None:
        self.database: _Postgres | _Sqlite | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["path"] == "/healthz":
            await _respond(send, 200, b"ok")
        elif scope["path"] == "/tpcb" and scope["method"] == "POST" and self.database:
            balance = await self.database.transaction(
                aid=random.randint(1, ACCOUNTS),
                tid=random.randint(1, TELLERS),
                bid=random.randint(1, BRANCHES),
                delta=random.randint(-5000, 5000),
            )
            await _respond(send, 200, str(balance).encode())
        else:
            await _respond(send, 404, b"not found")

    async def _lifespan(self, receive: Any, send: Any) -> None:
        settings = load_settings()
        database = _Sqlite(settings) if settings.is_sqlite else _Postgres(settings)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await database.open()
                self.database = database
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await database.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


app = CeilingApp()
