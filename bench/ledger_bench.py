"""Ledger benchmarks: the service beside a naive raw-SQL loop of the same shape.

* ``post_rate``: journals per second, one process, one connection at a time — the ledger
  (``ledger.service.post_journal_alone``, and ``post_journal`` inside ``db.transaction``)
  against a raw loop on the same
  database doing the naive five statements: update two balances, insert a journal and two
  postings. Each journal credits a different SIM from the hot Alipay clearing account.
* ``hot_account``: 16 concurrent clients (4 processes × 4 connections) on PostgreSQL where
  every journal debits the same clearing account; raw loop: the same, on one shared row.
(``bench.history_bench`` measures balance reads against the length of the history.)
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Protocol

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.targets import Target
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.model import Posting
from simkeep.money import Money
from simkeep.settings import load_settings

SIMS = 1_000

RAW_SCHEMA = (
    "CREATE TABLE raw_balances (id bigint PRIMARY KEY, balance bigint NOT NULL)",
    "CREATE TABLE raw_journals (id {serial} PRIMARY KEY, client_id varchar(128) NOT NULL UNIQUE,"
    " created_at {timestamp} NOT NULL)",
    "CREATE TABLE raw_postings (id {serial} PRIMARY KEY, journal_id bigint NOT NULL,"
    " account_id bigint NOT NULL, amount bigint NOT NULL)",
    "CREATE INDEX raw_postings_account ON raw_postings (account_id, id)",
    "CREATE INDEX raw_postings_journal ON raw_postings (journal_id)",
)


@dataclass(frozen=True)
class Rate:
    journals: int
    seconds: float
    latencies_ms: tuple[float, ...] = ()

    @property
    def per_second(self) -> float:
        return self.journals / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def open_sims(target: Target) -> tuple[int, list[int]]:
    """The Alipay clearing account id and SIMS SIM accounts, in the ledger and the raw tables."""
    db = Database.from_settings(load_settings(database_url=target.url))
    now = SystemClock().now()

    async def work(conn: AsyncConnection) -> tuple[int, list[int]]:
        clearing = await ledger.get_account_by_code(
            conn, code=chart.provider_clearing_code("alipay", "HKD")
        )
        assert clearing is not None
        sims = [
            (await ledger.open_account(conn, spec=chart.sim_balance(n, "HKD"), now=now)).id
            for n in range(SIMS)
        ]
        return clearing.id, sims

    try:
        ids = await db.transaction(work)
    finally:
        await db.dispose()
    await _raw_schema(target, [ids[0], *ids[1]])
    await analyze(target)
    return ids


async def analyze(target: Target) -> None:
    """Fresh statistics, as autovacuum would have them on a live database."""
    if target.name == "sqlite":
        conn = sqlite3.connect(target.sqlite_path, isolation_level=None)
        conn.execute("ANALYZE")
        conn.close()
        return
    pg = await asyncpg.connect(target.url)
    try:
        await pg.execute("ANALYZE")
    finally:
        await pg.close()


async def _raw_schema(target: Target, account_ids: list[int]) -> None:
    rows = [(account_id, 0) for account_id in account_ids]
    if target.name == "sqlite":
        conn = sqlite3.connect(target.sqlite_path, isolation_level=None)
        for ddl in RAW_SCHEMA:
            conn.execute(ddl.format(serial="INTEGER", timestamp="TEXT"))
        conn.executemany("INSERT INTO raw_balances VALUES (?, ?)", rows)
        conn.close()
        return
    pg = await asyncpg.connect(target.url)
    try:
        for ddl in RAW_SCHEMA:
            await pg.execute(ddl.format(serial="bigserial", timestamp="timestamptz"))
        await pg.executemany("INSERT INTO raw_balances VALUES ($1, $2)", rows)
    finally:
        await pg.close()


class Loop(Protocol):
    """One way of posting journals, kept open across blocks: ``block`` posts ``count``."""

    async def block(self, start: int, count: int) -> None: ...

    async def close(self) -> None: ...


class LedgerLoop:
    """The product: ``ledger.service.post_journal`` inside ``db.transaction``, as when a
    journal goes with other changes."""

    def __init__(self, target: Target, clearing: int, sims: list[int], tag: str) -> None:
        self.db = Database.from_settings(load_settings(database_url=target.url))
        self.clearing, self.sims, self.tag = clearing, sims, tag
        self.clock = SystemClock()
        self.amount = Money(100, "HKD")

    async def block(self, start: int, count: int) -> None:
        for i in range(start, start + count):
            postings = rules.provider_topup(
                clearing=self.clearing,
                sim_balance=self.sims[i % len(self.sims)],
                amount=self.amount,
            )

            async def post(
                conn: AsyncConnection, i: int = i, postings: tuple[Posting, ...] = postings
            ) -> None:
                await ledger.post_journal(
                    conn, client_id=f"{self.tag}:{i}", postings=postings, now=self.clock.now()
                )

            await self.db.transaction(post)

    async def close(self) -> None:
        await self.db.dispose()


class LedgerAloneLoop(LedgerLoop):
    """The product: ``ledger.service.post_journal_alone``, a journal on its own (on
    PostgreSQL one statement, its own transaction: one round trip)."""

    async def block(self, start: int, count: int) -> None:
        for i in range(start, start + count):
            postings = rules.provider_topup(
                clearing=self.clearing,
                sim_balance=self.sims[i % len(self.sims)],
                amount=self.amount,
            )
            await ledger.post_journal_alone(
                self.db, client_id=f"{self.tag}:{i}", postings=postings, now=self.clock.now()
            )


class StackRawLoop:
    """The naive five statements through the same ``db.transaction`` and connection."""

    def __init__(self, target: Target, shared: int, sims: list[int], tag: str) -> None:
        self.db = Database.from_settings(load_settings(database_url=target.url))
        self.shared, self.sims, self.tag = shared, sims, tag
        self.sqlite = target.name == "sqlite"
        p1, p2, p3 = ("?", "?", "?") if self.sqlite else ("$1", "$2", "$3")
        self.update = f"UPDATE raw_balances SET balance = balance + 100 WHERE id = {p1}"
        self.journal = (
            f"INSERT INTO raw_journals (client_id, created_at) VALUES ({p1}, {p2}) RETURNING id"
        )
        self.posting = (
            f"INSERT INTO raw_postings (journal_id, account_id, amount) VALUES ({p1}, {p2}, {p3})"
        )
        self.clock = SystemClock()

    async def block(self, start: int, count: int) -> None:
        for i in range(start, start + count):
            sim = self.sims[i % len(self.sims)]

            async def five(conn: AsyncConnection, i: int = i, sim: int = sim) -> None:
                now = self.clock.now()
                await conn.exec_driver_sql(self.update, (self.shared,))
                await conn.exec_driver_sql(self.update, (sim,))
                params = (f"{self.tag}:{i}", now.isoformat() if self.sqlite else now)
                result = await conn.exec_driver_sql(self.journal, params)
                journal = result.scalar_one()
                await conn.exec_driver_sql(self.posting, (journal, self.shared, 100))
                await conn.exec_driver_sql(self.posting, (journal, sim, -100))

            await self.db.transaction(five)

    async def close(self) -> None:
        await self.db.dispose()


class SqliteDriverLoop:
    """The naive five statements on the bare ``sqlite3`` module."""

    def __init__(self, target: Target, shared: int, sims: list[int], tag: str) -> None:
        self.conn = sqlite3.connect(target.sqlite_path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.shared, self.sims, self.tag = shared, sims, tag
        self.clock = SystemClock()

    async def block(self, start: int, count: int) -> None:
        conn, shared = self.conn, self.shared
        for i in range(start, start + count):
            sim = self.sims[i % len(self.sims)]
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE raw_balances SET balance = balance + 100 WHERE id = ?", (shared,))
            conn.execute("UPDATE raw_balances SET balance = balance + 100 WHERE id = ?", (sim,))
            journal = conn.execute(
                "INSERT INTO raw_journals (client_id, created_at) VALUES (?, ?)",
                (f"{self.tag}:{i}", self.clock.now().isoformat()),
            ).lastrowid
            conn.execute(
                "INSERT INTO raw_postings (journal_id, account_id, amount) VALUES (?, ?, 100)",
                (journal, shared),
            )
            conn.execute(
                "INSERT INTO raw_postings (journal_id, account_id, amount) VALUES (?, ?, -100)",
                (journal, sim),
            )
            conn.execute("COMMIT")

    async def close(self) -> None:
        self.conn.close()


class PgDriverLoop:
    """The naive five statements on the bare asyncpg connection."""

    def __init__(self, target: Target, shared: int, sims: list[int], tag: str) -> None:
        self.url, self.shared, self.sims, self.tag = target.url, shared, sims, tag
        self.conn: asyncpg.Connection | None = None

    async def block(self, start: int, count: int) -> None:
        if self.conn is None:
            self.conn = await asyncpg.connect(self.url)
        for i in range(start, start + count):
            sim = self.sims[i % len(self.sims)]
            await pg_raw_transaction(self.conn, self.shared, sim, f"{self.tag}:{i}")

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


async def pg_raw_transaction(pg: asyncpg.Connection, shared: int, sim: int, client_id: str) -> None:
    async with pg.transaction():
        await pg.execute("UPDATE raw_balances SET balance = balance + 100 WHERE id = $1", shared)
        await pg.execute("UPDATE raw_balances SET balance = balance + 100 WHERE id = $1", sim)
        journal = await pg.fetchval(
            "INSERT INTO raw_journals (client_id, created_at) VALUES ($1, now()) RETURNING id",
            client_id,
        )
        await pg.execute(
            "INSERT INTO raw_postings (journal_id, account_id, amount) VALUES ($1, $2, 100)",
            journal,
            shared,
        )
        await pg.execute(
            "INSERT INTO raw_postings (journal_id, account_id, amount) VALUES ($1, $2, -100)",
            journal,
            sim,
        )


@dataclass(frozen=True)
class PostRates:
    alone: Rate
    ledger: Rate
    stack_raw: Rate
    driver_raw: Rate


async def post_rate(target: Target, n: int, block: int = 100) -> PostRates:
    """Single-process rates of the three loops, run in interleaved blocks of ``block``
    journals (rotating which goes first) so that a noisy neighbour slows all of them alike."""
    clearing, sims = await open_sims(target)
    driver: type[SqliteDriverLoop | PgDriverLoop] = (
        SqliteDriverLoop if target.name == "sqlite" else PgDriverLoop
    )
    loops: list[Loop] = [
        LedgerAloneLoop(target, clearing, sims, "alone"),
        LedgerLoop(target, clearing, sims, "ledger"),
        StackRawLoop(target, clearing, sims, "stack"),
        driver(target, clearing, sims, "driver"),
    ]
    spent = [0.0] * len(loops)
    try:
        for loop in loops:  # warm-up: connections, prepared statements, plans
            await loop.block(-block, block)
        for start in range(0, n, block):
            order = [(start // block + k) % len(loops) for k in range(len(loops))]
            for index in order:
                began = time.perf_counter()
                await loops[index].block(start, block)
                spent[index] += time.perf_counter() - began
    finally:
        for loop in loops:
            await loop.close()
    return PostRates(*(Rate(n, seconds) for seconds in spent))


# --- 16 concurrent clients on one hot account (PostgreSQL) -------------------------------


async def _client_loop(
    deadline: float, once: Callable[[int], Awaitable[None]], latencies: list[float]
) -> int:
    done = 0
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        await once(done)
        latencies.append((time.perf_counter() - start) * 1000)
        done += 1
    return done


async def _hot_worker(
    mode: str, url: str, worker: int, clients: int, seconds: float, clearing: int, sims: list[int]
) -> tuple[int, list[float]]:
    latencies: list[float] = []
    rng = random.Random(worker)
    deadline = time.perf_counter() + seconds
    if mode == "ledger":
        db = Database.from_settings(load_settings(database_url=url, db_pool_size=clients))
        clock = SystemClock()
        amount = Money(100, "HKD")

        def make(client: int) -> Callable[[int], Awaitable[None]]:
            async def once(i: int) -> None:
                postings = rules.provider_topup(
                    clearing=clearing, sim_balance=rng.choice(sims), amount=amount
                )

                async def post(conn: AsyncConnection) -> None:
                    await ledger.post_journal(
                        conn,
                        client_id=f"hot:{worker}:{client}:{i}",
                        postings=postings,
                        now=clock.now(),
                    )

                await db.transaction(post)

            return once

        try:
            counts = await asyncio.gather(
                *[_client_loop(deadline, make(c), latencies) for c in range(clients)]
            )
        finally:
            await db.dispose()
        return sum(counts), latencies
    conns = [await asyncpg.connect(url) for _ in range(clients)]

    def make_raw(client: int) -> Callable[[int], Awaitable[None]]:
        async def once(i: int) -> None:
            await pg_raw_transaction(
                conns[client], clearing, rng.choice(sims), f"hotraw:{worker}:{client}:{i}"
            )

        return once

    try:
        counts = await asyncio.gather(
            *[_client_loop(deadline, make_raw(c), latencies) for c in range(clients)]
        )
    finally:
        for conn in conns:
            await conn.close()
    return sum(counts), latencies


def _hot_process(
    mode: str, url: str, worker: int, clients: int, seconds: float, clearing: int, sims: list[int]
) -> tuple[int, list[float]]:
    return asyncio.run(_hot_worker(mode, url, worker, clients, seconds, clearing, sims))


async def hot_account(
    target: Target, *, processes: int = 4, clients: int = 4, seconds: float = 10.0
) -> tuple[Rate, Rate]:
    """(ledger, raw) with processes × clients concurrent clients for ``seconds`` each."""
    clearing, sims = await open_sims(target)
    loop = asyncio.get_running_loop()
    results: dict[str, Rate] = {}
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        for mode in ("ledger", "raw"):
            outcome = await asyncio.gather(
                *[
                    loop.run_in_executor(
                        pool, _hot_process, mode, target.url, w, clients, seconds, clearing, sims
                    )
                    for w in range(processes)
                ]
            )
            latencies = tuple(ms for _, worker_ms in outcome for ms in worker_ms)
            results[mode] = Rate(sum(count for count, _ in outcome), seconds, latencies)
    return results["ledger"], results["raw"]
