"""Usage charging: records charged per second in batches of 100, through the service.

``measure`` seeds a fresh database with ``SIMS`` SIMs through the services (a quarter on
each default plan, with the default rates), each topped up by a journal, each with a
30-minute voice bucket valid in any zone and every fourth with HK$/¥5 of bonus money (a
money bucket and its promotion journal), and one network client. It then times
``usage.service.charge_batch`` — the whole use case the endpoint calls: each record checked,
the SIMs locked, the records inserted once, rated, paid from buckets, bonus and balance,
booked in journals, written back — on batches of 100 new records over random SIMs (kinds
and zones mixed, 1–10 units each), ``concurrency`` streams of batches in flight at once in
one process, each stream over its own share of the SIMs — as batches over a real SIM base
(millions) rarely name the same SIM, where over a few thousand they would queue on each
other's SIM rows all the time — after a warm-up (then ``ANALYZE``, as autovacuum would).
Afterwards it checks that every record was stored once and the books balance
(``ledger.check_books``).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.ledger_bench import analyze
from bench.targets import Target, drop, fresh
from simkeep.buckets import tables as bt
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.settings import load_settings
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, digest_key, luhn_complete
from simkeep.usage import clients, rates
from simkeep.usage import service as usage
from simkeep.usage import tables as ut

SIMS = 2_000
BATCH = 100
WARM_UP = 20  # batches
KINDS = (("voice", 10), ("data", 10), ("sms", 3))


@dataclass(frozen=True)
class UsageRate:
    records: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def per_second(self) -> float:
        return self.records / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def measure(target: Target, *, records: int, concurrency: int) -> UsageRate:
    """Charge ``records`` new records in batches of ``BATCH``, ``concurrency`` at once."""
    settings = load_settings(database_url=target.url, db_pool_size=max(concurrency, 2))
    db = Database.from_settings(settings)
    try:
        numbers, client_id = await _seed(db)
        rng = random.Random(7)
        for n in range(WARM_UP):
            batch = _batch(rng, numbers, f"w{n}")
            await usage.charge_batch(db, client_id=client_id, records=batch, now=_now())
        await analyze(target)  # with records in the table, as autovacuum would have it
        streams = [
            [_batch(rng, numbers[k::concurrency], f"{k}-{n}") for n in range(per_stream)]
            for k in range(concurrency)
            for per_stream in [records // BATCH // concurrency]
        ]
        latencies: list[float] = []

        async def stream(batches: list[list[dict[str, Any]]]) -> None:
            for batch in batches:
                started = time.perf_counter()
                await usage.charge_batch(db, client_id=client_id, records=batch, now=_now())
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(stream(batches) for batches in streams))
        seconds = time.perf_counter() - started
        charged = sum(len(batches) for batches in streams) * BATCH
        await _check(db, WARM_UP * BATCH + charged)
    finally:
        await db.dispose()
    return UsageRate(charged, seconds, tuple(latencies))


def _now() -> datetime:
    return SystemClock().now()


def _batch(rng: random.Random, numbers: list[str], n: str) -> list[dict[str, Any]]:
    at = (_now() - timedelta(minutes=5)).isoformat()
    batch = []
    for i in range(BATCH):
        kind, most = rng.choice(KINDS)
        batch.append(
            {
                "id": f"bench-{n}-{i}",
                "number": rng.choice(numbers),
                "kind": kind,
                "zone": rng.choice(("hk", "mainland")),
                "quantity": rng.randint(1, most),
                "occurred_at": at,
            }
        )
    return batch


async def _seed(db: Database) -> tuple[list[str], int]:
    """``SIMS`` SIMs with balances, buckets and bonus money; a network client."""
    now = _now()

    async def plans(conn: AsyncConnection) -> None:
        await sims.ensure_plans(conn)
        await rates.ensure_rates(conn)

    await db.transaction(plans)
    numbers: list[str] = []
    for start in range(0, SIMS, 200):
        numbers += await db.transaction(
            lambda conn, start=start: _issue(conn, range(start, min(start + 200, SIMS)), now)  # type: ignore[misc]
        )
    client, _ = await clients.add_client(db, name="bench", now=now)
    return numbers, client.id


async def _issue(conn: AsyncConnection, ns: range, now: datetime) -> list[str]:
    numbers = []
    for n in ns:
        plan = sims.DEFAULT_PLANS[n % len(sims.DEFAULT_PLANS)]
        sim = await sims.issue_sim(
            conn,
            iccid=luhn_complete(f"8985201{n:011d}"),
            plan_code=plan.code,
            hk_number=f"9{n // 10_000 + 100:03d}{n % 10_000:04d}",
            cn_number=f"139{n // 10_000:04d}{n % 10_000:04d}",
            holder_name="陳大明",
            id_type=IdType.HKID,
            id_number="A123456(3)",
            id_key=digest_key("bench"),
            now=now,
        )
        numbers.append(sim.hk_number.e164 if n % 2 else sim.cn_number.e164)
        await _fund(conn, sim.id, plan.currency, n, now)
    return numbers


async def _fund(conn: AsyncConnection, sim_id: int, currency: str, n: int, now: datetime) -> None:
    """A top-up of 1,000 (major units), a 30-minute voice bucket, and for every fourth SIM
    5 of bonus money."""
    codes = [
        chart.provider_clearing_code("alipay", currency),
        chart.sim_balance(sim_id, currency).code,
        chart.sim_bonus(sim_id, currency).code,
        chart.system_code(System.PROMOTION_EXPENSE, currency),
    ]
    ids = await ledger.account_ids(conn, codes=codes)
    clearing, balance, bonus, expense = (ids[code] for code in codes)
    topup = rules.provider_topup(
        clearing=clearing, sim_balance=balance, amount=Money(100_000, currency)
    )
    await ledger.post_journal(conn, client_id=f"bench-fund:{sim_id}", postings=topup, now=now)
    grants = [("voice", 30, None)] + ([("money", 500, currency)] if n % 4 == 0 else [])
    for kind, units, money in grants:
        await conn.execute(
            bt.buckets.insert().values(
                sim_id=sim_id,
                kind=kind,
                zone=None,
                currency=money,
                granted=units,
                remaining=units,
                granted_at=now,
                expires_at=now + timedelta(days=30),
                source_ref=f"bench:{sim_id}",
            )
        )
    if n % 4 == 0:
        postings = rules.promotion_grant(
            promotion_expense=expense, sim_bonus=bonus, bonus=Money(500, currency)
        )
        await ledger.post_journal(
            conn, client_id=f"bench-bonus:{sim_id}", postings=postings, now=now
        )


async def _check(db: Database, expected: int) -> None:
    """Every record stored once; the books balance."""

    async def read(conn: AsyncConnection) -> tuple[int, bool]:
        stored = (await conn.execute(select(func.count()).select_from(ut.records))).scalar_one()
        return int(stored), (await ledger.check_books(conn)).ok

    stored, books_ok = await db.transaction(read)
    if stored != expected or not books_ok:
        raise AssertionError(f"{stored} records stored of {expected}; books ok: {books_ok}")


RUNS = {"postgresql": (1, 4), "sqlite": (1,)}  # batches in flight at once


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md: records charged per second, each database."""
    records = 2_000 if quick else 30_000
    lines = [
        "",
        "## Usage charging, batches of 100",
        "",
        f"`usage.service.charge_batch`, the use case `POST /api/v1/network/usage` calls, timed "
        f"in one process on {records:,} new records in batches of 100 over {SIMS:,} SIMs "
        "(each with a balance, a voice bucket, and every fourth bonus money; kinds and zones "
        "mixed), after a warm-up; *in flight* is how many streams of batches run at once, "
        "each over its own share of the SIMs (over millions of SIMs two batches of 100 rarely "
        "share one; over 2,000 they would queue on each other's SIM rows). Each batch: "
        "records checked, SIMs locked, rates, buckets and accounts read, paid, booked in "
        "journals, stored (docs/usage.md). Afterwards every record is stored once and the "
        "books balance. Target on PostgreSQL: at least 5,000 records/s.",
        "",
        "| database | in flight | records/s | batch p50 ms | batch p99 ms | target |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, runs in RUNS.items():
        for concurrency in runs:
            target = await fresh(name, "usage")
            try:
                rate = await measure(target, records=records, concurrency=concurrency)
            finally:
                await drop(target)
            print(f"{name} usage, {concurrency} in flight: {rate.per_second:.0f} records/s")
            goal = "—"
            if name == "postgresql":
                goal = "≥ 5,000 " + ("(met)" if rate.per_second >= 5_000 else "(not met)")
            lines.append(
                f"| {name} | {concurrency} | {rate.per_second:,.0f} | "
                f"{rate.percentile(0.5):.1f} | {rate.percentile(0.99):.1f} | {goal} |"
            )
    return lines
