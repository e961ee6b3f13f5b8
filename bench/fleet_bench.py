"""The retention run on the worker fleet: how its time changes with 1, 2 and 4 workers.

The SIMs are loaded as for the one-process run (``retention_bench.load``), as of now, into a
fresh PostgreSQL database. Then N ``simkeep worker`` processes start with
``SIMKEEP_QUEUE_URL`` (RabbitMQ on 127.0.0.1, queues of the run's own) and the day's run due
(``SIMKEEP_RETENTION_RUN_AT=00:00``): one of them gets the tick, opens today's run and cuts
it into chunks of SIM ids; every worker takes chunks; the next tick closes the day when the
last chunk is done. The time is the run's own, from its opening to its close as the
database recorded them (``retention_runs.started_at`` → ``finished_at``), so the workers'
start is not counted. The workers are then stopped (by PID) and the queues deleted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import retention_bench
from bench.targets import OUT, drop, fresh
from chaos.queues import Queues
from simkeep.clock import in_hong_kong
from simkeep.db import Database
from simkeep.jobs import pieces
from simkeep.retention import tables as rt
from simkeep.settings import load_settings

BROKER = os.environ.get("SIMKEEP_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
SIMS = 400_000
WORKERS = (1, 2, 4)
THREADS = 4  # SIMKEEP_WORKER_THREADS: chunks a worker runs at once
TIMEOUT = 900.0


@dataclass(frozen=True, slots=True)
class FleetRun:
    workers: int
    sims: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.sims / self.seconds


async def run_with(workers: int, count: int) -> FleetRun:
    """Load ``count`` SIMs and time today's retention run on ``workers`` workers."""
    target = await fresh("postgresql", f"fleet{workers}")
    queues = Queues(BROKER, f"bench-{uuid.uuid4().hex[:8]}")
    db = Database.from_settings(load_settings(database_url=target.url))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await retention_bench.load(db, target, count, datetime.now(UTC))
        await db.transaction(lambda conn: conn.exec_driver_sql("ANALYZE"))
        day = in_hong_kong(datetime.now(UTC)).date()
        processes = [_worker(target.url, queues.prefix, n) for n in range(1, workers + 1)]
        deadline = time.monotonic() + TIMEOUT
        while (span := await _span(db, day)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the fleet of {workers} did not finish in {TIMEOUT:.0f} s")
            await asyncio.sleep(0.2)
        return FleetRun(workers, count, span)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        await db.dispose()
        await drop(target)
        queues.delete()


def _worker(url: str, prefix: str, n: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SIMKEEP_DATABASE_URL": url,
        "SIMKEEP_QUEUE_URL": BROKER,
        "SIMKEEP_QUEUE_PREFIX": prefix,
        "SIMKEEP_WORKER_THREADS": str(THREADS),
        "SIMKEEP_RETENTION_RUN_AT": "00:00",
        "SIMKEEP_RECONCILE_AT": "",
        "SIMKEEP_SIMULATORS_URL": "http://127.0.0.1:9",  # no orders to ask about here
        "SIMKEEP_LOG_LEVEL": "WARNING",
    }
    OUT.mkdir(exist_ok=True)
    with (OUT / f"fleet-worker-{n}.log").open("wb") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "simkeep"), "worker", "--every", "0.2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _span(db: Database, day: date) -> float | None:
    async def read(conn: AsyncConnection) -> float | None:
        r = rt.runs.c
        row = (await conn.execute(select(r.started_at, r.finished_at).where(r.day == day))).first()
        if row is None or row.finished_at is None:
            return None
        return float((row.finished_at - row.started_at).total_seconds())

    return await db.read(read)


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md."""
    count = 20_000 if quick else SIMS
    lines = [
        "",
        "## The retention run on the worker fleet",
        "",
        f"Today's retention run over {count:,} SIMs (loaded as above) by 1, 2 and 4 "
        f"`simkeep worker` processes on RabbitMQ (`bench/fleet_bench.py`), {THREADS} "
        f"threads each, in chunks of {pieces.CHUNK:,} SIM ids "
        "([scaling.md](scaling.md)). The time is the run's own, from its opening to its "
        "close as the database recorded them; the database, the broker and the workers share "
        "this machine's cores. A worker runs up to four chunks at once (its threads hand them "
        "to its one event loop), so the database works on one chunk while Python steps "
        "another — unlike the one-process run above, which does one batch at a time.",
        "",
        "| workers | SIMs | seconds | SIMs/s | against one worker |",
        "|---:|---:|---:|---:|---:|",
    ]
    runs = [await run_with(workers, count) for workers in WORKERS]
    for run in runs:
        print(f"fleet retention run, {run.workers} workers: {run.seconds:.1f} s")
        lines.append(
            f"| {run.workers} | {run.sims:,} | {run.seconds:.1f} | {run.per_second:,.0f} "
            f"| {runs[0].seconds / run.seconds:.2f}× |"
        )
    return lines
