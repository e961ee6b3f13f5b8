"""What the operator's pages read and change: the overview, the lines at risk, the runs, the
audit log, and the plans.

Design overview
---------------
One function per page, so a route makes one call. Reads come from the domains that own
the data (``retention.at_risk`` for states, risks and runs; ``sims.plans`` for plans;
``audit`` for the log), each page in one read. A plan edit is checked by the plan's own rule
(``plans.edited_plan``: a negative fee or zero days is refused and nothing changes), then
stored with the plan's usage rates and recorded in the audit log, before and after, in one
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.money import InvalidAmount, Money
from simkeep.names import Names
from simkeep.retention import at_risk
from simkeep.retention.at_risk import AtRisk, Run
from simkeep.sims import plans
from simkeep.sims.model import Plan, SimState
from simkeep.sims.plans import InvalidPlanTerms, UnknownPlan
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Entry, Target
from simkeep.usage import rates as usage_rates
from simkeep.usage.model import Kind, Zone
from simkeep.usage.rates import Rates

PAGE = 50
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Overview:
    by_state: dict[SimState, int]
    at_risk: dict[SimState, int]
    last_run: Run | None


@dataclass(frozen=True, slots=True)
class RiskPage:
    state: SimState
    counts: dict[SimState, int]
    lines: list[AtRisk]
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[Entry]
    actions: list[str]
    older: int | None  # the id to read older entries before, if there are any


async def overview(db: Database, *, today: date) -> Overview:
    """SIMs by state, lines at risk by state, and the last retention run."""

    async def read(conn: AsyncConnection) -> Overview:
        runs = await at_risk.last_runs(conn, limit=1)
        return Overview(
            by_state=await at_risk.sims_by_state(conn),
            at_risk=await at_risk.at_risk_counts(conn, today=today),
            last_run=runs[0] if runs else None,
        )

    return await db.read(read)


async def lines_at_risk(db: Database, *, state: SimState, today: date, page: int) -> RiskPage:
    """One page of the lines in ``state`` that the run moves on in the next 14 days."""
    page = min(max(page, 1), MAX_PAGE)

    async def read(conn: AsyncConnection) -> RiskPage:
        counts = await at_risk.at_risk_counts(conn, today=today)
        lines = await at_risk.at_risk(
            conn, state=state, today=today, offset=(page - 1) * PAGE, limit=PAGE
        )
        pages = max(1, -(-counts[state] // PAGE))
        return RiskPage(state, counts, lines, page, pages)

    return await db.read(read)


async def retention_runs(db: Database) -> list[Run]:
    """The last retention runs, newest first."""
    return await db.read(lambda conn: at_risk.last_runs(conn, limit=60))


async def audit_log(
    db: Database, *, staff_id: int | None, action: str | None, before_id: int | None
) -> AuditPage:
    """A page of the audit log, newest first, filtered by member of staff and action."""

    async def read(conn: AsyncConnection) -> AuditPage:
        entries = await audit.entries(
            conn, staff_id=staff_id, action=action, before_id=before_id, limit=PAGE + 1
        )
        older = entries[PAGE - 1].id if len(entries) > PAGE else None
        return AuditPage(entries[:PAGE], await audit.actions(conn), older)

    return await db.read(read)


async def all_plans(db: Database) -> list[Plan]:
    return await db.read(plans.all_plans)


async def plan(db: Database, *, code: str) -> tuple[Plan, Rates]:
    """A plan and its usage rates."""

    async def read(conn: AsyncConnection) -> tuple[Plan, Rates]:
        found = await plans.get_plan(conn, code=code)
        if found is None:
            raise UnknownPlan(f"no plan {code!r}")
        return found, await usage_rates.rates_of(conn, plan_code=code)

    return await db.transaction(read)


async def edit_plan(
    db: Database,
    *,
    code: str,
    names: Names,
    monthly_fee: str,
    grace_days: int,
    suspension_days: int,
    rates: Mapping[tuple[Zone, Kind], str],
    actor: Actor,
    now: datetime,
) -> Plan:
    """Change a plan's names and terms (``monthly_fee`` in major units of its currency) and
    its usage rates (each a price of one unit in major units, by zone and kind), recorded
    in the audit log with the plan and its rates before and after."""

    async def change(conn: AsyncConnection) -> Plan:
        current = await plans.get_plan(conn, code=code)
        if current is None:
            raise UnknownPlan(f"no plan {code!r}")
        try:
            fee = Money.parse(monthly_fee[:20], current.currency).minor
        except InvalidAmount as error:
            message = "enter the fee as an amount, like 8.00"
            raise InvalidPlanTerms("monthly_fee", "invalid_fee", message) from error
        prices = {key: _rate(text, current.currency, key) for key, text in rates.items()}
        rates_before = await usage_rates.rates_of(conn, plan_code=code)
        edited = plans.edited_plan(
            current,
            names=names,
            monthly_fee=fee,
            grace_days=grace_days,
            suspension_days=suspension_days,
        )
        before = await plans.update_plan(conn, plan=edited)
        for (zone, kind), price in prices.items():
            await usage_rates.set_rate(conn, plan_code=code, zone=zone, kind=kind, rate_minor=price)
        await audit.record(
            conn,
            actor=actor,
            action="plan.update",
            target=Target("plan", code),
            before=snapshot(before, rates_before),
            after=snapshot(edited, {**rates_before, **prices}),
            now=now,
        )
        return edited

    return await db.transaction(change)


def rate_field(zone: Zone, kind: Kind) -> str:
    """The name of a rate's field on the plan's page: ``rate_hk_voice``."""
    return f"rate_{zone.value}_{kind.value}"


def _rate(text: str, currency: str, key: tuple[Zone, Kind]) -> int:
    """A price of one unit typed in major units, in minor units; refused past the maximum."""
    field = rate_field(*key)
    try:
        minor = Money.parse(text[:20], currency).minor
    except InvalidAmount as error:
        raise InvalidPlanTerms(field, "invalid_rate", "enter a price like 0.25") from error
    if not 0 <= minor <= usage_rates.MAX_RATE:
        raise InvalidPlanTerms(field, "invalid_rate", "a price of one unit is from 0 to 10,000")
    return minor


def snapshot(plan: Plan, rates: Rates) -> dict[str, Any]:
    """A plan and its usage rates as the audit log keeps them."""
    return {
        "names": plan.names.values(),
        "currency": plan.currency,
        "retention": plan.retention.value,
        "monthly_fee": plan.monthly_fee,
        "grace_days": plan.grace_days,
        "suspension_days": plan.suspension_days,
        "rates": {rate_field(*key): rates[key] for key in sorted(rates)},
    }
