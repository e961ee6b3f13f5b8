"""Work on a real queue: Dramatiq on RabbitMQ (docs/scaling.md, docs/decisions/0009).

Design overview
---------------
With ``SIMKEEP_QUEUE_URL`` set, ``simkeep worker`` processes form a fleet. Each one
consumes three kinds of message, each naming a row or a job, never carrying the work
itself:

* ``deliver_message(id)`` — an SMS or email of the outbox (``notifications.deliver_one``);
* ``run_task(id)`` — a piece of work of ``tasks`` (``jobs.pieces.run_task``);
* ``tick(job)`` — a periodic job (polls, expiry, refunds to send, keep-alive, the plans of
  the retention run and the reconciliation).

and, every interval, relays what the outboxes hold (``jobs.relay``) and claims the ticks
that are due (``jobs.schedule``). The database stays the source of truth: a message
delivered twice, or after its work was done, finds nothing to claim, and one lost is
published again from its row. A piece that fails is given back in its row and published
again when due. Work that fails before it could reach its row (the database down or cut
off) raises, and Dramatiq's ``Retries`` puts its message back on the queue after a backoff
of ``RETRY_MIN_MS`` doubling to ``RETRY_MAX_MS``, so it runs once the database is back
rather than waiting for the relay's redrive; a retry of work already done finds nothing to
claim. A tick is not retried: it comes again next interval.

Dramatiq runs an actor on one of its worker threads; simkeep's code is asynchronous, so the
actor hands its coroutine to the process's event loop (``Fleet.run``), where the database
pool, the provider adapters and the relay live, and waits for it. Publishing (pika's
blocking connection) runs on one thread of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import dramatiq
import structlog
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import Retries, ShutdownNotifications

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.jobs import pieces, relay, schedule
from simkeep.jobs.loop import Job
from simkeep.notifications import service as notifications
from simkeep.notifications.service import EmailGateway, SmsGateway

log = structlog.get_logger(__name__)
T = TypeVar("T")

MESSAGE, TASK, TICK = "deliver_message", "run_task", "tick"
ACTOR_OF = {"message": MESSAGE, "task": TASK, "tick": TICK}  # what the relay publishes
RETRY_MIN_MS, RETRY_MAX_MS = 1_000, 30_000
RETRIES = 30  # about a quarter of an hour; past it, the relay's redrive publishes the row


def rabbitmq(url: str) -> dramatiq.Broker:
    """The broker: publisher confirms on, so a publish returns once RabbitMQ has the
    message (durable queues, persistent messages); failed work retried with backoff."""
    retries = Retries(max_retries=RETRIES, min_backoff=RETRY_MIN_MS, max_backoff=RETRY_MAX_MS)
    return RabbitmqBroker(
        url=url, confirm_delivery=True, middleware=[ShutdownNotifications(), retries]
    )


@dataclass(frozen=True, slots=True)
class Gateways:
    sms: SmsGateway
    email: EmailGateway | None


class Fleet:
    """One worker process's side of the queue: its actors on ``broker``, what they run, and
    the publisher the relay and the ticks use."""

    def __init__(
        self,
        broker: dramatiq.Broker,
        *,
        prefix: str,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        context: pieces.Context,
        gateways: Gateways,
        jobs: Mapping[str, Job],
    ) -> None:
        self.broker, self.loop, self.clock = broker, loop, clock
        self.context, self.gateways, self.jobs = context, gateways, jobs
        self.messages, self.work = f"{prefix}.messages", f"{prefix}.work"
        self._publishing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish")
        self.actors = {
            MESSAGE: self._actor(MESSAGE, self.messages, self.deliver_message),
            TASK: self._actor(TASK, self.work, self.run_task),
            # a tick comes again next interval: retrying a failed one would pile runs up
            TICK: self._actor(TICK, self.work, self.tick, retries=0),
        }

    @property
    def db(self) -> Database:
        return self.context.db

    @property
    def queues(self) -> set[str]:
        return {self.messages, self.work}

    def _actor(
        self,
        name: str,
        queue: str,
        body: Callable[[Any], Awaitable[object]],
        *,
        retries: int = RETRIES,
    ) -> dramatiq.Actor[Any, None]:
        def run(ref: Any) -> None:
            self.run(body(ref))

        run.__name__ = name
        return dramatiq.Actor(
            run,
            broker=self.broker,
            actor_name=name,
            queue_name=queue,
            priority=0,
            options={"max_retries": retries},
        )

    def run(self, work: Awaitable[T]) -> T:
        """On a Dramatiq thread: run ``work`` on the event loop and wait for it. A failure is
        logged and raised, for Dramatiq to retry the message later."""

        async def logged() -> T:
            try:
                return await work
            except Exception:
                log.exception("queue.work_failed")
                raise

        return asyncio.run_coroutine_threadsafe(logged(), self.loop).result()

    async def deliver_message(self, message_id: int) -> bool:
        return await notifications.deliver_one(
            self.db,
            message_id=int(message_id),
            gateway=self.gateways.sms,
            email=self.gateways.email,
            now=self.clock.now(),
        )

    async def run_task(self, task_id: int) -> bool:
        return await pieces.run_task(self.context, task_id=int(task_id), now=self.clock.now())

    async def tick(self, job: str) -> object:
        run = self.jobs.get(str(job))
        return None if run is None else await run(self.clock.now())

    async def publish(self, kind: str, ref: int | str) -> None:
        """Put a message on the queue; returns once RabbitMQ confirmed it."""
        message = self.actors[ACTOR_OF[kind]].message(ref)
        await self.loop.run_in_executor(self._publishing, self.broker.enqueue, message)

    async def turn(self, *, every: timedelta) -> int:
        """One turn of this worker's relay and ticks; returns how many messages it sent."""
        now = self.clock.now()
        sent = await relay.relay_once(self.db, self, now=now)
        due = await schedule.claim_ticks(self.db, jobs=list(self.jobs), every=every, now=now)
        for job in due:
            await self.publish("tick", job)
        return sent + len(due)

    def close(self) -> None:
        self._publishing.shutdown(wait=True)
        self.broker.close()


async def serve(fleet: Fleet, *, every: float, threads: int) -> None:
    """Consume the fleet's queues on ``threads`` threads, and relay and tick every ``every``
    seconds, until cancelled; then stop taking messages and let those running finish."""
    worker = dramatiq.Worker(fleet.broker, queues=fleet.queues, worker_threads=threads)
    worker.start()
    try:
        while True:
            try:
                await fleet.turn(every=timedelta(seconds=every))
            except Exception:
                log.exception("queue.turn_failed")
            await asyncio.sleep(every)
    finally:
        await asyncio.to_thread(worker.stop)
