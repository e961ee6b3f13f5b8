"""What the operator watches of keeping numbers alive: SIMs by state, the lines at risk in
the next days, and the last retention runs (read models for the staff pages).

Design overview
---------------
A line is *at risk* when the daily run will move its SIM on within the horizon (14 days by
default) if nothing is done — the same rules as ``model.step`` and ``model.lapses_on``:

* ``active`` on a validity plan: on the day after its validity ends (``validity_ended``);
* ``active`` on a monthly fee: on the billing date of a fee its balance cannot cover
  (``fee_unpaid``) — within the horizon only the next fee can be that one, as fees are a
  month apart;
* ``grace``: ``grace_days`` after the day it began (``grace_over``, to ``suspended``);
* ``suspended``: ``suspension_days`` after the day it began (``suspension_over``, to
  ``recycled``).

One query per state finds them over ``sims`` joined to their plan, lines and balance,
filtered, ordered by the day and paginated in SQL — never a query per SIM. Days are Hong
Kong days; an instant plus whole days keeps its Hong Kong clock time (Hong Kong has no
daylight saving), so "leaves on or before day D" is "the instant its state began, plus the
plan's days, is before the start of day D + 1". The day shown is then computed from each
row (``day_of``); ``at_risk_by_day`` groups the same lines by that day in SQL, for the
dashboard's chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG
from simkeep.days import as_day, hk_day
from simkeep.ledger import tables as lt
from simkeep.phone import Number, Region
from simkeep.retention import tables as rt
from simkeep.retention.model import day_of
from simkeep.sims import tables as st
from simkeep.sims.model import Retention, SimState
from simkeep.sqltypes import sqlite_timestamp

HORIZON_DAYS = 14
AT_RISK_STATES = (SimState.ACTIVE, SimState.GRACE, SimState.SUSPENDED)
REASONS = {
    SimState.GRACE: ("grace_over", SimState.SUSPENDED),
    SimState.SUSPENDED: ("suspension_over", SimState.RECYCLED),
}


@dataclass(frozen=True, slots=True)
class AtRisk:
    sim_id: int
    state: SimState
    plan_code: str
    hk_number: str  # masked
    cn_number: str  # masked
    leaves_on: date  # the Hong Kong day the run moves it on
    moves_to: SimState
    reason: str  # validity_ended, fee_unpaid, grace_over, suspension_over


@dataclass(frozen=True, slots=True)
class Run:
    day: date
    started_at: datetime
    finished_at: datetime | None
    sims: int
    fees_charged: int
    fees_owed: int
    moved: int


def start_of(day: date) -> datetime:
    """The instant a Hong Kong day begins."""
    return datetime.combine(day, time(), HONG_KONG)


async def sims_by_state(conn: AsyncConnection) -> dict[SimState, int]:
    """How many SIMs are in each state."""
    s = st.sims.c
    rows = await conn.execute(select(s.state, func.count()).group_by(s.state))
    counts = dict.fromkeys(SimState, 0)
    counts.update({SimState(state): int(count) for state, count in rows})
    return counts


async def at_risk_counts(
    conn: AsyncConnection, *, today: date, days: int = HORIZON_DAYS
) -> dict[SimState, int]:
    """How many lines of each state the run moves on within ``days`` of ``today``."""
    counts = {}
    for state in AT_RISK_STATES:
        query = (
            select(func.count()).select_from(_joined()).where(_at_risk(conn, state, today, days))
        )
        counts[state] = int((await conn.execute(query)).scalar_one())
    return counts


async def at_risk_by_day(
    conn: AsyncConnection, *, today: date, days: int = HORIZON_DAYS
) -> dict[SimState, dict[date, int]]:
    """How many lines of each state the run moves on, per Hong Kong day within ``days`` of
    ``today`` (a line already due counts on ``today``): one grouped query per state."""
    found = {}
    for state in AT_RISK_STATES:
        leaves_on = _leaves_on(conn, state).label("day")
        query = (
            select(leaves_on, func.count().label("n"))
            .select_from(_joined())
            .where(_at_risk(conn, state, today, days))
            .group_by(leaves_on)
        )
        per_day: dict[date, int] = {}
        for row in await conn.execute(query):
            day = max(as_day(row.day), today)
            per_day[day] = per_day.get(day, 0) + int(row.n)
        found[state] = per_day
    return found


async def at_risk(
    conn: AsyncConnection,
    *,
    state: SimState,
    today: date,
    days: int = HORIZON_DAYS,
    offset: int = 0,
    limit: int = 50,
) -> list[AtRisk]:
    """The lines in ``state`` the run moves on within ``days`` of ``today``, soonest first."""
    s, p = st.sims.c, st.plans.c
    hk, cn = st.lines.alias("hk"), st.lines.alias("cn")
    query = (
        select(
            s.id,
            s.plan_code,
            s.validity_until,
            s.next_fee_on,
            func.coalesce(s.state_since, s.created_at).label("since"),
            p.retention,
            p.grace_days,
            p.suspension_days,
            hk.c.e164.label("hk"),
            cn.c.e164.label("cn"),
        )
        .select_from(
            _joined()
            .join(hk, and_(hk.c.sim_id == s.id, hk.c.region == Region.HK.value))
            .join(cn, and_(cn.c.sim_id == s.id, cn.c.region == Region.CN.value))
        )
        .where(_at_risk(conn, state, today, days))
        .order_by(_leaves_at(conn, state), s.id)
        .offset(offset)
        .limit(limit)
    )
    return [_row(state, row) for row in await conn.execute(query)]


async def last_runs(conn: AsyncConnection, *, limit: int = 30) -> list[Run]:
    """The last retention runs, newest day first."""
    r = rt.runs.c
    rows = await conn.execute(select(rt.runs).order_by(r.day.desc()).limit(limit))
    return [
        Run(
            row.day,
            row.started_at,
            row.finished_at,
            row.sims,
            row.fees_charged,
            row.fees_owed,
            row.moved,
        )
        for row in rows
    ]


def _joined() -> Any:
    return st.sims.join(st.plans, st.plans.c.code == st.sims.c.plan_code)


def _balance() -> Any:
    """A SIM's money balance from the books (its balance account's slot rows), read as the
    daily run reads it."""
    b = lt.balances.c
    return (
        select(func.coalesce(func.sum(b.balance), 0))
        .where(b.account_id == st.sims.c.balance_account_id)
        .scalar_subquery()
    )


def _plus_days(conn: AsyncConnection, instant: Any, days: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return instant + func.make_interval(0, 0, 0, days)
    return func.strftime("%Y-%m-%d %H:%M:%f", instant, literal("+") + cast(days, String) + " days")


def _leaves_at(conn: AsyncConnection, state: SimState) -> Any:
    """When a SIM in ``state`` is moved on, to the day (for filtering and ordering): its
    state's start plus the plan's days; for an active SIM, its validity's end plus a day, or
    its next fee's date."""
    s, p = st.sims.c, st.plans.c
    since = func.coalesce(s.state_since, s.created_at)
    if state is SimState.GRACE:
        return _plus_days(conn, since, p.grace_days)
    if state is SimState.SUSPENDED:
        return _plus_days(conn, since, p.suspension_days)
    validity_leaves = _plus_days(conn, s.validity_until, 1)
    return case((p.retention == Retention.VALIDITY.value, validity_leaves), else_=s.next_fee_on)


