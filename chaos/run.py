"""``make chaos``: a bank test of simkeep under crashes, database restarts and broken
connections (``python -m chaos.run``).

Design overview
---------------
``Harness`` starts everything in a temporary directory and stops only what it started:

1. a PostgreSQL cluster of its own (``chaos.cluster``: ``initdb``, its own port) — or, with
   ``CHAOS_DATABASE=sqlite``, a SQLite file — migrated by ``simkeep db upgrade`` and given
   plans, an FX rate and SIMs (``chaos.setup``);
2. the provider simulators in their own process (``simkeep simulators serve``: the
   providers' real retry ladders, scaled down, plus echoed notifications out of order);
3. one web app (``simkeep serve``, ``SIMKEEP_RUN_JOBS=false``) and two workers
   (``simkeep worker``), which reach PostgreSQL through a faulty TCP proxy, while the
   simulators reach the app's notify URL (its public URL) through another.

Then the workload (``chaos.workload``) and the nemesis (``chaos.nemesis``) run together for
``CHAOS_SECONDS``; the recovery phase heals every fault, settles every unknown operation
with its own idempotency key, and waits for the workers to drain (every order expired or
credited, every paid trade credited, every SMS sent); the checker (``chaos.checker``)
prints its figures. The exit status is 1 if a figure is wrong. ``REPORT=1`` writes the run
into ``docs/reliability.md``. The processes' logs are kept in ``var/chaos/`` after a run.

Settings (environment): ``CHAOS_SECONDS`` (300), ``CHAOS_CLIENTS`` (16),
``CHAOS_DATABASE`` (postgresql | sqlite | cluster), ``CHAOS_SEED`` (20261130), ``REPORT``;
``CHAOS_QUEUE_URL`` (the workers on RabbitMQ). With ``cluster`` the database is
``make cluster``'s (``cluster.run``: Patroni's three PostgreSQL servers, HAProxy,
pgbouncer; the app reads off the replicas) and the nemesis kills the primary.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chaos import report
from chaos.checker import CREDITED, Figure, Tally, check
from chaos.cluster import PostgresCluster, find_bin_dir
from chaos.counter_ops import CounterWorld
from chaos.counter_setup import CounterStock, prepare_counters
from chaos.database_faults import PrimaryKill, ServerCrash
from chaos.nemesis import Nemesis
from chaos.ports import free_port
from chaos.processes import Process, Spec
from chaos.proxy import FaultyProxy
from chaos.push_figures import exactly_paid, read_pushed, trade_providers, unaccounted
from chaos.queues import Queues
from chaos.reconcile_figures import reconcile_figures
from chaos.reconcile_ops import bills_early, days_of, reconcile_days, run_again
from chaos.refund_figures import OPEN, ever_paid
from chaos.refund_ops import prepare_refund_staff, refund_settings
from chaos.setup import IssuedCard, network_token, prepare
from chaos.workload import Card, Person, World, run_clients, settle_unknown
from cluster.run import Cluster
from cluster.shape import Layout
from simkeep.db import Database
from simkeep.notifications.tables import outbox
from simkeep.refunds import tables as rt
from simkeep.retention.model import day_of
from simkeep.settings import load_settings
from simkeep.topups import tables as tt

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_PORTS = 15600  # the Patroni cluster's ports start here (make cluster's at 15400)
BIN = Path(sys.executable).parent
LOGS = ROOT / "var" / "chaos"
ORDER_TTL_SECONDS = 20
TIME_SCALE = 0.01  # the providers' retry ladders: Alipay's 4 min becomes 2.4 s
ECHO_PERCENT = 20
WORKERS = 2
SETTLE_SECONDS = 180
DRAIN_SECONDS = ORDER_TTL_SECONDS + 150  # past expiry, polling backs off to a minute
SECRET_KEY = "chaos-" + "k" * 40
KEEPALIVE_SCAN_SECONDS = 2  # the workers look the keep-alive rules over this often
# The operator's retention runs go days ahead, which lapses the SIMs auto keep-alive would
# charge today: the first waits this long (at most half the workload).
KEEPALIVE_HEAD_START = 30.0


@dataclass(frozen=True, slots=True)
class Config:
    seconds: float
    clients: int
    database: str
    seed: int
    write_report: bool
    queue_url: str  # the workers as a fleet on RabbitMQ; empty: each runs every job

    @classmethod
    def from_environment(cls) -> Config:
        database = os.environ.get("CHAOS_DATABASE", "postgresql")
        if database not in ("postgresql", "sqlite", "cluster"):
            raise SystemExit("CHAOS_DATABASE is postgresql, sqlite or cluster")
        return cls(
            seconds=float(os.environ.get("CHAOS_SECONDS", "300")),
            clients=int(os.environ.get("CHAOS_CLIENTS", "16")),
            database=database,
            seed=int(os.environ.get("CHAOS_SEED", "20261130")),
            write_report=os.environ.get("REPORT", "") == "1",
            queue_url=os.environ.get("CHAOS_QUEUE_URL", ""),
        )

    @property
    def shape(self) -> str:
        return f"{self.database}, workers on RabbitMQ" if self.queue_url else self.database


@dataclass
class Result:
    figures: list[Figure]
    tally: Tally
    timeline: list[Any]
    config: Config
    started_at: datetime
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(figure.ok for figure in self.figures)


@dataclass(frozen=True, slots=True)
class Started:
    database_url: str  # direct, not through the proxy: for the setup and the checker
    app_url: str
    simulators_url: str
    nemesis: Nemesis
    env: dict[str, str]  # the app's and workers' settings: for the operator's commands


class Harness:
    """Everything one run starts, to be stopped again by ``close``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.workdir = Path(tempfile.mkdtemp(prefix="simkeep-chaos-"))
        self.workdir.chmod(0o755)  # the cluster inside is run by the postgres user
        self.cluster: PostgresCluster | None = None
        self.patroni: Cluster | None = None  # CHAOS_DATABASE=cluster
        self.proxies: list[FaultyProxy] = []
        self.processes: list[Process] = []
        self.queues = Queues(config.queue_url, f"chaos-{uuid.uuid4().hex[:8]}")

    def start(self) -> Started:
        """Start the database, the simulators, the proxies, the app and the workers."""
        LOGS.mkdir(parents=True, exist_ok=True)
        for old in LOGS.glob("*.log"):
            old.unlink()
        app_port, notify_port, sim_port = free_port(), free_port(), free_port()
        db_proxy = None
        if self.config.database == "postgresql":
            self.cluster = PostgresCluster(self.workdir / "pg", free_port())
            self.cluster.create()
            direct = self.cluster.url
            db_proxy = FaultyProxy(
                "app ↔ postgresql", listen_port=free_port(), target_port=self.cluster.port
            )
            served = self.cluster.url_at(db_proxy.listen_port)
        elif self.config.database == "cluster":
            layout = Layout(self.workdir / "patroni", find_bin_dir(), CLUSTER_PORTS, free_port())
            self.patroni = Cluster(layout, queues=Queues("", ""))
            self.patroni.up(simkeep=False)
            direct = layout.database_url
            db_proxy = FaultyProxy(
                "app ↔ pgbouncer", listen_port=free_port(), target_port=layout.pgbouncer_port
            )
            served = f"postgresql://postgres@127.0.0.1:{db_proxy.listen_port}/simkeep"
        else:
            direct = served = f"sqlite:///{self.workdir / 'simkeep.db'}"
        sim_url = f"http://127.0.0.1:{sim_port}"
        env = {
            **os.environ,
            "SIMKEEP_ENVIRONMENT": "development",
            "SIMKEEP_SECRET_KEY": SECRET_KEY,
            # every client of the run comes from 127.0.0.1: the per-address PIN limit would
            # stop all of them together; the per-number and per-account limits still hold
            "SIMKEEP_VOUCHER_FAILURES_PER_ADDRESS": "1000000",
            "SIMKEEP_KEYS_DIR": str(self.workdir / "keys"),
            "SIMKEEP_SIMULATORS": "true",
            "SIMKEEP_SIMULATORS_URL": sim_url,
            "SIMKEEP_PUBLIC_URL": f"http://127.0.0.1:{notify_port}",
            "SIMKEEP_RUN_JOBS": "false",
            "SIMKEEP_ORDER_TTL_SECONDS": str(ORDER_TTL_SECONDS),
            "SIMKEEP_KEEPALIVE_SCAN_SECONDS": str(KEEPALIVE_SCAN_SECONDS),
            "SIMKEEP_LOG_LEVEL": "WARNING",
            "SIMKEEP_DATABASE_URL": direct,
            "SIMKEEP_QUEUE_URL": self.config.queue_url,
            "SIMKEEP_QUEUE_PREFIX": self.queues.prefix,
            "SIMKEEP_REPLICA_URLS": self.patroni.layout.replicas_url if self.patroni else "",
            **refund_settings(),
        }
        subprocess.run([str(BIN / "simkeep"), "db", "upgrade"], env=env, check=True)
        served_env = {**env, "SIMKEEP_DATABASE_URL": served}
        simulators = Process(
            Spec(
                "simulators",
                [
                    *(str(BIN / "simkeep"), "simulators", "serve", "--port", str(sim_port)),
                    *("--time-scale", str(TIME_SCALE), "--echo-percent", str(ECHO_PERCENT)),
                    *("--seed", str(self.config.seed)),
                ],
                env,
                LOGS / "simulators.log",
                ready_url=f"{sim_url}/_sim/records",
            )
        )
        app = Process(
            Spec(
                "app",
                [str(BIN / "simkeep"), "serve", "--port", str(app_port)],
                served_env,
                LOGS / "app.log",
                ready_url=f"http://127.0.0.1:{app_port}/healthz",
            )
        )
        workers = [
            Process(
                Spec(
                    f"worker-{n}",
                    [str(BIN / "simkeep"), "worker", "--every", "0.5"],
                    served_env,
                    LOGS / f"worker-{n}.log",
                )
            )
            for n in range(1, WORKERS + 1)
        ]
        notify_proxy = FaultyProxy(
            "simulators → app", listen_port=notify_port, target_port=app_port
        )
        self.proxies = [notify_proxy] + ([db_proxy] if db_proxy else [])
        for proxy in self.proxies:
            proxy.start()
        self.processes = [simulators, app, *workers]
        for process in self.processes:
            process.start()
        nemesis = Nemesis(
            seed=self.config.seed,
            app=app,
            workers=workers,
            notify_proxy=notify_proxy,
            database=(
                ServerCrash(self.cluster)
                if self.cluster
                else PrimaryKill(self.patroni)
                if self.patroni
                else None
            ),
            db_proxy=db_proxy,
        )
        return Started(direct, f"http://127.0.0.1:{app_port}", sim_url, nemesis, served_env)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        for proxy in self.proxies:
            proxy.stop()
        if self.cluster is not None:
            self.cluster.remove()
        if self.patroni is not None:
            self.patroni.down()
        self.queues.delete()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def run(config: Config, harness: Harness) -> Result:
    started_at = datetime.now(UTC)
    started = harness.start()
    app_url, sim_url, nemesis = started.app_url, started.simulators_url, started.nemesis
    db = Database.from_settings(load_settings(database_url=started.database_url))
    phases: dict[str, float] = {}
    try:
        stock = await prepare(
            db, people=config.clients, secret_key=SECRET_KEY, now=datetime.now(UTC)
        )
        counters = await prepare_counters(db, secret_key=SECRET_KEY, now=datetime.now(UTC))
        await prepare_refund_staff(db, now=datetime.now(UTC))
        shared = _counter_world(counters, stock)
        people = [_person(n, cards, config.seed, shared) for n, cards in enumerate(stock)]
        operator = Person(len(people), "", [], random.Random(config.seed), role="operator")
        async with httpx.AsyncClient(timeout=15.0, headers={"Accept-Language": "en"}) as http:
            world = World(app_url, sim_url, http, cli=(str(BIN / "simkeep"),), cli_env=started.env)
            await bills_early(http, sim_url)
            first_day = day_of(datetime.now(UTC))
            world.network_token = await network_token(db, now=datetime.now(UTC))
            world.counter = shared
            people.append(operator)
            people += _clerks(counters, len(people), config.seed, shared)
            clock = time.monotonic()
            world.retention_after = clock + min(KEEPALIVE_HEAD_START, config.seconds / 2)
            print(f"workload: {config.clients} clients for {config.seconds:.0f} s, with faults")
            await asyncio.gather(
                run_clients(people, world, seconds=config.seconds), nemesis.run(config.seconds)
            )
            phases["workload"] = time.monotonic() - clock
            print(f"faults injected: {len(nemesis.timeline)}; recovering")
            clock = time.monotonic()
            await asyncio.to_thread(nemesis.heal_everything)
            await settle_unknown(people, world, seconds=SETTLE_SECONDS)
            for person in people:
                if person.browser is not None:
                    await person.browser.aclose()
            phases["settle"] = time.monotonic() - clock
            clock = time.monotonic()
            records = await _drain(db, http, sim_url)
            phases["drain"] = time.monotonic() - clock
            clock = time.monotonic()
            days = days_of(first_day, day_of(datetime.now(UTC)))
            await reconcile_days(world, days, random.Random(config.seed))
            again = await run_again(db, world, days)
            phases["reconcile"] = time.monotonic() - clock
        flat = [card for cards in stock for card in cards]
        figures, tally = await check(db, records, world.attempts, world.anomalies, flat)
        figures += await reconcile_figures(db, records, days=days, again=again)
    finally:
        await db.dispose()
    return Result(figures, tally, nemesis.timeline, config, started_at, phases)


