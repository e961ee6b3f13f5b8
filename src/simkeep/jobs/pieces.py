"""The jobs that a fleet splits into pieces (docs/scaling.md, "Work on a queue").

Design overview
---------------
On a queue, two jobs are too big for one worker's turn, and are cut into tasks
(``jobs.tasks``) that any worker runs:

* **reconciliation**, one task per provider and day (``reconcile:<provider>:<day>``): its
  tick makes a task of each due day (``reconciliation.daily.due_days``); the task works on
  the day (``reconcile_one``) and, while the day is not done (its bill not out yet, a
  trade still being asked about), gives itself back for the day's next try;
* **the retention run**, one task per chunk of SIM ids (``retention:<day>:<first id>``): its
  tick opens the first day not finished, makes its chunks once, and closes the day when
  every chunk is done, then goes on to the next day. Days stay in order; the chunks of one
  day run side by side (each SIM is marked for the day as it is worked on, so a chunk run
  twice does nothing twice).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from simkeep.clock import FixedClock, in_hong_kong
from simkeep.db import Database
from simkeep.jobs import tasks
from simkeep.payment_methods import Provider
from simkeep.payments.model import PaymentProviderAdapter
from simkeep.reconciliation import daily as reconciliation
from simkeep.retention import calendar
from simkeep.retention import service as retention

CHUNK = 20_000  # SIM ids per retention task
RECONCILE = "reconcile_day"
RETENTION = "retention_chunk"


@dataclass(frozen=True, slots=True)
class Context:
    """What the pieces need: the database, the providers, the reconciliation's carry."""

    db: Database
    adapters: Mapping[Provider, PaymentProviderAdapter]
    carry: timedelta


async def plan_reconciliation(ctx: Context, *, at: time, now: datetime) -> int:
    """The tick: a task for each provider's day that is due; returns how many are due."""
    due = await reconciliation.due_days(ctx.db, adapters=ctx.adapters, clock=FixedClock(now), at=at)

    async def add(conn: Any) -> None:
        for provider, day in due:
            await tasks.add(
                conn,
                name=RECONCILE,
                key=f"reconcile:{provider.value}:{day.isoformat()}",
                batch=f"reconcile:{day.isoformat()}",
                args={"provider": provider.value, "day": day.isoformat()},
                now=now,
            )

    await ctx.db.transaction(add)
    return len(due)


async def plan_retention(ctx: Context, *, at: time, now: datetime, chunk: int = CHUNK) -> int:
    """The tick: the first day not finished up to today's (from ``at``, Hong Kong time) is
    opened and cut into chunks once, and closed when its chunks are done; returns how many
    days were closed."""
    local = in_hong_kong(now)
    today = local.date() if local.time() >= at else local.date() - timedelta(1)
    closed = 0
    for day in await calendar.days_to_run(ctx.db, day=today):
        batch = f"retention:{day.isoformat()}"
        made, open_tasks = await ctx.db.read(lambda conn: tasks.open_in(conn, batch))  # noqa: B023
        if not made:
            await retention.open_day(ctx.db, day=day, now=now)
            await _cut(ctx.db, day, batch, chunk, now)
            made, open_tasks = await ctx.db.read(lambda conn: tasks.open_in(conn, batch))  # noqa: B023
        if open_tasks:
            return closed  # its chunks are running: the next day waits for them
        await retention.close_day(ctx.db, day=day, now=now)
        closed += 1
    return closed


async def _cut(db: Database, day: date, batch: str, chunk: int, now: datetime) -> None:
    ids = await calendar.id_range(db)
    low, high = ids if ids is not None else (1, 0)

    async def add(conn: Any) -> None:
        after = low - 1
        while True:  # at least one chunk, so that a day without SIMs is closed too
            upto = after + chunk
            await tasks.add(
                conn,
                name=RETENTION,
                key=f"{batch}:{after + 1}",
                batch=batch,
                args={"day": day.isoformat(), "after": after, "upto": upto},
                now=now,
            )
            after = upto
            if after >= high:
                return

    await db.transaction(add)


async def _reconcile_day(ctx: Context, args: dict[str, Any], now: datetime) -> datetime | None:
    provider, day = Provider(args["provider"]), date.fromisoformat(args["day"])
    adapter = ctx.adapters.get(provider)
    if adapter is None:
        return None  # a provider this fleet does not talk to
    clock = FixedClock(now)
    await reconciliation.reconcile_one(
        ctx.db, provider=provider, day=day, adapter=adapter, clock=clock, carry=ctx.carry
    )
    return await reconciliation.next_try(ctx.db, provider=provider, day=day)


async def _retention_chunk(ctx: Context, args: dict[str, Any], now: datetime) -> datetime | None:
    day = date.fromisoformat(args["day"])
    upto = int(args["upto"])
    await retention.run_range(
        ctx.db, day=day, after=int(args["after"]), upto=upto, clock=FixedClock(now)
    )
    return None


# A task's work: None when it is done, else when it is to run again.
Handler = Callable[[Context, dict[str, Any], datetime], Awaitable[datetime | None]]
HANDLERS: dict[str, Handler] = {RECONCILE: _reconcile_day, RETENTION: _retention_chunk}


async def run_task(ctx: Context, *, task_id: int, now: datetime) -> bool:
    """Run the task the queue brought, if this worker can claim it; returns whether it
    ran. A task that fails is given back for a minute later, with its error."""
    task = await ctx.db.transaction(lambda conn: tasks.claim(conn, task_id=task_id, now=now))
    if task is None:
        return False
    try:
        again = await HANDLERS[task.name](ctx, task.args, now)
    except Exception as error:
        failure = f"{type(error).__name__}: {error}"
        retry = now + timedelta(minutes=1)
        await ctx.db.transaction(
            lambda conn: tasks.later(conn, task_id=task.id, at=retry, error=failure)
        )
        raise
    if again is None:
        await ctx.db.transaction(lambda conn: tasks.finish(conn, task_id=task.id, now=now))
    else:
        await ctx.db.transaction(lambda conn: tasks.later(conn, task_id=task.id, at=again))
    return True
