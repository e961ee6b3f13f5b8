"""Reconciliation: a provider's day matched against its bill, every difference fixed or
flagged, staff's resolutions audited (docs/reconciliation.md).

Design overview
---------------
* ``reconcile`` (the command line, the job): the bill is fetched first (the provider's
  adapter, or a file: ``sources``); one not out yet leaves the day ``waiting``, one that
  does not add up ``refused`` — a day matched already keeps its state either way — and
  nothing is matched. Then the day is opened (or found: one row per provider and day,
  with a lease the job respects), matched in one transaction (``matching``), and the
  provider asked about what it has and simkeep has not taken (``asking``). The day is
  ``done``, or ``querying`` while a query went unanswered. Running a day again changes
  nothing: every row is recorded once, credits and refunds move by conditional updates,
  the fee journal has its client id, and what staff resolved stays resolved; a run stopped
  at any point is run again whole.
* The daily job that runs ``reconcile`` for every provider is ``daily``.
* ``resolve`` (staff): an open difference moves to ``resolved`` with a note by one
  conditional update, audited in the same transaction; a second resolution is told the row
  was resolved already.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import case, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.payment_methods import PROVIDERS, Provider
from simkeep.payments.model import PaymentProviderAdapter, ProviderError
from simkeep.reconciliation import asking, matching
from simkeep.reconciliation import tables as t
from simkeep.reconciliation.bill import Bill, BillNotReady, BillRefused
from simkeep.reconciliation.model import (
    ACTION_MOVES,
    LEASE,
    NOT_READY_RETRY,
    QUERY_RETRY,
    RESOLVABLE,
    RUN_MOVES,
    Action,
    AlreadyResolved,
    NoBill,
    NotResolvable,
    Progress,
    RunState,
    UnknownDifference,
    check_day,
    check_note,
    sources,
)
from simkeep.reconciliation.queries import (
    Difference,
    Reconciliation,
    get_difference,
    get_reconciliation,
)
from simkeep.reconciliation.sources import BillSource
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Target

BY_JOB = "job"
BY_CLI = "cli"
REASON_CHARS = 500


async def reconcile(
    db: Database,
    *,
    provider: Provider,
    day: date,
    source: BillSource,
    adapter: PaymentProviderAdapter | None,
    by: str,
    clock: Clock,
    carry: timedelta,
    progress: Progress | None = None,
) -> Reconciliation:
    """Match a provider's day against its bill and act on every difference; raises
    ``BillNotReady`` or ``BillRefused`` (recorded) when there is nothing to match."""
    if not PROVIDERS[provider].online:
        raise NoBill(f"{provider.value} is paid at the counter: it has no provider's bill")
    check_day(day, clock.now())
    bill = await _fetch(db, provider=provider, day=day, source=source, by=by, clock=clock)
    now = clock.now()
    reconciliation_id = await db.transaction(lambda conn: _open(conn, provider, day, by, now))
    await db.transaction(
        lambda conn: matching.match(
            conn,
            reconciliation_id=reconciliation_id,
            bill=bill,
            carry=carry,
            by=by,
            now=now,
            progress=progress,
        )
    )
    return await ask_again(
        db,
        provider=provider,
        day=day,
        adapter=adapter,
        by=by,
        clock=clock,
        progress=progress,
    )


async def ask_again(
    db: Database,
    *,
    provider: Provider,
    day: date,
    adapter: PaymentProviderAdapter | None,
    by: str,
    clock: Clock,
    progress: Progress | None = None,
) -> Reconciliation:
    """Ask the provider about a matched day's rows it has and simkeep has not taken; the day
    is then ``done``, or asked about again later."""
    found = await _get(db, provider, day)
    left = await asking.ask_provider(
        db,
        reconciliation_id=found.id,
        provider=provider,
        adapter=adapter,
        by=by,
        clock=clock,
        progress=progress,
    )
    now = clock.now()
    state = RunState.QUERYING if left else RunState.DONE
    r = t.reconciliations.c
    await db.transaction(
        lambda conn: conn.execute(
            update(t.reconciliations)
            .where(r.id == found.id, r.state.in_(sources(RUN_MOVES, state)))
            .values(
                state=state.value,
                finished_at=None if left else now,
                next_try_at=now + QUERY_RETRY if left else None,
                claimed_until=None,
            )
        )
    )
    return await _get(db, provider, day)


async def _fetch(
    db: Database, *, provider: Provider, day: date, source: BillSource, by: str, clock: Clock
) -> Bill:
    """The day's bill, or the reason there is none recorded (the day ``waiting`` or
    ``refused``, unless it was matched already) and raised."""
    try:
        bill = await source.bill(day)
        if bill.provider is not provider or bill.day != day:
            raise BillRefused(f"the bill is {bill.provider.value}'s of {bill.day}")
    except (BillNotReady, ProviderError) as error:
        retry = clock.now() + NOT_READY_RETRY
        await _without_bill(db, provider, day, RunState.WAITING, str(error), by, clock, retry)
        if isinstance(error, ProviderError):
            raise BillNotReady(f"the bill could not be fetched: {error}") from error
        raise
    except BillRefused as error:
        await _without_bill(db, provider, day, RunState.REFUSED, str(error), by, clock, None)
        raise
    return bill


async def _without_bill(
    db: Database,
    provider: Provider,
    day: date,
    state: RunState,
    reason: str,
    by: str,
    clock: Clock,
    retry: datetime | None,
) -> None:
    """Record why the day has no bill to match (``waiting`` or ``refused``), unless it was
    matched already."""
    now = clock.now()
    values = {
        "state": state.value,
        "reason": reason[:REASON_CHARS],
        "next_try_at": retry,
        "claimed_until": None,
        "run_by": by,
        "started_at": now,
    }

    async def record(conn: AsyncConnection) -> None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        r = t.reconciliations.c
        created = await conn.execute(
            insert(t.reconciliations)
            .values(provider=provider.value, day=day, **values)
            .on_conflict_do_nothing(index_elements=["provider", "day"])
        )
        if created.rowcount == 1:
            return
        await conn.execute(
            update(t.reconciliations)
            .where(
                r.provider == provider.value,
                r.day == day,
                r.state.in_(sources(RUN_MOVES, state)),
            )
            .values(**values)
        )

    await db.transaction(record)


async def _open(
    conn: AsyncConnection, provider: Provider, day: date, by: str, now: datetime
) -> int:
    """The provider's day, written if new: ``running`` unless matched already, leased to
    this run."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    r = t.reconciliations.c
    created = await conn.execute(
        insert(t.reconciliations)
        .values(
            provider=provider.value,
            day=day,
            state=RunState.RUNNING.value,
            run_by=by,
            started_at=now,
            claimed_until=now + LEASE,
        )
        .on_conflict_do_nothing(index_elements=["provider", "day"])
        .returning(r.id)
    )
    found = created.scalar()
    if found is not None:
        return int(found)
    running = sources(RUN_MOVES, RunState.RUNNING)
    opened = await conn.execute(
        update(t.reconciliations)
        .where(r.provider == provider.value, r.day == day)
        .values(
            state=case((r.state.in_(running), RunState.RUNNING.value), else_=r.state),
            run_by=by,
            started_at=now,
            claimed_until=now + LEASE,
        )
        .returning(r.id)
    )
    return int(opened.scalar_one())


