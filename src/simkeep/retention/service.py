"""The daily retention run: monthly fees, lapses and the states that follow, once per SIM and
day.

Design overview
---------------
``run_day(db, day=…)`` walks the SIMs in batches by id, one transaction each. A batch
reads everything the rules need of its SIMs not yet **marked** for the day (``sims.run_on``)
in one query over its range of ids (plan, state, dates, arrears, the balance from the books:
what it can spend, so money held for a refund asked is neither charged nor forfeited)
and applies ``model.step`` to each. Most SIMs have nothing to do on a given day, and are
left as they are: doing nothing twice is harmless. The few with something to do — a fee,
a move, a notice — are then locked on PostgreSQL (in id order), so that a top-up crediting
one of them at that moment is waited for and seen — a SIM reactivated by a payment is never
moved on from what the run read before it, as crediting locks the SIM's row first too —
read again, stepped again, and written with their mark (``run_on = day``) in the same
transaction. A run repeated, or killed and run again, finds the SIMs it worked on marked
and does nothing to them twice; a batch that failed left no mark and is done again; a day
before a SIM's last day worked on is never run on it. The outcome is written set-wise: one
``UPDATE`` for the SIMs, one ``INSERT`` of the state events, one delete of the links of
SIMs recycled, one insert of their numbers into the pool (``simkeep.sims.pool``), and their
promotions' buckets closed (unused bonus money back to the promotion expense). The fees
charged and the balances
forfeited go through the ledger by their posting rules, a batch's in as few journals as the
posting limit allows (client ids ``fee:<day>:<first SIM>``, ``forfeit:<day>:<first SIM>``):
thousands of SIMs billed on one day cost tens of journals, not thousands. The day's SMS
(``notices``) go to the outbox in one insert. The day's totals are kept in
``retention_runs`` as each batch commits.

``run_until(db, day=…)`` catches up: every day after the last one finished, in order, up to
``day`` (the first run ever does ``day`` only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger import tables as lt
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.promotions import granting as buckets
from simkeep.retention import calendar, notices
from simkeep.retention import tables as rt
from simkeep.retention.model import Line, Step, billing, day_of, step
from simkeep.sims import pool
from simkeep.sims import tables as st
from simkeep.sims.model import Retention, SimState

BATCH = 4_000
STATES = {state.value: state for state in SimState}
RETENTIONS = {model.value: model for model in Retention}


@dataclass(frozen=True, slots=True)
class Totals:
    sims: int = 0
    fees_charged: int = 0
    fees_owed: int = 0
    moved: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.sims + other.sims,
            self.fees_charged + other.fees_charged,
            self.fees_owed + other.fees_owed,
            self.moved + other.moved,
        )


Progress = Callable[[int], None]  # told how many SIMs each batch looked at


async def run_until(
    db: Database, *, day: date, clock: Clock, progress: Progress | None = None
) -> dict[date, Totals]:
    """Run every day after the last finished one, in order, up to ``day``."""
    done: dict[date, Totals] = {}
    for current in await calendar.days_to_run(db, day=day):
        done[current] = await run_day(db, day=current, clock=clock, progress=progress)
    return done


async def run_day(
    db: Database, *, day: date, clock: Clock, batch: int = BATCH, progress: Progress | None = None
) -> Totals:
    """The run for one Hong Kong day; safe to repeat and to resume."""
    await open_day(db, day=day, now=clock.now())
    totals = await run_range(db, day=day, clock=clock, batch=batch, progress=progress)
    await close_day(db, day=day, now=clock.now())
    return totals


async def run_range(
    db: Database,
    *,
    day: date,
    clock: Clock,
    after: int = 0,
    upto: int | None = None,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> Totals:
    """The day's run on the SIMs with ids in (``after``, ``upto``] (all of them after
    ``after`` without ``upto``): the whole run, or a chunk of one the fleet shares
    (``jobs.pieces``), its totals added to the day's. Its day must be open (``open_day``);
    safe to repeat and to resume."""
    totals = Totals()
    while True:
        done = await db.transaction(
            lambda conn: _batch(conn, day=day, after=after, size=batch, now=clock.now(), upto=upto)  # noqa: B023 - awaited here
        )
        if done is None:
            return totals
        after, batch_totals = done
        totals += batch_totals
        if progress is not None:
            progress(batch_totals.sims)


async def open_day(db: Database, *, day: date, now: datetime) -> None:
    await db.transaction(lambda conn: _open_run(conn, day, now))


async def close_day(db: Database, *, day: date, now: datetime) -> None:
    await db.transaction(lambda conn: _close_run(conn, day, now))


async def _open_run(conn: AsyncConnection, day: date, now: datetime) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(insert(rt.runs).values(day=day, started_at=now).on_conflict_do_nothing())


async def _close_run(conn: AsyncConnection, day: date, now: datetime) -> None:
    await conn.execute(update(rt.runs).where(rt.runs.c.day == day).values(finished_at=now))


async def _batch(
    conn: AsyncConnection,
    *,
    day: date,
    after: int,
    size: int,
    now: datetime,
    upto: int | None = None,
) -> tuple[int, Totals] | None:
    """One batch of SIMs after id ``after`` (up to ``upto``): (the last id, what was done),
    or None at the end."""
    s = st.sims.c
    wanted = select(s.id).where(s.id > after)
    if upto is not None:
        wanted = wanted.where(s.id <= upto)
    ids = wanted.order_by(s.id).limit(size).subquery()
    last = (await conn.execute(select(func.max(ids.c.id)))).scalar()
    if last is None:
        return None
    unmarked = (
        (s.id > after)
        & (s.id <= last)
        & (s.state != SimState.RECYCLED.value)
        & or_(s.run_on.is_(None), s.run_on < day)
    )
    lines, first_billed, _ = await _lines(conn, unmarked)
    seen = len(lines)
    busy = [
        line.sim_id
        for line, done in zip(lines, (step(line, day) for line in lines), strict=True)
        if done.changes or done.notice or line.sim_id in first_billed
    ]
    steps: list[Step] = []
    if busy:  # the rest have nothing to do: left unmarked, a run repeated finds the same
        steps = await _work(conn, day, unmarked & s.id.in_(busy), now)
    totals = Totals(
        sims=seen,
        fees_charged=sum(1 for done in steps if done.charge),
        fees_owed=sum(1 for done in steps if done.owe),
        moved=sum(1 for done in steps if done.move_to),
    )
    r = rt.runs.c
    await conn.execute(
        update(rt.runs)
        .where(r.day == day)
        .values(
            sims=r.sims + totals.sims,
            fees_charged=r.fees_charged + totals.fees_charged,
            fees_owed=r.fees_owed + totals.fees_owed,
            moved=r.moved + totals.moved,
        )
    )
    return last, totals


async def _work(
    conn: AsyncConnection, day: date, which: ColumnElement[bool], now: datetime
) -> list[Step]:
    """Lock the SIMs with something to do (PostgreSQL: a credit in flight is waited for),
    read them again, and do it: notices, journals, the SIMs with their marks, and what
    recycling ends."""
    if conn.dialect.name == "postgresql":
        s = st.sims.c
        await conn.execute(select(s.id).where(which).order_by(s.id).with_for_update())
    lines, first_billed, currency = await _lines(conn, which)
    steps = [step(line, day) for line in lines]
    await notices.queue(conn, steps, now=now)  # before the links of SIMs recycled end
    await _apply(conn, day, lines, steps, first_billed, currency, now)
    recycled = [done.sim_id for done in steps if done.move_to is SimState.RECYCLED]
    if recycled:  # every link ends; the numbers go to the pool
        await conn.execute(delete(st.holdings).where(st.holdings.c.sim_id.in_(recycled)))
        await pool.release(conn, sim_ids=recycled, day=day)
        await buckets.close_for_sims(conn, sim_ids=recycled, now=now)
    return steps


async def _lines(
    conn: AsyncConnection, which: ColumnElement[bool]
) -> tuple[list[Line], set[int], dict[int, str]]:
    """Everything the rules need of the SIMs ``which`` selects, in one query; the
    monthly-fee SIMs that had no billing day yet (issued before the run existed), given one
    from their issue; and each SIM's currency."""
    s, p, b = st.sims.c, st.plans.c, lt.balances.c
    balance = (
        select(func.coalesce(func.sum(b.balance - b.pending_out), 0))
        .where(b.account_id == s.balance_account_id)
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(
            s.id,
            s.state,
            s.state_since,
            s.created_at,
            s.validity_until,
            s.billing_day,
            s.next_fee_on,
            s.arrears_minor,
            s.home_currency,
            p.retention,
            p.monthly_fee,
            p.grace_days,
            p.suspension_days,
            balance.label("balance"),
        )
        .join(st.plans, p.code == s.plan_code)
        .where(which)
        .order_by(s.id)
    )
    lines, first_billed, currency = [], set(), {}
    for (
        sim_id,
        state,
        state_since,
        created_at,
        validity_until,
        stored_day,
        stored_next,
        arrears,
        home_currency,
        model,
        fee,
        grace_days,
        suspension_days,
        balance,
    ) in rows:  # positionally: a million rows a run
        currency[sim_id] = home_currency
        retention = RETENTIONS[model]
        billing_day, next_fee_on = billing(retention, stored_day, stored_next, created_at)
        if next_fee_on != stored_next:
            first_billed.add(sim_id)
        lines.append(
            Line(
                sim_id=sim_id,
                state=STATES[state],
                state_since=day_of(state_since or created_at),
                retention=retention,
                fee=fee,
                grace_days=grace_days,
                suspension_days=suspension_days,
                balance=int(balance),
                arrears=arrears,
                validity_until=validity_until,
                billing_day=billing_day,
                next_fee_on=next_fee_on,
            )
        )
    return lines, first_billed, currency


