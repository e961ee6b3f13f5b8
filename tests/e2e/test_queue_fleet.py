"""A fleet on RabbitMQ, on both databases: two ``simkeep worker`` processes with
``SIMKEEP_QUEUE_URL`` send every SMS of the outbox once between them, run the day's
retention run in chunks to its end, and leave their queues empty. A worker killed in the
middle of the outbox (``kill -9``) loses nothing: the next one finishes the work, and what
the dead one held is published again when its lease runs out. Needs RabbitMQ
(``tests.conftest.require_rabbitmq``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast

import dramatiq
import pika
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chaos.queues import Queues
from simkeep.clock import SystemClock, in_hong_kong
from simkeep.db import Database
from simkeep.jobs import pieces, relay
from simkeep.jobs.queue import Fleet, Gateways, rabbitmq
from simkeep.jobs.tables import tasks
from simkeep.notifications import service as notifications
from simkeep.notifications.tables import outbox, sms_inbox
from simkeep.retention import tables as rt
from simkeep.settings import load_settings
from tests.conftest import RABBITMQ, require_rabbitmq
from tests.factories import issue_sim, seed_books

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 60
T = TypeVar("T")


@pytest.fixture
def queue_prefix() -> Iterator[str]:
    """A prefix of queues of this test's own on the broker, deleted after it."""
    require_rabbitmq()
    prefix = f"simkeep-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    Queues(RABBITMQ, prefix).delete()


def depth(prefix: str) -> int:
    """Messages waiting or unacknowledged in the fleet's queues."""
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
    channel = connection.channel()
    total = 0
    for queue in (f"{prefix}.messages", f"{prefix}.work"):
        total += channel.queue_declare(queue, passive=True).method.message_count
    connection.close()
    return total


def start_worker(
    database_url: str, prefix: str, log: Path, *, retention: bool = True
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SIMKEEP_DATABASE_URL": database_url,
        "SIMKEEP_QUEUE_URL": RABBITMQ,
        "SIMKEEP_QUEUE_PREFIX": prefix,
        "SIMKEEP_SIMULATORS_URL": "http://127.0.0.1:9",  # nobody: no order to ask about here
        "SIMKEEP_RETENTION_RUN_AT": "00:00" if retention else "",
        "SIMKEEP_RECONCILE_AT": "",  # no provider to fetch bills from here
        "SIMKEEP_WORKER_THREADS": "4",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "simkeep"), "worker", "--every", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def prepare(db: Database, now: datetime) -> None:
    async def add(conn: AsyncConnection) -> None:
        await seed_books(conn, now=now)
        for n in range(1, 6):
            await issue_sim(conn, n=n, plan="HK-KEEP", now=now)
        for n in range(MESSAGES):
            await notifications.queue_sms(conn, to="+85291234567", text=f"sms {n:03d}", now=now)

    await db.transaction(add)


async def progress(db: Database) -> tuple[list[str], int, bool]:
    """The SMS the carrier got, the outbox's rows not sent, and whether today's retention
    run finished (every chunk done)."""
    today = in_hong_kong(datetime.now(UTC)).date()

    async def read(conn: AsyncConnection) -> tuple[list[str], int, bool]:
        got = list((await conn.execute(select(sms_inbox.c.body))).scalars())
        unsent = (
            await conn.execute(select(func.count()).where(outbox.c.sent_at.is_(None)))
        ).scalar_one()
        finished = (
            await conn.execute(select(rt.runs.c.finished_at).where(rt.runs.c.day == today))
        ).scalar()
        open_tasks = (
            await conn.execute(select(func.count()).where(tasks.c.done_at.is_(None)))
        ).scalar_one()
        return got, int(unsent), finished is not None and open_tasks == 0

    return await db.read(read)


