"""The top-up scenario: concurrent subscribers top up and get credited through the real app.

Design overview
---------------
Per database, one fresh database holds the product's schema and the ceiling's TPC-B tables.
Before anything is timed: the chart of accounts, the plans, an HKD→CNY rate and
``SIMS_PER_CLIENT`` SIMs per client (alternately HKD and CNY plans, so half the top-ups
convert currency) are seeded through the services; the keys are made in a temporary
``keys_dir`` (so the server's workers find them and never race to make them); the product
(``simkeep.app:asgi``, simulators on, worker loop off) and the ceiling
(``bench.ceiling_app``) are started with the same uvicorn command line and worker count; one
subscriber per client registers through the API (code read from the SMS outbox) and keeps
its bearer token.

One top-up is what a subscriber on a phone and the provider do: ``POST /api/v1/topups``
(bearer token, a fresh ``Idempotency-Key``, the number typed twice, Alipay WAP: the server
signs the cashier link), then the provider's signed ``trade_status_sync`` notification for
that order to ``POST /api/v1/payments/alipay/notify``, which must answer ``success``.

Notifications are signed before the measured runs (``Presigned``): an order's number is
``T`` + the Hong Kong date + its id, and ids come from a sequence, so before each run the
client reads the next id and signs, with an Alipay simulator of its own built from the same
``keys_dir`` (same platform key, app id and seller id as the server's), the notifications of
the orders the run may create, for both prices a bench top-up can have. A notification the
pool lacks (a run faster than foreseen, or a date change) is signed in the loop and counted.
create→credited runs from the create request's start to the notify answer.

One provider is measured, Alipay; its WAP link is signed locally, as WeChat Pay's H5 order
is not: a QR or H5 order adds a server-to-provider call.

Top-ups and the ceiling are measured in interleaved blocks at each concurrency, after a
warm-up, so a noisy neighbour slows both alike; py-spy then profiles the product under the
highest concurrency in a separate run (so the sampling never touches the figures). Afterwards,
with the servers stopped: every order is ``credited``, as many as notify answers said
``success``, every notification in the inbox is ``credited``, and ``ledger.check_books``
passes.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import ceiling_app
from bench.loadgen import Connection, Run, Step, Watch, closed_loop
from bench.server import Profile, free_port, profile, serve
from bench.targets import OUT, Target, drop, fresh
from simkeep.clock import SystemClock, in_hong_kong
from simkeep.db import Database
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payments import tables as payment_tables
from simkeep.settings import load_settings
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, luhn_complete
from simkeep.simulators.alipay import AlipaySimulator
from simkeep.simulators.alipay_trades import SimTrade
from simkeep.simulators.embedded import EmbeddedProviders
from simkeep.topups import service as topups
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import FxRate

SIMS_PER_CLIENT = 32
BENCH_RATE = Decimal("0.92")  # HKD→CNY
PASSWORD = "bench horse 4242"
NOTIFY_PATH = "/api/v1/payments/alipay/notify"
FORM = "Content-Type: application/x-www-form-urlencoded\r\n"


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
class Figures:
    """One database's results: per concurrency, the top-ups and the ceiling."""

    name: str
    workers: int
    topups: dict[int, Run]
    ceiling: dict[int, Run]
    profile: Profile
    profile_file: Path
    credited: int
    journals: int
    signed_in_loop: int


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
    credited: int = 0  # notify answers that said "success"
    signed_in_loop: int = 0  # notifications the pool did not hold, signed during the run


