"""The top-up scenario: concurrent subscribers top up and get credited through the real app,
paying with each of ``topup_methods.METHODS`` (Alipay WAP, WeChat Pay HK QR).

Design overview
---------------
Per database, one fresh database holds the product's schema and the ceiling's TPC-B tables.
Before anything is timed: the chart of accounts, the plans, the bench's locked rates (HKD→CNY
and CNY→HKD) and ``SIMS_PER_CLIENT`` SIMs per client (alternately HKD and CNY plans, so half
the top-ups of each method convert currency) are seeded through the services; the keys are
made in a temporary ``keys_dir`` (so the server's workers find them and never race to make
them); the product (``simkeep.app:asgi``, simulators on, worker loop off) and the ceiling
(``bench.ceiling_app``) are started with the same uvicorn command line and worker count; one
subscriber per client registers through the API (code read from the SMS outbox) and keeps
its bearer token.

One top-up is what a subscriber on a phone and the provider do: ``POST /api/v1/topups``
(bearer token, a fresh ``Idempotency-Key``, the number typed twice, the method's provider,
channel and currency: for Alipay WAP the server signs the cashier link; for WeChat Pay HK QR
it places a Native order with the simulator inside the same server, as it would with the
provider), then the provider's signed notification for that order to the method's notify
endpoint, which must answer what the provider takes as "taken".

Notifications are signed before the measured runs (``Presigned``): an order's number is
``T`` + the Hong Kong date + its id, and ids come from a sequence, so before each run the
client reads the next id and signs, with simulators of its own built from the same
``keys_dir`` (``topup_methods.signers``: same platform keys and merchants as the server's),
the notifications of the orders the run may create, for both prices a bench top-up can
have; one signed more than ``FRESH_SECONDS`` ago is signed again (WeChat Pay's signature is
good for ±300 s). A notification the pool lacks (a run faster than foreseen, or a date
change) is signed in the loop and counted. create→credited runs from the create request's
start to the notify answer.

At each concurrency, after a warm-up, every method's top-ups and the ceiling are measured in
interleaved blocks (each going first in turn), so a noisy neighbour slows them alike and the
methods share one ceiling; py-spy then profiles the product under each method at the highest
concurrency in a separate run (so the sampling never touches the figures). Afterwards, with
the servers stopped: every order is ``credited``, per provider as many as notify answers
said "taken", every notification in the inbox is ``credited``, and ``ledger.check_books``
passes.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import ceiling_app
from bench.loadgen import Connection, Run, Step, Watch, closed_loop
from bench.server import Profile, free_port, profile, serve
from bench.targets import OUT, Target, drop, fresh
from bench.topup_methods import (
    METHODS,
    RATES,
    TOPUP_MINOR,
    Method,
    Notification,
    Signer,
    signers,
)
from simkeep.clock import SystemClock, in_hong_kong
from simkeep.db import Database
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payments import tables as payment_tables
from simkeep.settings import load_settings
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, luhn_complete
from simkeep.topups import service as topups
from simkeep.topups import tables as topup_tables

SIMS_PER_CLIENT = 32
PASSWORD = "bench horse 4242"
FRESH_SECONDS = 120.0  # a notification signed longer ago than this is signed again


@dataclass(frozen=True)
class Plan:
    """How big a run is: concurrencies, interleaved rounds, seconds per block."""

    clients: tuple[int, ...]
    rounds: int
    block_seconds: float
    warmup_seconds: float
    profile_seconds: float


FULL = Plan(clients=(8, 32), rounds=3, block_seconds=4.0, warmup_seconds=2.0, profile_seconds=8.0)
QUICK = Plan(clients=(4, 8), rounds=1, block_seconds=1.0, warmup_seconds=0.5, profile_seconds=1.5)
# SQLite has one writer, and the embedded default serves from one process: one worker. On
# PostgreSQL, one worker per core.
WORKERS = {"postgresql": os.cpu_count() or 1, "sqlite": 1}


@dataclass(frozen=True)
class MethodFigures:
    """One method's results on one database: per concurrency, its top-ups; its profile."""

    method: Method
    topups: dict[int, Run]
    profile: Profile
    profile_file: Path
    credited: int
    signed_in_loop: int


@dataclass(frozen=True)
class Figures:
    """One database's results: each method's, and the ceiling they share, per concurrency."""

    name: str
    workers: int
    methods: tuple[MethodFigures, ...]
    ceiling: dict[int, Run]
    journals: int


