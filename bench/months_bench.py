"""The books by month (``ledger.partitions``): reading a balance, a history page, writing a
journal and ``ledger check`` cost the same whether the books sit in one monthly partition or
in twelve.

The same history — N journals between two accounts, bulk-loaded as ``history_bench`` does —
goes into a fresh PostgreSQL database twice: all dated this month (one partition), then
spread evenly over this month and the eleven before it (twelve partitions, made before the
load). Then, in that database: the mean of 300 ``get_balance`` and 300 newest history pages
(20 lines) of the account, the mean of ``WRITES`` journals posted one by one through the
writer (each its own transaction), and the median of three full ``ledger check`` runs.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from bench import history_bench
from bench.targets import Target, drop, fresh
from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.ledger import chart, partitions, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.partitions import Month
from simkeep.money import Money
from simkeep.settings import load_settings

JOURNALS = {"full": 500_000, "quick": 20_000}
SPREADS = (1, 12)
WRITES = 2_000
CHECKS = 3


@dataclass(frozen=True, slots=True)
class Cost:
    months: int
    journals: int
    postings: int
    balance_us: float
    history_us: float
    write_us: float
    check_s: float


def months_back(month: Month, count: int) -> Month:
    for _ in range(count):
        year, number = (month.year - 1, 12) if month.month == 1 else (month.year, month.month - 1)
        month = Month(year, number)
    return month


async def measure(months: int, journals: int) -> Cost:
    target = await fresh("postgresql", f"months{months}")
    try:
        await _make_months(target, months)
        read = (await history_bench.balance_read(target, (journals,), months=months))[0]
        write_us = await _writes(target)
        check_s, report = await _checks(target)
    finally:
        await drop(target)
    return Cost(
        months,
        report.journals,
        report.postings,
        read.balance_us,
        read.history_us,
        write_us,
        check_s,
    )


async def _make_months(target: Target, months: int) -> None:
    """The partitions of the ``months`` months up to this one."""
    db = Database.from_settings(load_settings(database_url=target.url))
    this = Month.of(SystemClock().now())

    async def make(conn: AsyncConnection) -> None:
        have = await partitions.attached(conn)
        for month in partitions.months_from(months_back(this, months - 1), this):
            for table in partitions.TABLES:
                if month.partition(table) not in have:
                    await conn.exec_driver_sql(month.create_sql(table))

    try:
        await db.transaction(make)
    finally:
        await db.dispose()


async def _writes(target: Target) -> float:
    """Mean µs of a journal posted alone through the writer."""
    db = Database.from_settings(load_settings(database_url=target.url))
    now = SystemClock().now()

    async def accounts(conn: AsyncConnection) -> tuple[int, int]:
        a = await ledger.open_account(conn, spec=chart.agent_commission("w1", "HKD"), now=now)
        b = await ledger.open_account(conn, spec=chart.agent_commission("w2", "HKD"), now=now)
        return a.id, b.id

    try:
        a, b = await db.transaction(accounts)
        postings = rules.transfer(a, b, Money(100, "HKD"))
        started = time.perf_counter()
        for n in range(WRITES):
            await ledger.post_journal_alone(db, client_id=f"w:{n}", postings=postings, now=now)
        return (time.perf_counter() - started) / WRITES * 1e6
    finally:
        await db.dispose()


async def _checks(target: Target) -> tuple[float, ledger.CheckReport]:
    db = Database.from_settings(load_settings(database_url=target.url))
    timings = []
    try:
        for _ in range(CHECKS):
            started = time.perf_counter()
            report = await db.transaction(ledger.check_books)
            timings.append(time.perf_counter() - started)
            if not report.ok:
                raise RuntimeError(f"ledger check failed: {report.problems[:5]}")
    finally:
        await db.dispose()
    return statistics.median(timings), report


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md."""
    journals = JOURNALS["quick" if quick else "full"]
    lines = [
        "",
        "## The books by month",
        "",
        "PostgreSQL keeps journals and postings in one partition per Hong Kong month "
        "(`bench/months_bench.py`). The same history of "
        f"{journals:,} journals between two accounts, dated all this month (1 partition) or "
        "spread over the last twelve months (12 partitions): mean of 300 balance reads and "
        f"300 newest history pages, mean of {WRITES:,} journals written one by one, median of "
        f"{CHECKS} full `ledger check` runs.",
        "",
        "| partitions | journals | postings | get_balance µs | history page µs "
        "| write a journal µs | ledger check s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for months in SPREADS:
        cost = await measure(months, journals)
        print(
            f"books over {months} month(s): balance {cost.balance_us:.0f} µs, history "
            f"{cost.history_us:.0f} µs, write {cost.write_us:.0f} µs, check {cost.check_s:.2f} s"
        )
        lines.append(
            f"| {months} | {cost.journals:,} | {cost.postings:,} | {cost.balance_us:.0f} "
            f"| {cost.history_us:.0f} | {cost.write_us:.0f} | {cost.check_s:.2f} |"
        )
    return lines