@dataclass
class Presigned:
    """Alipay's signed notifications, made before the runs, for the orders to come.

    An order's number is ``T`` + the Hong Kong date + its id, and ids come in sequence, so
    the notification for each next order can be signed ahead, for both prices a bench
    top-up can have (a CNY SIM's ¥100, an HKD SIM's HK$100 paid in CNY at the bench rate)."""

    alipay: AlipaySimulator
    target: Target
    prices: tuple[Money, ...]
    bodies: dict[tuple[str, int], bytes] = field(default_factory=dict)
    rate: float = 400.0  # top-ups per second to sign ahead for; raised as runs show more

    async def refill(self, seconds: float) -> None:
        """Sign ahead for the orders a run of ``seconds`` may make (and half as many more)."""
        first = await _next_order_id(self.target)
        wanted = range(first, first + int(self.rate * seconds * 1.5) + 200)
        day = f"T{in_hong_kong(SystemClock().now()):%Y%m%d}"
        self.bodies = {key: body for key, body in self.bodies.items() if int(key[0][-10:]) >= first}
        for serial in wanted:
            order_no = f"{day}{serial:010d}"
            for variant, price in enumerate(self.prices):
                if (order_no, price.minor) not in self.bodies:
                    body = _paid(self.alipay, order_no, price, serial * 2 + variant)
                    self.bodies[order_no, price.minor] = body

    def take(self, order_no: str, price: Money, tally: Tally) -> bytes:
        body = self.bodies.pop((order_no, price.minor), None)
        if body is None:
            tally.signed_in_loop += 1
            body = _paid(self.alipay, order_no, price, 0)
        return body

    def observed(self, run: Run) -> None:
        self.rate = max(self.rate, run.per_second)


async def measure(name: str, *, workers: int, plan: Plan) -> Figures:
    """Seed, serve, load, profile and check one database (``sqlite`` or ``postgresql``)."""
    clients = max(plan.clients)
    target = await fresh(name, "topup")
    keys_dir = Path(tempfile.mkdtemp(prefix="simkeep-bench-keys-"))
    try:
        numbers = await _seed(target, clients * SIMS_PER_CLIENT)
        await ceiling_app.create_tables(target)
        port, ceiling_port = free_port(), free_port()
        env = {
            "SIMKEEP_DATABASE_URL": target.url,
            "SIMKEEP_RUN_JOBS": "false",
            "SIMKEEP_SIMULATORS": "true",
            "SIMKEEP_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "SIMKEEP_KEYS_DIR": str(keys_dir),
        }
        presigned = Presigned(await _provider(env), target, _prices())
        tally = Tally()
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
            tokens = await _sign_up(product.port, target, clients)
            payers = [
                Payer(token, numbers[i * SIMS_PER_CLIENT : (i + 1) * SIMS_PER_CLIENT])
                for i, token in enumerate(tokens)
            ]
            database = make_url(target.url).database if name == "postgresql" else None
            topup = Load(
                product.port,
                Watch(product.pid, database),
                _topup_step(payers, presigned, tally),
                presigned,
            )
            tpcb = Load(ceiling.port, Watch(ceiling.pid, database), _ceiling_step)
            topup_runs: dict[int, Run] = {}
            ceiling_runs: dict[int, Run] = {}
            for count in plan.clients:
                topup_runs[count], ceiling_runs[count] = await _interleaved(
                    topup, tpcb, clients=count, plan=plan
                )
            out = OUT / f"topup-{name}.pyspy.txt"
            _, found = await profile(
                product, lambda: topup.run(clients, plan.profile_seconds), rate=100, out=out
            )
        journals = await _check(target, tally.credited)
    finally:
        shutil.rmtree(keys_dir, ignore_errors=True)
        await drop(target)
    return Figures(
        name,
        workers,
        topup_runs,
        ceiling_runs,
        found,
        out,
        tally.credited,
        journals,
        tally.signed_in_loop,
    )