async def _get(db: Database, provider: Provider, day: date) -> Reconciliation:
    found = await db.read(lambda conn: get_reconciliation(conn, provider=provider, day=day))
    assert found is not None  # opened before
    return found


async def resolve(
    conn: AsyncConnection,
    *,
    provider: Provider,
    day: date,
    item_id: int,
    actor: Actor,
    note: str,
    now: datetime,
) -> Difference:
    """Resolve an open difference of a provider's day, with what was found or done; the
    audit log records it in the same transaction."""
    before = await _difference(conn, provider, day, item_id)
    note = check_note(note)
    i = t.reconciliation_items.c
    moved = await conn.execute(
        update(t.reconciliation_items)
        .where(
            i.id == item_id,
            i.action.in_(sources(ACTION_MOVES, Action.RESOLVED)),
            i.row_class.in_(RESOLVABLE),
        )
        .values(action=Action.RESOLVED.value, note=note, acted_by=_name(actor), acted_at=now)
    )
    after = await _difference(conn, provider, day, item_id)
    if moved.rowcount != 1:
        if after.action is Action.RESOLVED:
            raise AlreadyResolved(f"difference {item_id} was resolved already")
        raise NotResolvable(f"difference {item_id} is not one staff resolve")
    where = {"provider": provider.value, "day": day.isoformat()}
    await audit.record(
        conn,
        actor=actor,
        action="reconciliation.resolve",
        target=Target("reconciliation_item", item_id),
        before={**where, **before.audit_view()},
        after={**where, **after.audit_view()},
        now=now,
    )
    return after


async def _difference(
    conn: AsyncConnection, provider: Provider, day: date, item_id: int
) -> Difference:
    """A recorded row of the provider's day."""
    found = await get_reconciliation(conn, provider=provider, day=day)
    if found is not None:
        row = await get_difference(conn, item_id=item_id, reconciliation_id=found.id)
        if row is not None:
            return row
    raise UnknownDifference(f"no difference {item_id} in {provider.value}'s {day}")


def _name(actor: Actor) -> str:
    return f"staff:{actor.staff_id}" if actor.staff_id is not None else actor.origin
