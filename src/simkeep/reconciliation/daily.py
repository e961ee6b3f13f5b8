"""The daily job: yesterday's bill of every online provider, reconciled once it is out
(docs/reconciliation.md, "The job").

Design overview
---------------
``reconcile_due`` runs on every tick of the worker loop (on a queue, ``jobs.pieces`` makes a task of
each provider's day from ``due_days`` and runs it with ``reconcile_one``). Before the set Hong Kong
time it does nothing; from then on it reads yesterday's provider days once (``_due``) and takes each
that is due — not started, waiting for its bill and due to try again, querying its provider and due
to ask again, or running with its lease run out (a worker stopped mid-run) — by one conditional
statement that gives this run its lease (``_claim``), so of two workers one runs a day. A day
waiting or running is reconciled (``service.reconcile``), a day querying only asked about
(``service.ask_again``). A refused bill is not fetched again: it stays on the page until someone
runs the day with ``simkeep reconcile``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import Clock, in_hong_kong
from simkeep.db import Database
from simkeep.payment_methods import PROVIDERS, Provider
from simkeep.payments.model import PaymentProviderAdapter
from simkeep.reconciliation import service
from simkeep.reconciliation import tables as t
from simkeep.reconciliation.bill import BillNotReady, BillRefused
from simkeep.reconciliation.model import LEASE, RunState


async def reconcile_due(
    db: Database,
    *,
    adapters: Mapping[Provider, PaymentProviderAdapter],
    clock: Clock,
    at: time,
    carry: timedelta,
) -> int:
    """The job: from ``at`` (Hong Kong time) on, yesterday of every online provider, as far
    as it is due; returns how many days were worked on."""
    due = await due_days(db, adapters=adapters, clock=clock, at=at)
    worked = 0
    for provider, day in due:
        adapter = adapters[provider]
        worked += await reconcile_one(
            db, provider=provider, day=day, adapter=adapter, clock=clock, carry=carry
        )
    return worked


async def due_days(
    db: Database,
    *,
    adapters: Mapping[Provider, PaymentProviderAdapter],
    clock: Clock,
    at: time,
) -> list[tuple[Provider, date]]:
    """From ``at`` (Hong Kong time) on, the online providers whose yesterday is due: one
    read."""
    local = in_hong_kong(clock.now())
    if local.time() < at:
        return []
    day = local.date() - timedelta(days=1)
    online = [provider for provider in adapters if PROVIDERS[provider].online]
    due = await db.read(lambda conn: _due(conn, online, day, clock.now()))
    return [(provider, day) for provider in due]


async def reconcile_one(
    db: Database,
    *,
    provider: Provider,
    day: date,
    adapter: PaymentProviderAdapter,
    clock: Clock,
    carry: timedelta,
) -> bool:
    """Take the provider's day if it is due and nobody has it, and work on it; returns
    whether it was taken."""
    state = await db.transaction(lambda conn: _claim(conn, provider, day, clock.now()))
    if state is None:
        return False
    try:
        if state is RunState.QUERYING:
            await service.ask_again(
                db, provider=provider, day=day, adapter=adapter, by=service.BY_JOB, clock=clock
            )
        else:
            await service.reconcile(
                db,
                provider=provider,
                day=day,
                source=adapter,
                adapter=adapter,
                by=service.BY_JOB,
                clock=clock,
                carry=carry,
            )
    except (BillNotReady, BillRefused):
        pass  # recorded: tried again later, or shown
    return True


async def next_try(db: Database, *, provider: Provider, day: date) -> datetime | None:
    """When the job is to work on the provider's day again; None once it is done or
    refused (a refused bill waits for staff)."""
    r = t.reconciliations.c
    query = select(r.state, r.next_try_at, r.claimed_until).where(
        r.provider == provider.value, r.day == day
    )

    async def read(conn: AsyncConnection) -> tuple[str, datetime | None, datetime | None] | None:
        row = (await conn.execute(query)).first()
        return None if row is None else (row.state, row.next_try_at, row.claimed_until)

    found = await db.read(read)
    if found is None or found[0] in (RunState.DONE.value, RunState.REFUSED.value):
        return None
    state, next_try_at, claimed_until = found
    if state == RunState.RUNNING.value:
        return claimed_until  # stopped mid-run: taken again when its lease runs out
    return next_try_at


async def _due(
    conn: AsyncConnection, providers: list[Provider], day: date, now: datetime
) -> list[Provider]:
    """Of ``providers``, those whose ``day`` the job is to work on now: one read."""
    r = t.reconciliations.c
    rows = await conn.execute(
        select(r.provider, _claimable(now).label("due")).where(
            r.day == day, r.provider.in_([provider.value for provider in providers])
        )
    )
    known = {Provider(row.provider): bool(row.due) for row in rows}
    return [provider for provider in providers if known.get(provider, True)]


async def _claim(
    conn: AsyncConnection, provider: Provider, day: date, now: datetime
) -> RunState | None:
    """Take the provider's ``day`` for this run (its lease), if nobody else has it and it is
    due; returns what is to be done with it: ``running`` (match) or ``querying`` (ask)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    r = t.reconciliations.c
    created = await conn.execute(
        insert(t.reconciliations)
        .values(
            provider=provider.value,
            day=day,
            state=RunState.RUNNING.value,
            run_by=service.BY_JOB,
            started_at=now,
            claimed_until=now + LEASE,
        )
        .on_conflict_do_nothing(index_elements=["provider", "day"])
        .returning(r.id)
    )
    if created.scalar() is not None:
        return RunState.RUNNING
    waiting = r.state == RunState.WAITING.value
    claimed = await conn.execute(
        update(t.reconciliations)
        .where(r.provider == provider.value, r.day == day, _claimable(now))
        .values(
            state=case((waiting, RunState.RUNNING.value), else_=r.state),
            claimed_until=now + LEASE,
        )
        .returning(r.state)
    )
    state = claimed.scalar()
    return RunState(state) if state is not None else None


def _claimable(now: datetime) -> ColumnElement[bool]:
    """A day the job may take now: waiting or querying and due again, or running with its
    lease run out (a run stopped mid-way)."""
    r = t.reconciliations.c
    free = r.claimed_until.is_(None) | (r.claimed_until < now)
    return or_(
        (r.state == RunState.WAITING.value) & (r.next_try_at <= now),
        (r.state == RunState.QUERYING.value) & (r.next_try_at <= now) & free,
        (r.state == RunState.RUNNING.value) & free,
    )
