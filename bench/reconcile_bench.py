"""Reconciling one provider's day: how long ``reconciliation.service.reconcile`` takes on a
bill of N rows.

The day's orders are loaded straight into ``topup_orders`` (COPY on PostgreSQL, one
executemany per chunk on SQLite) in the shape crediting leaves them: AlipayHK, HK$100.00
paid and credited on the day, to one SIM issued through the service. The bill is built in
memory as a provider's reader would hand it over (outside the timing): one row per order,
with the provider's fee, and a difference planted in about one row in a thousand of each
kind — another amount, a payment simkeep never placed, a payment missing from the bill
(every tenth of those within the carry-over of midnight) — and in one in ten thousand, a
payment simkeep never credited (the fake provider, asked, says paid: credited through the
payment path, one transaction each). Then ``reconcile`` runs
once, timed whole: the bill loaded, matched, every difference recorded, the lost payments
asked about and credited, the fees booked, the rows counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.ledger_bench import analyze
from bench.targets import RECONCILE_ROWS, RECONCILE_SECONDS, Target, drop, fresh
from simkeep.clock import HONG_KONG, FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments.model import ProviderTrade, TradeStatus
from simkeep.reconciliation import service as reconciliation
from simkeep.reconciliation.bill import Bill, BillRow, RowKind
from simkeep.reconciliation.model import CARRY
from simkeep.settings import load_settings
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, digest_key, luhn_complete
from simkeep.sims.plans import ensure_plans
from simkeep.topups import tables as tt

DAY = date(2027, 3, 15)
PROVIDER = Provider.ALIPAYHK
CHUNK = 50_000
EVERY = 1_000  # one row in this many differs, of each kind …
LOST_EVERY = 10_000  # … but lost payments, rarer: each is asked about and credited alone
HUNDRED = Money(10_000, "HKD")
FEE = Money(60, "HKD")


@dataclass(frozen=True, slots=True)
class ReconcileCost:
    rows: int
    seconds: float
    differences: int
    credited: int

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds


@dataclass
class AnsweringProvider:
    """The provider's answer to a query about a lost payment: paid, the order's amount."""

    asked: int = 0

    async def query(self, out_trade_no: str) -> ProviderTrade:
        self.asked += 1
        return ProviderTrade(out_trade_no, TradeStatus.PAID, HUNDRED, f"P{out_trade_no}")


def _paid_at(n: int, count: int) -> datetime:
    """Spread over the day; every tenth missing one within the carry-over of midnight."""
    start = datetime.combine(DAY, clock_time(0), HONG_KONG).astimezone(UTC)
    if n % EVERY == 4 and (n // EVERY) % 10 == 0:
        return start + timedelta(days=1) - timedelta(minutes=5)
    return start + timedelta(seconds=n * 86_000 // count)


def _order(n: int, sim_id: int, count: int) -> dict[str, Any]:
    paid_at = _paid_at(n, count)
    lost = n % LOST_EVERY == 2  # paid at the provider, never credited here
    return {
        "id": n,
        "order_no": f"T{n:018d}",
        "subscriber_id": None,
        "idempotency_key": None,
        "request_hash": f"{n:064x}",
        "sim_id": sim_id,
        "msisdn": "+85292000037",
        "credit_minor": 10_000,
        "credit_currency": "HKD",
        "pay_minor": 10_000,
        "pay_currency": "HKD",
        "fx_rate": None,
        "validity_days": 180,
        "provider": PROVIDER.value,
        "channel": "qr",
        "state": "awaiting_payment" if lost else "credited",
        "created_at": paid_at - timedelta(minutes=1),
        "expires_at": paid_at + timedelta(minutes=14),
        "next_poll_at": None,
        "polls": 0,
        "paid_at": None if lost else paid_at,
        "credited_at": None if lost else paid_at,
        "provider_trade_no": None if lost else f"P{n}",
        "receipt_no": None if lost else f"R{n:016d}",
    }


def _row(n: int, count: int) -> BillRow | None:
    """The bill's row of order ``n``: as paid, another amount, or missing."""
    kind = n % EVERY
    if kind == 4:
        return None  # simkeep credited it; the bill lacks it
    amount = Money(9_000, "HKD") if kind == 1 else HUNDRED
    return BillRow(RowKind.PAY, f"T{n:018d}", "", f"P{n}", amount, FEE, _paid_at(n, count))


