"""The counter scenario: clerks top numbers up through the POS API, cash at the counter.

Design overview
---------------
Per database, a fresh database is seeded through the services: the plans, ``SIMS`` Hong
Kong dollar SIMs, ``AGENTS`` agents with one Hong Kong outlet each, a clerk per client
(spread over the outlets) with a POS device token, and each agent's float funded by a
deposit entered by one operator and approved by another. The product (``simkeep.app:asgi``,
worker loop off) is served by uvicorn with the top-up scenario's worker count; each clerk
opens a shift (``POST /api/v1/pos/shifts``).

One counter top-up is what the POS sends: ``POST /api/v1/pos/topups`` with the device's
bearer token and a fresh ``Idempotency-Key``, HK$100 in cash for a random SIM — below the
ID-check threshold, as most counter top-ups are. In one transaction the server checks the
clerk's open shift and the outlet, places the order, credits it from the agent's float
with the commission (one journal) and writes the sale. An agent's float is one row that
every sale of its outlets updates: the agents are the unit of parallelism here, as they
are in the field.

Afterwards, with the server stopped: as many sales as answers said 201, each with its
credited order, and ``ledger.check_books`` passes.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.loadgen import Connection, Run, Step, Watch, closed_loop
from bench.server import free_port, serve
from bench.targets import Target, drop, fresh
from bench.topup_bench import WORKERS
from simkeep.clock import SystemClock
from simkeep.counter import devices
from simkeep.counter import tables as ct
from simkeep.db import Database
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.names import Names
from simkeep.outlets import floats, staffing
from simkeep.outlets import service as outlets
from simkeep.outlets.hours import DAYS, Hours
from simkeep.outlets.model import NewOutlet, OutletKind, Service
from simkeep.outlets.staffing import Placement
from simkeep.settings import load_settings
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, luhn_complete
from simkeep.staff import accounts
from simkeep.staff.audit import CLI, Actor
from simkeep.topups import tables as tt

SIMS = 2_000
AGENTS = 4
FLOAT = Money(1_000_000_000, "HKD")  # HK$10 million: no run reaches the floor
CLIENTS = {"full": (4, 16), "quick": (4,)}
PASSWORD = "bench staff 42"


@dataclass(frozen=True)
class CounterRun:
    database: str
    workers: int
    runs: dict[int, Run]
    sales: int  # answered 201
    checked_sales: int  # in the database afterwards, each with its credited order


async def measure(name: str, *, seconds: float, quick: bool) -> CounterRun:
    """Seed, serve, open the shifts, load at each concurrency, then check."""
    counts = CLIENTS["quick" if quick else "full"]
    target = await fresh(name, "counter")
    try:
        numbers, tokens = await _seed(target, max(counts))
        port = free_port()
        env = {"SIMKEEP_DATABASE_URL": target.url, "SIMKEEP_RUN_JOBS": "false"}
        served = 0
        runs: dict[int, Run] = {}
        async with serve(
            "simkeep.app:asgi",
            factory=True,
            port=port,
            workers=WORKERS[name],
            env=env,
            label=f"counter-{name}",
        ) as product:
            await _open_shifts(port, tokens)
            database = make_url(target.url).database if name == "postgresql" else None
            watch = Watch(product.pid, database)
            step, made = _sale_step(tokens, numbers)
            await closed_loop(port=port, watch=watch, clients=2, seconds=1.0, step=step)
            for clients in counts:
                runs[clients] = await closed_loop(
                    port=port, watch=watch, clients=clients, seconds=seconds, step=step
                )
            served = made()
        checked = await _check(target, served)
    finally:
        await drop(target)
    return CounterRun(name, WORKERS[name], runs, served, checked)


async def _seed(target: Target, clerks: int) -> tuple[list[str], list[str]]:
    """Plans and SIMs, the agents and their outlets, funded floats, and a device token per
    clerk; the numbers to top up and the tokens."""
    db = Database.from_settings(load_settings(database_url=target.url))
    now = SystemClock().now()
    try:
        numbers = await db.transaction(lambda conn: _sims(conn, now))
        maker, checker = [
            await accounts.add_staff(
                db,
                username=f"bench-{name}",
                display_name=name,
                role="operator",
                password=PASSWORD,
                actor=CLI,
                now=now,
            )
            for name in ("maker", "checker")
        ]
        places = []
        for n in range(AGENTS):
            agent = await outlets.create_agent(
                db,
                code=f"BENCH{n}",
                names=Names(f"代理{n}", f"代理{n}", f"Agent {n}"),
                commission_bp=150,
                now=now,
            )
            outlet = await outlets.add_outlet(db, outlet=_outlet(n, agent.id), now=now)
            places.append(Placement(agent.id, outlet.id))
            deposit = await floats.enter_deposit(
                db,
                agent_id=agent.id,
                amount=FLOAT,
                reference=f"BENCH-{n}",
                actor=Actor(maker.id, "bench"),
                now=now,
            )
            await floats.approve_deposit(
                db, deposit_id=deposit.id, actor=Actor(checker.id, "bench"), now=now
            )
        tokens = []
        for n in range(clerks):
            clerk = await staffing.add_agent_staff(
                db,
                place=places[n % AGENTS],
                username=f"bench-clerk-{n}",
                display_name=f"Clerk {n}",
                password=PASSWORD,
                actor=CLI,
                now=now,
            )
            device = await devices.issue_device(
                db, staff_id=clerk.id, label="bench", actor=CLI, now=now
            )
            tokens.append(device.token)
        return numbers, tokens
    finally:
        await db.dispose()


async def _sims(conn: AsyncConnection, now: datetime) -> list[str]:
    await sims.ensure_plans(conn)
    numbers = []
    for n in range(SIMS):
        sim = await sims.issue_sim(
            conn,
            iccid=luhn_complete(f"8985203{n:011d}"),
            plan_code="HK-VALID",
            hk_number=f"9{300 + n // 10_000:03d}{n % 10_000:04d}",
            cn_number=f"138{n:08d}",
            holder_name="陳大明",
            id_type=IdType.HKID,
            id_number="A123456(3)",
            id_key=b"bench-id-key",
            now=now,
        )
        numbers.append(sim.hk_number.e164)
    return numbers


def _outlet(n: int, agent_id: int) -> NewOutlet:
    return NewOutlet(
        code=f"BENCH-{n}",
        agent_id=agent_id,
        kind=OutletKind.CONVENIENCE_STORE,
        names=Names(f"測試店{n}", f"测试店{n}", f"Bench shop {n}"),
        addresses=Names("彌敦道 1 號", "弥敦道 1 号", "1 Nathan Road"),
        district="yau-tsim-mong",
        lat_e6=22_300_000 + n,
        lon_e6=114_170_000,
        hours=Hours.of_json({day: [["00:00", "24:00"]] for day in DAYS}),
        services=frozenset(Service),
    )


async def _open_shifts(port: int, tokens: list[str]) -> None:
    for token in tokens:
        connection = await Connection.open(port)
        try:
            reply = await connection.request(
                "POST",
                "/api/v1/pos/shifts",
                body=b'{"opening_cash_minor": 0}',
                headers=f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n",
            )
        finally:
            await connection.close()
        if reply.status != 201:
            raise RuntimeError(f"opening a shift answered {reply.status}: {reply.body[:300]!r}")


def _sale_step(tokens: list[str], numbers: list[str]) -> tuple[Step, Callable[[], int]]:
    """One counter top-up per call; and how many were answered 201 so far."""
    serial = itertools.count()
    rng = random.Random(11)
    made = [0]

    async def step(connection: Connection, client: int) -> float:
        body = {"number": rng.choice(numbers), "amount_minor": 10_000, "payment": "cash"}
        headers = (
            f"Authorization: Bearer {tokens[client]}\r\n"
            f"Idempotency-Key: bench-{next(serial):012d}\r\nContent-Type: application/json\r\n"
        )
        began = time.perf_counter()
        reply = await connection.request(
            "POST", "/api/v1/pos/topups", body=json.dumps(body).encode(), headers=headers
        )
        if reply.status != 201:
            raise RuntimeError(f"a counter top-up answered {reply.status}: {reply.body[:300]!r}")
        made[0] += 1
        return (time.perf_counter() - began) * 1000

    return step, lambda: made[0]


async def _check(target: Target, served: int) -> int:
    """Every sale answered is in the database with its credited order; the books hold."""
    db = Database.from_settings(load_settings(database_url=target.url))

    async def read(conn: AsyncConnection) -> int:
        s, o = ct.sales.c, tt.orders.c
        joined = ct.sales.join(tt.orders, o.order_no == s.order_no)
        credited = (
            await conn.execute(
                select(func.count()).select_from(joined).where(o.state == "credited")
            )
        ).scalar_one()
        report = await ledger.check_books(conn)
        if report.problems:
            raise RuntimeError(f"the books do not hold: {report.problems[:3]}")
        return int(credited)

    try:
        checked = await db.transaction(read)
    finally:
        await db.dispose()
    if checked != served:
        raise RuntimeError(f"{served} sales answered, {checked} credited in the database")
    return checked


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md."""
    seconds = 2.0 if quick else 10.0
    lines = [
        "",
        "## Counter top-ups through the POS API",
        "",
        "`POST /api/v1/pos/topups` with a device token and a fresh `Idempotency-Key`: HK$100 in "
        f"cash for a random one of {SIMS:,} SIMs (below the ID-check threshold), by clerks "
        f"spread over {AGENTS} agents with one outlet each (`bench/counter_bench.py`). Each "
        "sale checks the clerk's open shift and the outlet, places and credits the order from "
        "the agent's float with the commission in one journal, and writes the sale, in one "
        "transaction. An agent's float is one row that each of its sales updates, so sales of "
        "one agent queue on it; agents are the unit of parallelism. "
        f"{seconds:.0f} s per concurrency after a 1 s warm-up; the server as in the online "
        "top-up scenario (uvicorn, one worker per core on PostgreSQL, one on SQLite).",
        "",
        "| database | workers | clerks | sales/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("postgresql", "sqlite"):
        result = await measure(name, seconds=seconds, quick=quick)
        for clients, run in result.runs.items():
            print(
                f"{name} counter top-ups, {clients} clerks: {run.per_second:.0f}/s, "
                f"p50 {run.percentile(0.5):.0f} ms, p99 {run.percentile(0.99):.0f} ms"
            )
            lines.append(
                f"| {name} | {result.workers} | {clients} | {run.per_second:,.0f} "
                f"| {run.percentile(0.5):.1f} | {run.percentile(0.99):.1f} |"
            )
    return lines