def _leaves_on(conn: AsyncConnection, state: SimState) -> Any:
    """The Hong Kong day a SIM in ``state`` is moved on, in SQL (the day ``_row`` shows)."""
    s, p = st.sims.c, st.plans.c
    if state is not SimState.ACTIVE:
        return hk_day(conn, _leaves_at(conn, state))
    validity_leaves = hk_day(conn, _plus_days(conn, s.validity_until, 1))
    return case((p.retention == Retention.VALIDITY.value, validity_leaves), else_=s.next_fee_on)


def _at_risk(conn: AsyncConnection, state: SimState, today: date, days: int) -> ColumnElement[bool]:
    s, p = st.sims.c, st.plans.c
    end = start_of(today + timedelta(days=days + 1))  # the start of the day after the horizon
    if state is not SimState.ACTIVE:
        bound = end if conn.dialect.name == "postgresql" else sqlite_timestamp(end)
        return and_(s.state == state.value, _leaves_at(conn, state) < bound)
    validity_ends = and_(
        p.retention == Retention.VALIDITY.value,
        s.validity_until.is_not(None),
        s.validity_until < start_of(today + timedelta(days=days)),  # leaves the day after
    )
    fee_unpaid = and_(
        p.retention == Retention.MONTHLY_FEE.value,
        p.monthly_fee > 0,
        s.next_fee_on.is_not(None),
        s.next_fee_on <= today + timedelta(days=days),
        _balance() < p.monthly_fee,
    )
    return and_(s.state == SimState.ACTIVE.value, validity_ends | fee_unpaid)


def _row(state: SimState, row: Any) -> AtRisk:
    if state is SimState.ACTIVE:
        validity = row.retention == Retention.VALIDITY.value
        leaves_on = day_of(row.validity_until) + timedelta(1) if validity else row.next_fee_on
        reason, moves_to = ("validity_ended" if validity else "fee_unpaid"), SimState.GRACE
    else:
        length = row.grace_days if state is SimState.GRACE else row.suspension_days
        leaves_on = day_of(row.since) + timedelta(length)
        reason, moves_to = REASONS[state]
    return AtRisk(
        sim_id=row.id,
        state=state,
        plan_code=row.plan_code,
        hk_number=Number(row.hk, Region.HK).masked(),
        cn_number=Number(row.cn, Region.CN).masked(),
        leaves_on=leaves_on,
        moves_to=moves_to,
        reason=reason,
    )
