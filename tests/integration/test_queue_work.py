"""Work on a queue, without the broker, on both databases: the relay publishes each due row
once, again after it died between publishing and committing, and again when a row was given
back or its worker's lease ran out; a message or a task delivered twice runs once; the
retention run cut into chunks charges what the whole run charges, and closes its day when
the chunks are done; a provider's day to reconcile waits for its bill as a task; of fifty
workers asking at once, one gets a job's tick."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.jobs import pieces, relay, schedule
from simkeep.jobs.tables import tasks
from simkeep.ledger import chart
from simkeep.notifications import service as notifications
from simkeep.reconciliation import daily
from simkeep.retention import tables as rt
from tests.integration.reconciliation_world import (
    CARRY,
    DAY,
    PROVIDER,
    hk,
    make_world,
    paid,
)
from tests.integration.test_retention_run import ISSUED, balance, funded

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


class Recorder:
    """The queue's side: what was published; ``fail_at`` makes the n-th publish raise, as a
    broker gone or a relay killed before its commit would."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.published: list[tuple[str, int]] = []
        self.fail_at = fail_at

    async def publish(self, kind: str, ref: int) -> None:
        if self.fail_at is not None and len(self.published) + 1 == self.fail_at:
            raise ConnectionError("the broker went away")
        self.published.append((kind, ref))

    def tasks(self) -> list[int]:
        return [ref for kind, ref in self.published if kind == "task"]


class Phone:
    def __init__(self, *, down: bool = False, hang: bool = False) -> None:
        self.received: list[str] = []
        self.down, self.hang = down, hang

    async def send(self, *, to: str, text: str) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise ConnectionError("carrier down")
        self.received.append(text)


async def queue_sms(db: Database, *texts: str, now: datetime = NOW) -> None:
    async def add(conn: AsyncConnection) -> None:
        for text in texts:
            await notifications.queue_sms(conn, to="+85291234567", text=text, now=now)

    await db.transaction(add)


async def test_a_relay_that_dies_before_its_commit_publishes_again_and_each_sms_goes_once(
    db: Database,
) -> None:
    await queue_sms(db, "one", "two", "three")
    dying = Recorder(fail_at=3)  # two published, then gone before the commit
    with pytest.raises(ConnectionError):
        await relay.relay_once(db, dying, now=NOW)
    assert len(dying.published) == 2
    relayed = Recorder()
    assert await relay.relay_once(db, relayed, now=NOW) == 3  # nothing was marked
    assert await relay.relay_once(db, relayed, now=NOW) == 0  # now it was
    phone = Phone()
    for _, ref in dying.published + relayed.published:  # five deliveries of three rows
        await notifications.deliver_one(db, message_id=ref, gateway=phone, now=NOW)
    assert sorted(phone.received) == ["one", "three", "two"]


class EagerWorker(Recorder):
    """A queue so quick that the worker has the message before the relay committed."""

    def __init__(self, db: Database, phone: Phone) -> None:
        super().__init__()
        self.db, self.phone = db, phone
        self.sending: list[asyncio.Task[bool]] = []

    async def publish(self, kind: str, ref: int) -> None:
        await super().publish(kind, ref)
        self.sending.append(
            asyncio.create_task(
                notifications.deliver_one(self.db, message_id=ref, gateway=self.phone, now=NOW)
            )
        )
        await asyncio.sleep(0.05)  # it tries while the relay still holds the row


async def test_a_message_taken_before_the_relay_committed_is_sent(db: Database) -> None:
    await queue_sms(db, "one", "two")
    phone = Phone()
    eager = EagerWorker(db, phone)
    assert await relay.relay_once(db, eager, now=NOW) == 2
    assert await asyncio.gather(*eager.sending) == [True, True]
    assert sorted(phone.received) == ["one", "two"]


async def test_a_message_lost_after_the_relay_is_published_again_later(db: Database) -> None:
    await queue_sms(db, "lost")
    first = Recorder()
    assert await relay.relay_once(db, first, now=NOW) == 1  # the message never arrives
    again = Recorder()
    assert await relay.relay_once(db, again, now=NOW + relay.REDRIVE) == 0
    assert await relay.relay_once(db, again, now=NOW + relay.REDRIVE + timedelta(seconds=1)) == 1
    phone = Phone()
    assert await notifications.deliver_one(
        db, message_id=again.published[0][1], gateway=phone, now=NOW + relay.REDRIVE
    )
    assert phone.received == ["lost"]


async def test_a_message_given_back_or_left_by_a_dead_worker_is_published_again(
    db: Database,
) -> None:
    await queue_sms(db, "code 1")
    first = Recorder()
    await relay.relay_once(db, first, now=NOW)
    ((_, ref),) = first.published
    assert not await notifications.deliver_one(
        db, message_id=ref, gateway=Phone(down=True), now=NOW
    )
    again = Recorder()
    assert await relay.relay_once(db, again, now=NOW + timedelta(seconds=29)) == 0
    assert await relay.relay_once(db, again, now=NOW + timedelta(seconds=30)) == 1  # its retry

    later = NOW + timedelta(seconds=30)
    dying = asyncio.create_task(
        notifications.deliver_one(db, message_id=ref, gateway=Phone(hang=True), now=later)
    )
    await asyncio.sleep(0.2)
    dying.cancel()  # the worker died holding it
    assert await relay.relay_once(db, again, now=later + timedelta(seconds=59)) == 0
    assert await relay.relay_once(db, again, now=later + timedelta(seconds=60)) == 1
    phone = Phone()
    assert await notifications.deliver_one(
        db, message_id=ref, gateway=phone, now=later + timedelta(seconds=60)
    )
    assert not await notifications.deliver_one(  # delivered again by the queue: sent already
        db, message_id=ref, gateway=phone, now=later + timedelta(minutes=5)
    )
    assert phone.received == ["code 1"]