async def _apply(
    conn: AsyncConnection,
    day: date,
    lines: Sequence[Line],
    steps: Sequence[Step],
    first_billed: set[int],
    currency: dict[int, str],
    now: datetime,
) -> None:
    """Write the batch's steps: the journals, then the SIMs worked on in one statement (with
    the billing dates of ``first_billed``, given them this time), each marked for the day,
    and their events."""
    fees = [(done.sim_id, done.charge) for done in steps if done.charge]
    forfeits = [(done.sim_id, done.forfeit) for done in steps if done.forfeit > 0]
    await _journals(conn, "fee", day, System.RETENTION_FEE_REVENUE, fees, currency, now)
    await _journals(conn, "forfeit", day, System.FORFEITED_BALANCE, forfeits, currency, now)
    rows = [
        {
            "b_id": line.sim_id,
            "b_state": (done.move_to or line.state).value,
            "b_since": now if done.move_to else None,
            "b_billing_day": line.billing_day,
            "b_next_fee_on": done.next_fee_on or line.next_fee_on,
            "b_owe": done.owe,
        }
        for line, done in zip(lines, steps, strict=True)
        if done.changes or done.notice or line.sim_id in first_billed
    ]
    s = st.sims.c
    since = bindparam("b_since", type_=s.state_since.type)
    if rows:
        await conn.execute(
            update(st.sims)
            .where(s.id == bindparam("b_id"))
            .values(
                state=bindparam("b_state"),
                state_since=func.coalesce(since, s.state_since),
                billing_day=bindparam("b_billing_day"),
                next_fee_on=bindparam("b_next_fee_on"),
                arrears_minor=s.arrears_minor + bindparam("b_owe"),
                run_on=day,
            )
            .execution_options(synchronize_session=False),
            rows,
        )
    moves = [
        {
            "sim_id": line.sim_id,
            "from_state": line.state.value,
            "to_state": done.move_to.value,
            "reason": done.reason,
            "at": now,
        }
        for line, done in zip(lines, steps, strict=True)
        if done.move_to is not None
    ]
    if moves:
        await conn.execute(st.events.insert(), moves)