def bill_of(count: int) -> Bill:
    rows = [row for n in range(1, count + 1) if (row := _row(n, count)) is not None]
    start = datetime.combine(DAY, clock_time(12), HONG_KONG)
    strangers = [
        BillRow(RowKind.PAY, f"X{n:018d}", "", f"X{n}", HUNDRED, FEE, start)
        for n in range(count // EVERY)
    ]
    return Bill(PROVIDER, DAY, tuple(rows + strangers))


async def _load(db: Database, target: Target, count: int, now: datetime) -> None:
    async def issue(conn: AsyncConnection) -> int:
        await ensure_plans(conn)
        sim = await sims.issue_sim(
            conn,
            iccid=luhn_complete("898520000000000001"),
            plan_code="HK-KEEP",
            hk_number="92000037",
            cn_number="13900000053",
            holder_name="陳大明",
            id_type=IdType.HKID,
            id_number="A123456(3)",
            id_key=digest_key("bench"),
            now=now,
        )
        return sim.id

    sim_id = await db.transaction(issue)
    for start in range(1, count + 1, CHUNK):
        orders = [_order(n, sim_id, count) for n in range(start, min(start + CHUNK, count + 1))]
        if target.name == "postgresql":
            await _copy(target.url, orders)
            continue

        async def insert(conn: AsyncConnection, orders: list[dict[str, Any]] = orders) -> None:
            await conn.execute(tt.orders.insert(), orders)

        await db.transaction(insert)
    if target.name == "postgresql":
        await _copy_sequence(target.url, count)


async def _copy(url: str, orders: list[dict[str, Any]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        columns = list(orders[0])
        await conn.copy_records_to_table(
            tt.orders.name, records=[tuple(o[c] for c in columns) for o in orders], columns=columns
        )
    finally:
        await conn.close()


async def _copy_sequence(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('topup_orders', 'id'), {count + 1})"
        )
    finally:
        await conn.close()


async def run_cost(target: Target, count: int) -> ReconcileCost:
    """Load a day of ``count`` orders into ``target`` and time reconciling its bill."""
    now = datetime.combine(DAY + timedelta(days=1), clock_time(10), HONG_KONG).astimezone(UTC)
    db = Database.from_settings(load_settings(database_url=target.url))
    provider = AnsweringProvider()
    try:
        await _load(db, target, count, now)
        await analyze(target)
        bill = bill_of(count)
        started = time.perf_counter()
        done = await reconciliation.reconcile(
            db,
            provider=PROVIDER,
            day=DAY,
            source=_Given(bill),
            adapter=provider,  # type: ignore[arg-type]
            by=reconciliation.BY_CLI,
            clock=FixedClock(now),
            carry=CARRY,
        )
        seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    return ReconcileCost(len(bill.rows), seconds, done.counts.differences, provider.asked)


@dataclass(frozen=True)
class _Given:
    """The bill, as a provider's reader handed it over."""

    given: Bill

    async def bill(self, day: date) -> Bill:
        return self.given


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md."""
    sizes = {"postgresql": 20_000, "sqlite": 5_000} if quick else RECONCILE_ROWS
    lines = [
        "",
        "## Reconciling a provider's day",
        "",
        "`reconciliation.service.reconcile` on one AlipayHK bill of N rows against N orders "
        "loaded straight into the tables, with one row in a thousand of each kind differing "
        "(another amount, a payment simkeep never placed, a credit missing from the bill) and "
        "one in ten thousand a lost payment (the provider, asked, says paid: credited through "
        "the payment path). "
        "Wall time of the call alone: the bill loaded (COPY / executemany), matched by joins, "
        "every difference recorded, the lost payments asked about and credited, the fees "
        f"booked. Target: a million rows on PostgreSQL in under {RECONCILE_SECONDS:.0f} s.",
        "",
        "| database | bill rows | seconds | rows/s | differences | credited | target |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, count in sizes.items():
        target = await fresh(name, "reconcile")
        try:
            cost = await run_cost(target, count)
        finally:
            await drop(target)
        print(f"{name} reconcile, {cost.rows} rows: {cost.seconds:.1f} s")
        goal = "—"
        if name == "postgresql":
            goal = f"< {RECONCILE_SECONDS:.0f} s"
            if not quick:
                goal += " (met)" if cost.seconds < RECONCILE_SECONDS else " (not met)"
        lines.append(
            f"| {name} | {cost.rows:,} | {cost.seconds:.1f} | {cost.per_second:,.0f} "
            f"| {cost.differences:,} | {cost.credited:,} | {goal} |"
        )
    return lines
