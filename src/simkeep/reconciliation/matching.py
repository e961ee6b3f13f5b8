"""Matching a day's bill: one transaction from the bill's rows to every difference recorded,
the day's fees booked and its rows counted.

Design overview
---------------
``match`` runs in the caller's transaction, so a day is matched whole or not at all: a run
stopped half way leaves nothing, and the next run does it all. It loads the bill into the
staging table a chunk at a time (telling ``progress``), reading its digest and totals on
the way (``model.Reading``), refuses a bill other than the one the day was matched against
already (``OtherBill``), then runs the set-based statements (``statements``): the bill's
side, the other days' carried or missing rows this bill has, simkeep's side, and the carried
rows that the next day's bill lacks too — the previous day's, and this day's when the next
day was matched first. It books the net fees of each currency (``books``), keeps the totals,
counts the rows of every day it touched, and leaves the day ``querying`` when the provider
is still to be asked about rows simkeep can still take, else ``done``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.payment_methods import Provider
from simkeep.reconciliation import books, queries
from simkeep.reconciliation import statements as sql
from simkeep.reconciliation import tables as t
from simkeep.reconciliation.bill import Bill, RowKind
from simkeep.reconciliation.model import (
    CLASSIFIED,
    RUN_MOVES,
    Action,
    Counts,
    OtherBill,
    Progress,
    Reading,
    ReconcileError,
    RowClass,
    RunState,
    Side,
    Stage,
    Totals,
    Window,
    sources,
)
from simkeep.statements import Row

CHUNK = 50_000  # rows of the bill loaded at a time


async def match(
    conn: AsyncConnection,
    *,
    reconciliation_id: int,
    bill: Bill,
    carry: timedelta,
    by: str,
    now: datetime,
    progress: Progress | None = None,
) -> RunState:
    """Match ``bill`` (its provider's day, ``running``) in the caller's transaction; returns
    the state the day is left in."""
    reading = await _load(conn, bill, progress)
    r = t.reconciliations.c
    matched_before = (
        await conn.execute(select(r.digest).where(r.id == reconciliation_id))
    ).scalar_one()
    if matched_before is not None and matched_before != reading.digest:
        raise OtherBill(
            f"{bill.provider.value}'s {bill.day} was matched against another bill"
            f" (SHA-256 {matched_before[:12]}…): its differences stand"
        )
    await sql.index_staging(conn)
    touched = await _classify(
        conn, reconciliation_id=reconciliation_id, bill=bill, carry=carry, by=by, now=now
    )
    await sql.drop_staging(conn)
    for totals in reading.totals.values():
        journal = await books.book_fees(
            conn, provider=bill.provider, day=bill.day, totals=totals, now=now
        )
        await _keep_totals(conn, reconciliation_id, totals, journal)
    state = RunState.QUERYING if await _to_ask(conn, reconciliation_id) else RunState.DONE
    moved = await conn.execute(
        update(t.reconciliations)
        .where(r.id == reconciliation_id, r.state.in_(sources(RUN_MOVES, state)))
        .values(
            state=state.value,
            digest=reading.digest,
            bill_rows=reading.rows,
            reason=None,
            finished_at=now if state is RunState.DONE else None,
            next_try_at=now if state is RunState.QUERYING else None,
        )
    )
    if moved.rowcount != 1:
        raise ReconcileError(f"{bill.provider.value}'s {bill.day} changed meanwhile: run it again")
    for touched_id in {reconciliation_id, *touched}:
        await recount(conn, touched_id)
    return state


async def _load(conn: AsyncConnection, bill: Bill, progress: Progress | None) -> Reading:
    reading = Reading()
    await sql.create_staging(conn)
    total = len(bill.rows)
    for start in range(0, total, CHUNK):
        chunk = bill.rows[start : start + CHUNK]
        for row in chunk:
            reading.add(row)
        await sql.load(conn, chunk)
        if progress is not None:
            progress(Stage.LOAD, start + len(chunk), total)
    return reading


async def _classify(
    conn: AsyncConnection,
    *,
    reconciliation_id: int,
    bill: Bill,
    carry: timedelta,
    by: str,
    now: datetime,
) -> set[int]:
    """Record the day's rows from the staging table; returns the other days touched."""
    window = Window.of(bill.day)
    day = {
        "reconciliation_id": reconciliation_id,
        "provider": bill.provider.value,
        "start": window.start,
        "end": window.end,
    }
    touched: set[int] = set()
    for kind in RowKind:
        await sql.BILL_SIDE[kind].execute(conn, **day)
    for kind in RowKind:
        settled = await sql.SETTLE[kind].rows(
            conn, reconciliation_id=reconciliation_id, provider=bill.provider.value
        )
        touched |= _ids(settled)
    for kind in RowKind:
        await sql.LOCAL_SIDE[kind].execute(conn, **day, carry_from=window.carry_from(carry))
    i = t.reconciliation_items.c
    await conn.execute(
        update(t.reconciliation_items)
        .where(
            i.reconciliation_id == reconciliation_id,
            i.action == Action.CARRIED.value,
            i.acted_by.is_(None),
        )
        .values(acted_by=by, acted_at=now)
    )
    before = await _classified(conn, bill.provider, bill.day - timedelta(days=1))
    if before is not None:
        flagged = await sql.FLAG.rows(conn, carried_from=before, looked_in=reconciliation_id)
        touched |= _ids(flagged)
    after = await _classified(conn, bill.provider, bill.day + timedelta(days=1))
    if after is not None:
        await sql.FLAG.rows(conn, carried_from=reconciliation_id, looked_in=after)
    return touched - {reconciliation_id}


def _ids(rows: Iterable[Row]) -> set[int]:
    return {int(row["reconciliation_id"]) for row in rows}


async def _classified(conn: AsyncConnection, provider: Provider, day: date) -> int | None:
    """The id of the provider's ``day`` if its bill was matched."""
    r = t.reconciliations.c
    return (
        await conn.execute(
            select(r.id).where(
                r.provider == provider.value,
                r.day == day,
                r.state.in_([state.value for state in CLASSIFIED]),
            )
        )
    ).scalar()


async def _keep_totals(
    conn: AsyncConnection, reconciliation_id: int, totals: Totals, journal: str | None
) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(t.reconciliation_totals)
        .values(
            reconciliation_id=reconciliation_id,
            currency=totals.currency,
            payments=totals.payments,
            paid_minor=totals.paid,
            refunds=totals.refunds,
            paid_back_minor=totals.paid_back,
            fee_minor=totals.fees,
            fee_back_minor=totals.fees_back,
            fee_journal=journal,
        )
        .on_conflict_do_nothing()
    )


