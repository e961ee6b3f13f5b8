"""The daily job: yesterday's bill of every online provider, reconciled once it is out
(docs/reconciliation.md, "The job").

Design overview
---------------
``reconcile_due`` runs on every tick of the worker loop. Before the set Hong Kong time it
does nothing; from then on it reads yesterday's provider days once (``_due``) and takes
each that is due — not started, waiting for its bill and due to try again, querying its
provider and due to ask again, or running with its lease run out (a worker stopped
mid-run) — by one conditional statement that gives this run its lease (``_claim``), so of
two workers one runs a day. A day waiting or running is reconciled (``service.reconcile``),
a day querying only asked about (``service.ask_again``). A refused bill is not fetched
again: it stays on the page until someone runs the day with ``simkeep reconcile``.
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
    local = in_hong_kong(clock.now())
    if local.time() < at:
        return 0
    day = local.date() - timedelta(days=1)
    online = [provider for provider in adapters if PROVIDERS[provider].online]
    due = await db.read(lambda conn: _due(conn, online, day, clock.now()))
    worked = 0
    for provider in due:
        state = await db.transaction(lambda conn: _claim(conn, provider, day, clock.now()))  # noqa: B023
        if state is None:
            continue
        worked += 1
        adapter = adapters[provider]
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
            continue  # recorded: tried again later, or shown
    return worked


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