async def _seed(target: Target, count: int) -> list[tuple[str, str]]:
    """Plans, the HKD→CNY rate and ``count`` SIMs; the number to top up of each SIM."""
    db = Database.from_settings(load_settings(database_url=target.url))
    now = SystemClock().now()

    async def work(conn: AsyncConnection) -> list[tuple[str, str]]:
        await sims.ensure_plans(conn)
        await topups.set_fx_rate(
            conn, base="HKD", quote_currency="CNY", rate=BENCH_RATE, source="bench", now=now
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


async def _provider(env: dict[str, str]) -> AlipaySimulator:
    """Make the keys the server will load, and the client's own Alipay simulator on them."""
    settings = load_settings(
        database_url=env["SIMKEEP_DATABASE_URL"],
        public_url=env["SIMKEEP_PUBLIC_URL"],
        keys_dir=env["SIMKEEP_KEYS_DIR"],
    )
    providers = EmbeddedProviders.build(settings, SystemClock())
    await providers.close()  # only its HTTP client; the simulator needs none to sign
    return providers.alipay


async def _sign_up(port: int, target: Target, count: int) -> list[str]:
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


def _topup_step(payers: list[Payer], presigned: Presigned, tally: Tally) -> Step:
    """One top-up: create the order, then deliver its paid notification, signed ahead."""
    serial = itertools.count()

    async def step(connection: Connection, client: int) -> float:
        payer = payers[client]
        number, currency = payer.next_number()
        key = next(serial)
        body = {
            "number": number,
            "confirm_number": number,
            "amount": {"minor": 10_000, "currency": currency},
            "pay_currency": "CNY",
            "provider": "alipay",
            "channel": "wap",
        }
        headers = (
            f"Authorization: Bearer {payer.token}\r\nIdempotency-Key: bench-{key:010d}\r\n"
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
        notification = presigned.take(str(order["order_no"]), price, tally)
        ack = await connection.request("POST", NOTIFY_PATH, body=notification, headers=FORM)
        if (ack.status, ack.body) != (200, b"success"):
            raise RuntimeError(f"notify answered {ack.status}: {ack.body[:300]!r}")
        tally.credited += 1
        return (time.perf_counter() - began) * 1000

    return step


def _prices() -> tuple[Money, ...]:
    """What a bench top-up (100 of the SIM's currency, paid in CNY) can cost."""
    hkd_in_cny = FxRate("HKD", "CNY", BENCH_RATE).convert(Money(10_000, "HKD"))
    return (Money(10_000, "CNY"), hkd_in_cny)


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


def _paid(alipay: AlipaySimulator, order_no: str, price: Money, serial: int) -> bytes:
    """The payer paid the order's trade: Alipay's signed notification, as a form body."""
    alipay.trades[order_no] = SimTrade(
        out_trade_no=order_no,
        trade_no=f"2026{serial:024d}",
        amount=price,
        subject="中港卡充值",
        notify_url=NOTIFY_PATH,
        return_url="",
        created_at=SystemClock().now(),
        opened=True,
    )
    alipay.pay(order_no)
    form = alipay.deliveries.pop().form
    del alipay.trades[order_no]
    return urlencode(form).encode()


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


async def _interleaved(topup: Load, ceiling: Load, *, clients: int, plan: Plan) -> tuple[Run, Run]:
    """Warm both up, then alternate blocks of top-ups and of the ceiling."""
    for load in (topup, ceiling):
        await load.run(clients, plan.warmup_seconds)
    runs: dict[Load, list[Run]] = {topup: [], ceiling: []}
    for round_no in range(plan.rounds):
        for load in (topup, ceiling) if round_no % 2 == 0 else (ceiling, topup):
            runs[load].append(await load.run(clients, plan.block_seconds))
    return Run.combine(runs[topup]), Run.combine(runs[ceiling])


async def _check(target: Target, credited: int) -> int:
    """Every order credited, once per ``success``; every notification too; books sound."""
    db = Database.from_settings(load_settings(database_url=target.url))
    orders, inbox = topup_tables.orders, payment_tables.inbox

    async def read(conn: AsyncConnection) -> tuple[dict[str, int], dict[str, int], int]:
        states = await conn.execute(select(orders.c.state, func.count()).group_by(orders.c.state))
        statuses = await conn.execute(select(inbox.c.status, func.count()).group_by(inbox.c.status))
        report = await ledger.check_books(conn)
        if not report.ok:
            raise RuntimeError(f"ledger check failed: {report.problems[:5]}")
        return dict(states.tuples().all()), dict(statuses.tuples().all()), report.journals

    try:
        states, statuses, journals = await db.transaction(read)
    finally:
        await db.dispose()
    if states != {"credited": credited} or statuses != {"credited": credited}:
        raise RuntimeError(
            f"{credited} notify answers said success, but orders are {states} "
            f"and notifications {statuses}"
        )
    return journals