async def _to_ask(conn: AsyncConnection, reconciliation_id: int) -> bool:
    """Whether the provider is to be asked about some of the day's rows."""
    return (await conn.execute(queries.to_ask(reconciliation_id).limit(1))).first() is not None


async def recount(conn: AsyncConnection, reconciliation_id: int) -> None:
    """Count a day's rows by class again, from its bill's size and its recorded rows."""
    i = t.reconciliation_items.c
    groups = await conn.execute(
        select(i.side, i.row_class, func.count())
        .where(i.reconciliation_id == reconciliation_id)
        .group_by(i.side, i.row_class)
    )
    recorded = {(Side(side), RowClass(cls)): int(n) for side, cls, n in groups.all()}
    r = t.reconciliations.c
    bill_rows = (
        await conn.execute(select(r.bill_rows).where(r.id == reconciliation_id))
    ).scalar_one()
    counts = Counts.of(bill_rows, recorded)
    await conn.execute(
        update(t.reconciliations)
        .where(r.id == reconciliation_id)
        .values(
            matched=counts.matched,
            amount_mismatch=counts.amount_mismatch,
            paid_not_credited=counts.paid_not_credited,
            provider_only=counts.provider_only,
            local_only=counts.local_only,
            carried=counts.carried,
        )
    )