@dataclass
class Payer:
    """A registered subscriber, its bearer token and the numbers it tops up, in turn."""

    token: str
    numbers: list[tuple[str, str]]  # (E.164, home currency)
    turn: int = 0

    def next_number(self) -> tuple[str, str]:
        self.turn += 1
        return self.numbers[self.turn % len(self.numbers)]


@dataclass
class Tally:
    credited: int = 0  # notify answers that said "taken"
    signed_in_loop: int = 0  # notifications the pool did not hold, signed during the run


@dataclass
class Presigned:
    """One method's signed notifications, made before the runs, for the orders to come.

    An order's number is ``T`` + the Hong Kong date + its id, and ids come in sequence, so
    the notification for each next order can be signed ahead, for both prices a bench
    top-up can have (100 of the method's currency, and 100 of the other converted at the
    bench rate)."""

    signer: Signer
    target: Target
    prices: tuple[Money, ...]
    pool: dict[tuple[str, int], tuple[float, Notification]] = field(default_factory=dict)
    rate: float = 400.0  # top-ups per second to sign ahead for; raised as runs show more

    async def refill(self, seconds: float) -> None:
        """Sign ahead for the orders a run of ``seconds`` may make (and half as many more)."""
        first = await _next_order_id(self.target)
        wanted = range(first, first + int(self.rate * seconds * 1.5) + 200)
        day = f"T{in_hong_kong(SystemClock().now()):%Y%m%d}"
        fresh_since = time.monotonic() - FRESH_SECONDS
        self.pool = {
            key: (signed_at, notification)
            for key, (signed_at, notification) in self.pool.items()
            if int(key[0][-10:]) >= first and signed_at >= fresh_since
        }
        for serial in wanted:
            order_no = f"{day}{serial:010d}"
            for variant, price in enumerate(self.prices):
                if (order_no, price.minor) not in self.pool:
                    notification = await self.signer.paid(order_no, price, serial * 2 + variant)
                    self.pool[order_no, price.minor] = (time.monotonic(), notification)

    async def take(self, order_no: str, price: Money, tally: Tally) -> Notification:
        found = self.pool.pop((order_no, price.minor), None)
        if found is None:
            tally.signed_in_loop += 1
            return await self.signer.paid(order_no, price, 0)
        return found[1]

    def observed(self, run: Run) -> None:
        self.rate = max(self.rate, run.per_second)


async def measure(name: str, *, workers: int, plan: Plan) -> Figures:
    """Seed, serve, load, profile and check one database (``sqlite`` or ``postgresql``)."""
    clients = max(plan.clients)
    target = await fresh(name, "topup")
    keys_dir = Path(tempfile.mkdtemp(prefix="simkeep-bench-keys-"))
    try:
        numbers = await seed(target, clients * SIMS_PER_CLIENT)
        await ceiling_app.create_tables(target)
        port, ceiling_port = free_port(), free_port()
        env = {
            "SIMKEEP_DATABASE_URL": target.url,
            "SIMKEEP_RUN_JOBS": "false",
            "SIMKEEP_SIMULATORS": "true",
            "SIMKEEP_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "SIMKEEP_KEYS_DIR": str(keys_dir),
        }
        settings = load_settings(
            database_url=target.url, public_url=env["SIMKEEP_PUBLIC_URL"], keys_dir=str(keys_dir)
        )
        signer = await signers(settings)
        presigned = {m: Presigned(signer[m.provider], target, m.prices()) for m in METHODS}
        tallies = {method: Tally() for method in METHODS}
        async with (
            serve(
                "simkeep.app:asgi",
                factory=True,
                port=port,
                workers=workers,
                env=env,
                label=f"topup-{name}",
            ) as product,
            serve(
                "bench.ceiling_app:app",
                port=ceiling_port,
                workers=workers,
                env=env,
                label=f"ceiling-{name}",
            ) as ceiling,
        ):
            tokens = await sign_up(product.port, target, clients)
            payers = [
                Payer(token, numbers[i * SIMS_PER_CLIENT : (i + 1) * SIMS_PER_CLIENT])
                for i, token in enumerate(tokens)
            ]
            database = make_url(target.url).database if name == "postgresql" else None
            keys = itertools.count()  # Idempotency-Keys, unique across the methods
            loads = {
                method: Load(
                    product.port,
                    Watch(product.pid, database),
                    topup_step(method, payers, presigned[method], tallies[method], keys),
                    presigned[method],
                )
                for method in METHODS
            }
            tpcb = Load(ceiling.port, Watch(ceiling.pid, database), _ceiling_step)
            topup_runs: dict[Method, dict[int, Run]] = {method: {} for method in METHODS}
            ceiling_runs: dict[int, Run] = {}
            for count in plan.clients:
                runs = await interleaved([*loads.values(), tpcb], clients=count, plan=plan)
                for method, run in zip(METHODS, runs, strict=False):
                    topup_runs[method][count] = run
                ceiling_runs[count] = runs[-1]
            profiles: dict[Method, tuple[Profile, Path]] = {}
            for method, load in loads.items():
                out = OUT / f"topup-{name}-{method.provider.value}.pyspy.txt"
                profiled = functools.partial(load.run, clients, plan.profile_seconds)
                _, found = await profile(product, profiled, rate=100, out=out)
                profiles[method] = found, out
        journals = await check(target, {m.provider.value: t.credited for m, t in tallies.items()})
    finally:
        shutil.rmtree(keys_dir, ignore_errors=True)
        await drop(target)
    return Figures(
        name,
        workers,
        tuple(
            MethodFigures(
                method,
                topup_runs[method],
                *profiles[method],
                tallies[method].credited,
                tallies[method].signed_in_loop,
            )
            for method in METHODS
        ),
        ceiling_runs,
        journals,
    )


