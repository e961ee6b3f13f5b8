"""Balance reads against the length of the history: the time to read an account's balance
and its newest history page (20 lines) with 10 thousand, 100 thousand and a million
postings, loaded in bulk beforehand (straight into the tables, as a long history would be)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.targets import Target
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.settings import load_settings

# ``$5`` months: journal g is dated g months back (modulo $5), so the history spreads over
# that many of the books' monthly partitions; every journal with its key, as the writer's.
_PG_LOAD = """
WITH j AS (
    INSERT INTO ledger_journals (client_id, content_hash, kind, posting_count, created_at)
    SELECT 'load:' || $1 || ':' || g, 'x', 'standard', 2,
           now() - make_interval(months => (g % $5)::int)
    FROM generate_series(1, $2) g
    RETURNING id, client_id, created_at
), k AS (
    INSERT INTO ledger_journal_keys (client_id, journal_id, created_at)
    SELECT client_id, id, created_at FROM j
)
INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount, created_at)
SELECT j.id, a.account_id, 'HKD', 0, a.amount, j.created_at FROM j
CROSS JOIN (VALUES ($3::bigint, 1::bigint), ($4::bigint, -1::bigint)) AS a(account_id, amount)
"""

_SQLITE_LOAD_JOURNALS = """
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
INSERT INTO ledger_journals (client_id, content_hash, kind, posting_count, created_at)
SELECT 'load:' || ? || ':' || n, 'x', 'standard', 2, '2026-01-01 00:00:00.000000' FROM g
"""

_SQLITE_LOAD_POSTINGS = """
INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount, created_at)
SELECT j.id, a.column1, 'HKD', 0, a.column2, j.created_at FROM ledger_journals j
CROSS JOIN (VALUES (?, 1), (?, -1)) AS a
WHERE j.client_id LIKE 'load:' || ? || ':%'
"""


async def history_account(target: Target, size: int, *, months: int = 1) -> int:
    """An account with ``size`` postings (bulk-loaded; on PostgreSQL spread over ``months``
    months up to this one), its balance row kept true."""
    db = Database.from_settings(load_settings(database_url=target.url))
    now = SystemClock().now()

    async def accounts(conn: AsyncConnection) -> tuple[int, int]:
        a = await ledger.open_account(conn, spec=chart.agent_commission(f"h{size}", "HKD"), now=now)
        b = await ledger.open_account(conn, spec=chart.agent_commission(f"g{size}", "HKD"), now=now)
        return a.id, b.id

    try:
        a, b = await db.transaction(accounts)
    finally:
        await db.dispose()
    if target.name == "sqlite":
        conn = sqlite3.connect(target.sqlite_path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_SQLITE_LOAD_JOURNALS, (size, size))
        conn.execute(_SQLITE_LOAD_POSTINGS, (a, b, size))
        conn.execute("UPDATE ledger_balances SET balance = ? WHERE account_id = ?", (-size, a))
        conn.execute("UPDATE ledger_balances SET balance = ? WHERE account_id = ?", (size, b))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.close()
        return a
    pg = await asyncpg.connect(target.url)
    try:
        async with pg.transaction():
            await pg.execute("SET LOCAL session_replication_role = replica")
            await pg.execute(_PG_LOAD, str(size), size, a, b, months)
            await pg.execute(
                "UPDATE ledger_balances SET balance = $1 WHERE account_id = $2", -size, a
            )
            await pg.execute(
                "UPDATE ledger_balances SET balance = $1 WHERE account_id = $2", size, b
            )
        await pg.execute("ANALYZE")
    finally:
        await pg.close()
    return a


@dataclass(frozen=True)
class ReadCost:
    postings: int
    balance_us: float
    history_us: float


async def balance_read(
    target: Target, sizes: tuple[int, ...], reads: int = 300, *, months: int = 1
) -> list[ReadCost]:
    """Mean cost of ``get_balance`` and of the newest history page, per history length."""
    costs = []
    for size in sizes:
        account = await history_account(target, size, months=months)
        db = Database.from_settings(load_settings(database_url=target.url))

        async def measure(
            conn: AsyncConnection, account: int = account, size: int = size
        ) -> tuple[float, float]:
            balance = await ledger.get_balance(conn, account_id=account)
            assert balance.posted == -size
            start = time.perf_counter()
            for _ in range(reads):
                await ledger.get_balance(conn, account_id=account)
            middle = time.perf_counter()
            for _ in range(reads):
                await ledger.history(conn, account_id=account, limit=20)
            end = time.perf_counter()
            return (middle - start) / reads * 1e6, (end - middle) / reads * 1e6

        try:
            balance_us, history_us = await db.transaction(measure)
        finally:
            await db.dispose()
        costs.append(ReadCost(size, balance_us, history_us))
    return costs
