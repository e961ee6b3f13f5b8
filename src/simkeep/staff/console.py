"""What the operator's pages read and change: the overview, the lines at risk, the runs, the
audit log, and the plans.

Design overview
---------------
One function per page, so a route makes one call. Reads come from the domains that own
the data (``retention.at_risk`` for states, risks and runs; ``sims.plans`` for plans;
``audit`` for the log), each page in one read. A plan edit is checked by the plan's own rule
(``plans.edited_plan``: a negative fee or zero days is refused and nothing changes), then
stored and recorded in the audit log, before and after, in one transaction.
"""

from __future__ import annotations

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


async def plan(db: Database, *, code: str) -> Plan:
    found = await db.read(lambda conn: plans.get_plan(conn, code=code))
    if found is None:
        raise UnknownPlan(f"no plan {code!r}")
    return found


async def edit_plan(
    db: Database,
    *,
    code: str,
    names: Names,
    monthly_fee: str,
    grace_days: int,
    suspension_days: int,
    actor: Actor,
    now: datetime,
) -> Plan:
    """Change a plan's names and terms (``monthly_fee`` in major units of its currency),
    recorded in the audit log with the plan before and after."""

    async def change(conn: AsyncConnection) -> Plan:
        current = await plans.get_plan(conn, code=code)
        if current is None:
            raise UnknownPlan(f"no plan {code!r}")
        try:
            fee = Money.parse(monthly_fee[:20], current.currency).minor
        except InvalidAmount as error:
            message = "enter the fee as an amount, like 8.00"
            raise InvalidPlanTerms("monthly_fee", "invalid_fee", message) from error
        edited = plans.edited_plan(
            current,
            names=names,
            monthly_fee=fee,
            grace_days=grace_days,
            suspension_days=suspension_days,
        )
        before = await plans.update_plan(conn, plan=edited)
        await audit.record(
            conn,
            actor=actor,
            action="plan.update",
            target=Target("plan", code),
            before=snapshot(before),
            after=snapshot(edited),
            now=now,
        )
        return edited

    return await db.transaction(change)


def snapshot(plan: Plan) -> dict[str, Any]:
    """A plan as the audit log keeps it."""
    return {
        "names": plan.names.values(),
        "currency": plan.currency,
        "retention": plan.retention.value,
        "monthly_fee": plan.monthly_fee,
        "grace_days": plan.grace_days,
        "suspension_days": plan.suspension_days,
    }