async def seed(target: Target, count: int) -> list[tuple[str, str]]:
    """Plans, the bench's rates and ``count`` SIMs; the number to top up of each SIM."""
    db = Database.from_settings(load_settings(database_url=target.url))
    now = SystemClock().now()

    async def work(conn: AsyncConnection) -> list[tuple[str, str]]:
        await sims.ensure_plans(conn)
        for (base, quote_currency), rate in RATES.items():
            await topups.set_fx_rate(
                conn, base=base, quote_currency=quote_currency, rate=rate, source="bench", now=now
            )
        numbers = []
        for n in range(count):
            sim = await sims.issue_sim(
                conn,
                iccid=luhn_complete(f"8985200{n:011d}"),
                plan_code="HK-VALID" if n % 2 == 0 else "CN-VALID",
                hk_number=f"9{200 + n // 10_000:03d}{n % 10_000:04d}",
                cn_number=f"139{n:08d}",
                holder_name="陳大明",
                id_type=IdType.HKID,
                id_number="A123456(3)",
                id_key=b"bench-id-key",
                now=now,
            )
            line = sim.hk_number if sim.home_currency == "HKD" else sim.cn_number
            numbers.append((line.e164, sim.home_currency))
        return numbers

    try:
        return await db.transaction(work)
    finally:
        await db.dispose()


async def sign_up(port: int, target: Target, count: int) -> list[str]:
    """Register ``count`` subscribers through the API; their bearer tokens."""
    db = Database.from_settings(load_settings(database_url=target.url))
    connection = await Connection.open(port)
    json_type = "Content-Type: application/json\r\n"
    tokens = []
    try:
        for n in range(count):
            phone = f"+8525{1_000_000 + n:07d}"
            asked = json.dumps({"phone": phone, "purpose": "register"}).encode()
            sent = await connection.request(
                "POST", "/api/v1/auth/codes", body=asked, headers=json_type
            )
            assert sent.status == 202, sent.body
            code = await _last_code(db, phone)
            form = {"phone": phone, "code": code, "password": PASSWORD}
            registered = await connection.request(
                "POST", "/api/v1/auth/register", body=json.dumps(form).encode(), headers=json_type
            )
            assert registered.status == 201, registered.body
            tokens.append(str(json.loads(registered.body)["token"]))
    finally:
        await connection.close()
        await db.dispose()
    return tokens


async def _last_code(db: Database, phone: str) -> str:
    async def read(conn: AsyncConnection) -> str | None:
        query = select(outbox.c.body).where(outbox.c.recipient == phone)
        return (await conn.execute(query.order_by(outbox.c.id.desc()).limit(1))).scalar()

    body = await db.transaction(read)
    found = re.search(r"\b(\d{6})\b", body or "")
    assert found, f"no code was sent to {phone}"
    return found.group(1)