@pytest.mark.parametrize("kill_one", [False, True], ids=["both", "one-killed"])
async def test_two_workers_share_the_queue_and_lose_nothing(
    database_url: str, queue_prefix: str, tmp_path: Path, kill_one: bool
) -> None:
    db = Database.from_settings(load_settings(database_url=database_url))
    await prepare(db, datetime.now(UTC))
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(database_url, queue_prefix, logs[0], retention=not kill_one)]
    try:
        if kill_one:  # the first, alone, killed once it has sent something
            while not (await progress(db))[0]:  # noqa: ASYNC110 - another process's rows
                await asyncio.sleep(0.05)
            os.killpg(workers[0].pid, signal.SIGKILL)
            workers[0].wait()
        workers.append(start_worker(database_url, queue_prefix, logs[1]))
        deadline = time.monotonic() + (120 if kill_one else 60)
        while True:
            got, unsent, run_done = await progress(db)
            if (unsent == 0 and run_done) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        waiting = await asyncio.to_thread(depth, queue_prefix)
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
        await db.dispose()
    said = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
    assert unsent == 0, said
    assert run_done, said
    expected = [f"sms {n:03d}" for n in range(MESSAGES)]
    if kill_one:  # at least once: one the dead worker sent but had not marked goes again
        assert sorted(set(got)) == expected, said
    else:
        assert sorted(got) == expected, said  # each exactly once
    assert waiting == 0, said


class DownAtFirst:
    """The database as a worker sees it while it is cut off: the first ``failures``
    transactions fail to connect, the rest go through."""

    def __init__(self, db: Database, failures: int) -> None:
        self.db, self.failures, self.failed = db, failures, 0

    async def transaction(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self.failed < self.failures:
            self.failed += 1
            raise ConnectionRefusedError("the database is not there")
        return await self.db.transaction(work)


class Carrier:
    def __init__(self) -> None:
        self.received: list[str] = []
        self.got = asyncio.Event()

    async def send(self, *, to: str, text: str) -> None:
        self.received.append(text)
        self.got.set()


async def test_work_that_failed_for_want_of_its_database_runs_when_it_is_back(
    database_url: str, queue_prefix: str
) -> None:
    """A message whose work could not reach the database is retried by the queue after a
    backoff, and sent once — not left for the relay's five-minute redrive."""
    db = Database.from_settings(load_settings(database_url=database_url))
    now = datetime.now(UTC)
    await db.transaction(
        lambda conn: notifications.queue_sms(conn, to="+85291234567", text="back", now=now)
    )
    carrier, cut_off = Carrier(), DownAtFirst(db, failures=2)
    fleet = Fleet(
        rabbitmq(RABBITMQ),
        prefix=queue_prefix,
        loop=asyncio.get_running_loop(),
        clock=SystemClock(),
        context=pieces.Context(cast(Database, cut_off), {}, timedelta(0)),
        gateways=Gateways(carrier, None),
        jobs={},
    )
    worker = dramatiq.Worker(fleet.broker, queues=fleet.queues, worker_threads=2)
    try:
        assert await relay.relay_once(db, fleet, now=now) == 1
        await asyncio.to_thread(worker.start)
        with suppress(TimeoutError):
            await asyncio.wait_for(carrier.got.wait(), timeout=30)
        unsent = (await progress(db))[1]
    finally:
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(fleet.close)
        await db.dispose()
    assert cut_off.failed == 2
    assert carrier.received == ["back"]
    assert unsent == 0


async def test_a_failed_tick_is_not_retried(database_url: str, queue_prefix: str) -> None:
    """A tick whose job fails runs once: the next interval brings the next tick, so a
    retry would only pile runs up."""
    db = Database.from_settings(load_settings(database_url=database_url))
    runs: list[datetime] = []

    async def failing(now: datetime) -> None:
        runs.append(now)
        raise ConnectionRefusedError("the database is not there")

    fleet = Fleet(
        rabbitmq(RABBITMQ),
        prefix=queue_prefix,
        loop=asyncio.get_running_loop(),
        clock=SystemClock(),
        context=pieces.Context(db, {}, timedelta(0)),
        gateways=Gateways(Carrier(), None),
        jobs={"failing": failing},
    )
    worker = dramatiq.Worker(fleet.broker, queues=fleet.queues, worker_threads=2)
    try:
        await fleet.publish("tick", "failing")
        await asyncio.to_thread(worker.start)
        await asyncio.sleep(5)  # a retry would have come after 1 s, and again after 2 s
    finally:
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(fleet.close)
        await db.dispose()
    assert len(runs) == 1