async def _journals(
    conn: AsyncConnection,
    kind: str,
    day: date,
    to: System,
    amounts: Sequence[tuple[int, int]],
    currency: dict[int, str],
    now: datetime,
) -> None:
    """The batch's fees (to revenue) or forfeitures (to forfeited balances), each from its
    SIM's balance by its posting rule, in as few journals as the posting limit allows
    (``rules.batched``): client id ``<kind>:<day>:<first SIM>``. A SIM is marked once a day,
    so no SIM is in two of them for a day; the accounts are found in one query."""
    if not amounts:
        return
    codes = {sim_id: chart.sim_balance(sim_id, currency[sim_id]).code for sim_id, _ in amounts}
    targets = {c: chart.system_code(to, c) for c in {currency[sim_id] for sim_id, _ in amounts}}
    ids = await ledger.account_ids(conn, codes=sorted({*codes.values(), *targets.values()}))
    events = []
    for sim_id, minor in amounts:
        balance, target = ids[codes[sim_id]], ids[targets[currency[sim_id]]]
        amount = Money(minor, currency[sim_id])
        if to is System.FORFEITED_BALANCE:
            events.append(rules.forfeiture(sim_balance=balance, forfeited=target, remaining=amount))
        else:
            events.append(rules.retention_fee(sim_balance=balance, revenue=target, fee=amount))
    pooled = {ids[code] for code in targets.values()}
    for booked, postings in rules.batched(events, pooled=pooled):
        client_id = f"{kind}:{day}:{amounts[booked.start][0]}"
        await ledger.post_journal(conn, client_id=client_id, postings=postings, now=now)