def topup_step(
    method: Method, payers: list[Payer], presigned: Presigned, tally: Tally, keys: Iterator[int]
) -> Step:
    """One top-up: create the order, then deliver its paid notification, signed ahead."""

    async def step(connection: Connection, client: int) -> float:
        payer = payers[client]
        number, currency = payer.next_number()
        body = {
            "number": number,
            "confirm_number": number,
            "amount": {"minor": TOPUP_MINOR, "currency": currency},
            "pay_currency": method.pay_currency,
            "provider": method.provider.value,
            "channel": method.channel.value,
        }
        headers = (
            f"Authorization: Bearer {payer.token}\r\nIdempotency-Key: bench-{next(keys):010d}\r\n"
            "Content-Type: application/json\r\n"
        )
        began = time.perf_counter()
        created = await connection.request(
            "POST", "/api/v1/topups", body=json.dumps(body).encode(), headers=headers
        )
        if created.status != 201:
            raise RuntimeError(f"create answered {created.status}: {created.body[:300]!r}")
        order = json.loads(created.body)
        pay = order["pay"]
        price = Money(int(pay["minor"]), str(pay["currency"]))
        notification = await presigned.take(str(order["order_no"]), price, tally)
        ack = await connection.request(
            "POST", method.notify_path, body=notification.body, headers=notification.headers
        )
        if (ack.status, ack.body) != method.taken:
            raise RuntimeError(f"{method.label} notify answered {ack.status}: {ack.body[:300]!r}")
        tally.credited += 1
        return (time.perf_counter() - began) * 1000

    return step


async def _next_order_id(target: Target) -> int:
    """The id the next order will get."""
    db = Database.from_settings(load_settings(database_url=target.url))

    async def read(conn: AsyncConnection) -> int:
        if conn.dialect.name == "sqlite":
            query = "SELECT ifnull(max(id), 0) + 1 FROM topup_orders"
        else:
            query = (
                "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END"
                " FROM topup_orders_id_seq"
            )
        return int((await conn.exec_driver_sql(query)).scalar_one())

    try:
        return await db.transaction(read)
    finally:
        await db.dispose()


async def _ceiling_step(connection: Connection, client: int) -> float:
    began = time.perf_counter()
    reply = await connection.request("POST", "/tpcb")
    if reply.status != 200:
        raise RuntimeError(f"the ceiling answered {reply.status}: {reply.body[:300]!r}")
    return (time.perf_counter() - began) * 1000


@dataclass(frozen=True)
class Load:
    """One server, and what each of its clients does there, back to back."""

    port: int
    watch: Watch
    step: Step
    presigned: Presigned | None = field(default=None, compare=False)

    async def run(self, clients: int, seconds: float) -> Run:
        if self.presigned:
            await self.presigned.refill(seconds)
        run = await closed_loop(
            port=self.port, watch=self.watch, clients=clients, seconds=seconds, step=self.step
        )
        if self.presigned:
            self.presigned.observed(run)
        return run


async def interleaved(loads: list[Load], *, clients: int, plan: Plan) -> list[Run]:
    """Warm each load up, then run them in alternating blocks, each going first in turn."""
    for load in loads:
        await load.run(clients, plan.warmup_seconds)
    runs: dict[Load, list[Run]] = {load: [] for load in loads}
    for round_no in range(plan.rounds):
        turn = round_no % len(loads)
        for load in loads[turn:] + loads[:turn]:
            runs[load].append(await load.run(clients, plan.block_seconds))
    return [Run.combine(runs[load]) for load in loads]


async def check(target: Target, credited: dict[str, int]) -> int:
    """Every order credited, per provider once per answer that said "taken"; every
    notification too; books sound."""
    db = Database.from_settings(load_settings(database_url=target.url))
    orders, inbox = topup_tables.orders, payment_tables.inbox

    async def read(conn: AsyncConnection) -> tuple[dict[str, int], dict[str, int], int]:
        states = await conn.execute(
            select(orders.c.provider, orders.c.state, func.count()).group_by(
                orders.c.provider, orders.c.state
            )
        )
        statuses = await conn.execute(
            select(inbox.c.provider, inbox.c.status, func.count()).group_by(
                inbox.c.provider, inbox.c.status
            )
        )
        report = await ledger.check_books(conn)
        if not report.ok:
            raise RuntimeError(f"ledger check failed: {report.problems[:5]}")
        return _by_provider(states.tuples()), _by_provider(statuses.tuples()), report.journals

    try:
        orders_credited, notifications_credited, journals = await db.transaction(read)
    finally:
        await db.dispose()
    if orders_credited != credited or notifications_credited != credited:
        raise RuntimeError(
            f"notify answers that said taken: {credited}, but credited orders are "
            f"{orders_credited} and credited notifications {notifications_credited} "
            "(anything else is in neither)"
        )
    return journals


def _by_provider(rows: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """Credited rows per provider; any other state counts under ``provider:state``."""
    found: dict[str, int] = {}
    for provider, state, count in rows:
        key = provider if state == "credited" else f"{provider}:{state}"
        found[key] = found.get(key, 0) + count
    return found
