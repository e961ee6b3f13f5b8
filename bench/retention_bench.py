"""The daily retention run over many SIMs: how long one day takes, and its rate in SIMs/s.

The SIMs are loaded straight into the tables (COPY on PostgreSQL, one executemany on
SQLite): a quarter on each default plan, issued over the past year, so that about one in
thirty monthly-fee SIMs is billed on the day run, one in ten of those cannot pay and goes to
grace, and validity SIMs lapse, get reminders or are already in grace. Each SIM's balance is
set in its balance row (the bench measures the run, not the top-ups that would have made
those balances). Then ``retention.service.run_day`` runs the day — marks, reads, the rules,
fee journals, state updates, events and SMS, batch by batch — and the wall time is taken.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.targets import Target
from simkeep.clock import HONG_KONG, FixedClock, in_hong_kong
from simkeep.db import Database
from simkeep.ledger import tables as lt
from simkeep.ledger.chart import sim_balance
from simkeep.retention import service as retention
from simkeep.retention.model import first_fee, next_billing
from simkeep.settings import load_settings
from simkeep.sims import tables as st
from simkeep.sims.plans import DEFAULT_PLANS, ensure_plans

DAY = date(2027, 3, 15)
CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class RunCost:
    sims: int
    seconds: float
    fees_charged: int
    fees_owed: int
    moved: int

    @property
    def per_second(self) -> float:
        return self.sims / self.seconds


def _sim(n: int, now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """SIM number ``n``: its row, its two lines, and its balance in minor units, for a run
    on ``now``'s Hong Kong day."""
    day = in_hong_kong(now).date()
    plan = DEFAULT_PLANS[n % len(DEFAULT_PLANS)]
    issued = now - timedelta(days=30 + (n * 7919) % 335, minutes=n % 1440)
    row: dict[str, Any] = {
        "id": n,
        "iccid": f"8985200{n:013d}",
        "home_currency": plan.currency,
        "plan_code": plan.code,
        "state": "active",
        "holder_masked": "陳**",
        "id_type": "hkid",
        "id_digest": f"{n:064x}",
        "id_masked": "A******(*)",
        "validity_until": None,
        "created_at": issued,
        "state_since": issued,
        "billing_day": None,
        "next_fee_on": None,
        "arrears_minor": 0,
        "balance_account_id": n,  # the balance accounts take the SIMs' ids (see _load)
    }
    balance = 0 if n % 10 == 0 else 5_000
    if plan.monthly_fee:
        billing_day, due = first_fee(issued)
        while due < day:
            due = next_billing(due, billing_day)
        row["billing_day"], row["next_fee_on"] = billing_day, due
    else:
        ends = datetime.combine(day, clock_time(23, 59), HONG_KONG) + timedelta(
            days=(n * 104729) % 420 - 40
        )
        row["validity_until"] = ends.astimezone(UTC)
        if ends.date() < day:
            row["state"], row["state_since"] = "grace", ends.astimezone(UTC)
    lines = [
        {"e164": f"+8526{n:07d}", "sim_id": n, "region": "HK"},
        {"e164": f"+86138{n:08d}", "sim_id": n, "region": "CN"},
    ]
    return row, lines, balance


def _accounts(
    rows: list[dict[str, Any]], balances: list[int], now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    accounts, slots = [], []
    for row, balance in zip(rows, balances, strict=True):
        spec = sim_balance(row["id"], row["home_currency"])
        accounts.append(
            {
                "id": row["id"],
                "code": spec.code,
                "name": spec.name,
                "currency": spec.currency,
                "type": spec.type.value,
                "normal_sign": spec.type.normal_sign,
                "owner_type": spec.owner_type,
                "owner_id": spec.owner_id,
                "hot_slots": 1,
                "created_at": now,
            }
        )
        slots.append(
            {
                "account_id": row["id"],
                "slot": 0,
                "balance": balance,
                "pending_out": 0,
                "pending_in": 0,
                "min_balance": 0,
            }
        )
    return accounts, slots


async def load(db: Database, target: Target, count: int, now: datetime) -> None:
    """``count`` SIMs, their lines, balance accounts and balances, as of ``now``; ids above
    the chart's."""

    async def offset(conn: AsyncConnection) -> int:
        await ensure_plans(conn)
        return int((await conn.execute(select(func.max(lt.accounts.c.id)))).scalar_one())

    base = await db.transaction(offset) + 1
    for start in range(base, base + count, CHUNK):
        sims, lines, balances = [], [], []
        for n in range(start, min(start + CHUNK, base + count)):
            row, its_lines, balance = _sim(n, now)
            sims.append(row)
            lines += its_lines
            balances.append(balance)
        accounts, slots = _accounts(sims, balances, now)
        tables = [
            (st.sims, sims),
            (st.lines, lines),
            (lt.accounts, accounts),
            (lt.balances, slots),
        ]
        if target.name == "postgresql":
            await _copy(target.url, tables)
        else:

            async def insert(conn: AsyncConnection, tables: list[Any] = tables) -> None:
                for table, rows in tables:
                    await conn.execute(table.insert(), rows)

            await db.transaction(insert)


async def _copy(url: str, tables: list[tuple[Any, list[dict[str, Any]]]]) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            for table, rows in tables:
                columns = list(rows[0])
                await conn.copy_records_to_table(
                    table.name,
                    records=[tuple(r[c] for c in columns) for r in rows],
                    columns=columns,
                )
    finally:
        await conn.close()


async def run_cost(target: Target, count: int) -> RunCost:
    """Load ``count`` SIMs into ``target`` and time the retention run of one day over them."""
    now = datetime.combine(DAY, clock_time(0, 10), HONG_KONG).astimezone(UTC)
    db = Database.from_settings(load_settings(database_url=target.url))
    try:
        await load(db, target, count, now)
        if target.name == "postgresql":
            await db.transaction(lambda conn: conn.exec_driver_sql("ANALYZE"))
        started = time.perf_counter()
        totals = await retention.run_day(db, day=DAY, clock=FixedClock(now))
        seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    return RunCost(totals.sims, seconds, totals.fees_charged, totals.fees_owed, totals.moved)