async def count_tasks(db: Database) -> tuple[int, int]:
    async def read(conn: AsyncConnection) -> tuple[int, int]:
        t = tasks.c
        row = (
            await conn.execute(
                select(func.count(), func.count().filter(t.done_at.is_(None))).select_from(tasks)
            )
        ).one()
        return int(row[0]), int(row[1])

    return await db.read(read)


async def test_the_retention_run_in_chunks_charges_once_and_closes_its_day(db: Database) -> None:
    clock = FixedClock(ISSUED)
    sims = [await funded(db, clock, "HK-KEEP", 5_000, n=n) for n in range(1, 4)]
    ctx = pieces.Context(db, {}, CARRY)
    billing_day = date(2026, 2, 28)  # issued on 31 January: billed on February's last day
    at = datetime(2026, 2, 27, 16, 10, tzinfo=UTC)  # 00:10 on the 28th in Hong Kong
    await plan_first_day(ctx, at - timedelta(days=1))

    assert await pieces.plan_retention(ctx, at=time(0, 10), now=at, chunk=1) == 0
    made, open_tasks = await count_tasks(db)
    published = Recorder()
    await relay.relay_once(db, published, now=at)
    chunk_ids = published.tasks()
    assert len(chunk_ids) == open_tasks == sims[-1].id - sims[0].id + 1  # one SIM id each
    assert await pieces.plan_retention(ctx, at=time(0, 10), now=at, chunk=1) == 0  # running
    for ref in chunk_ids + chunk_ids:  # every chunk delivered twice
        await pieces.run_task(ctx, task_id=ref, now=at)
    assert await pieces.plan_retention(ctx, at=time(0, 10), now=at, chunk=1) == 1  # closed
    for sim in sims:
        assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 4_200  # one fee
    finished = await db.read(
        lambda conn: conn.scalar(select(rt.runs.c.finished_at).where(rt.runs.c.day == billing_day))
    )
    assert finished is not None
    assert await count_tasks(db) == (made, 0)


async def plan_first_day(ctx: pieces.Context, at: datetime) -> None:
    """The first run ever: the day before billing, planned, run and closed."""
    assert await pieces.plan_retention(ctx, at=time(0, 10), now=at) == 0
    published = Recorder()
    await relay.relay_once(ctx.db, published, now=at)
    for ref in published.tasks():
        assert await pieces.run_task(ctx, task_id=ref, now=at)
    assert await pieces.plan_retention(ctx, at=time(0, 10), now=at) == 1


async def test_a_day_to_reconcile_waits_for_its_bill_as_a_task(db: Database) -> None:
    clock = FixedClock(hk(DAY, 8))
    w = await make_world(db, clock)
    order = await w.order(hk(DAY, 9))
    ctx = pieces.Context(db, {PROVIDER: w.provider.adapter}, CARRY)
    at = hk(DAY + timedelta(days=1), 10)

    assert await pieces.plan_reconciliation(ctx, at=time(10), now=at) == 1
    published = Recorder()
    await relay.relay_once(db, published, now=at)
    (ref,) = published.tasks()
    assert await pieces.run_task(ctx, task_id=ref, now=at)  # no bill yet: given back
    assert not await pieces.run_task(ctx, task_id=ref, now=at)  # delivered twice: not due
    assert await pieces.plan_reconciliation(ctx, at=time(10), now=at) == 0  # waiting
    await relay.relay_once(db, published, now=at)
    assert published.tasks() == [ref]

    w.bill(DAY, paid(order, at=hk(DAY, 9), fee=60))
    retry = await daily.next_try(db, provider=PROVIDER, day=DAY)
    assert retry is not None
    assert retry > at
    await relay.relay_once(db, published, now=retry)
    assert published.tasks() == [ref, ref]
    assert await pieces.run_task(ctx, task_id=ref, now=retry)
    assert await daily.next_try(db, provider=PROVIDER, day=DAY) is None
    assert await count_tasks(db) == (1, 0)
    assert await w.journals("reconcile-fees:") == 1
    assert not await pieces.run_task(ctx, task_id=ref, now=retry + timedelta(hours=1))
    assert await w.journals("reconcile-fees:") == 1


async def test_of_fifty_workers_asking_at_once_one_gets_the_tick(db: Database) -> None:
    jobs = ["poll_unpaid", "expire_orders"]
    every = timedelta(seconds=5)
    asked = await asyncio.gather(
        *(schedule.claim_ticks(db, jobs=jobs, every=every, now=NOW) for _ in range(50))
    )
    got = [job for answer in asked for job in answer]
    assert sorted(got) == sorted(jobs)
    assert await schedule.claim_ticks(db, jobs=jobs, every=every, now=NOW + every / 2) == []
    assert await schedule.claim_ticks(db, jobs=jobs, every=every, now=NOW + every) == sorted(jobs)