def _person(index: int, cards: list[IssuedCard], seed: int, counter: CounterWorld) -> Person:
    return Person(
        index=index,
        phone=f"+86138{index * 7919:08d}",  # a Mainland phone: valid for any eight digits
        cards=[Card(card.number, card.currency, lapsing=card.lapsing) for card in cards],
        rng=random.Random(seed * 1000 + index),
        counter=counter,
    )


def _counter_world(counters: CounterStock, stock: list[list[IssuedCard]]) -> CounterWorld:
    """The vouchers to sell, and the numbers the counters top up, by currency."""
    shared = CounterWorld()
    for voucher in counters.vouchers:
        shared.unsold.setdefault(voucher.face.currency, []).append(voucher)
    for card in (card for cards in stock for card in cards if not card.lapsing):
        shared.numbers.setdefault(card.currency, []).append(card.number)
    return shared


def _clerks(counters: CounterStock, first: int, seed: int, shared: CounterWorld) -> list[Person]:
    return [
        Person(
            first + n,
            "",
            [],
            random.Random(seed * 7 + n),
            role="clerk",
            counter=shared,
            clerk=clerk,
        )
        for n, clerk in enumerate(counters.clerks)
    ]


async def _drain(db: Database, http: httpx.AsyncClient, sim_url: str) -> dict[str, Any]:
    """Wait until the workers are done: no order waiting for payment, every trade the
    providers say was paid credited, every pushed payment matched or in review, every SMS
    sent, every expired trade closed, every approved refund paid back or refused by its
    provider."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        records = (await http.get(f"{sim_url}/_sim/records")).json()
        left = await db.transaction(partial(_left, records=records))
        if not left or time.monotonic() > deadline:
            if left:
                print(f"drain: gave up with {left}")
            return dict(records)
        await asyncio.sleep(2.0)


async def _left(conn: AsyncConnection, *, records: dict[str, Any]) -> dict[str, int]:
    o = tt.orders.c
    counted = await conn.execute(select(o.state, func.count().label("orders")).group_by(o.state))
    states: dict[str, int] = {row.state: row.orders for row in counted}
    credited = {
        row.order_no for row in await conn.execute(select(o.order_no).where(o.state.in_(CREDITED)))
    }
    pushed = await read_pushed(conn)
    paid = [
        trade["out_trade_no"]
        for provider in trade_providers(records)
        for trade in records[provider]
        if ever_paid(trade)
    ]
    paid += exactly_paid(records, pushed)
    unsent = (
        await conn.execute(select(func.count()).where(outbox.c.sent_at.is_(None)))
    ).scalar_one()
    unclosed = (
        await conn.execute(
            select(func.count()).where(o.state == "expired", o.close_due_at.is_not(None))
        )
    ).scalar_one()
    sending = (
        await conn.execute(select(func.count()).where(rt.refunds.c.state.in_(OPEN)))
    ).scalar_one()
    left = {
        "waiting orders": sum(states.get(s, 0) for s in ("created", "awaiting_payment", "paid")),
        "paid trades not credited": sum(1 for no in paid if no not in credited),
        "pushed payments not taken": unaccounted(records, pushed),
        "SMS not sent": unsent,
        "trades not closed": unclosed,
        "refunds approved or processing": sending,
    }
    return {name: count for name, count in left.items() if count}


def _stop(signum: int, _frame: object) -> None:
    """A SIGTERM ends the run as an error does: the processes, proxies and cluster it
    started are stopped and its folder removed before it exits."""
    raise SystemExit(128 + signum)


def main() -> None:
    config = Config.from_environment()
    signal.signal(signal.SIGTERM, _stop)
    harness = Harness(config)
    try:
        result = asyncio.run(run(config, harness))
    finally:
        harness.close()
    report.print_result(result)
    if config.write_report:
        report.write(result, ROOT / "docs" / "reliability.md")
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
