"""SIM plans: their rules and their names in three languages, and the default plans.

Design overview
---------------
A plan is data: its code, currency, retention model and fee, and a name per locale
(``simkeep.names``: one column each in ``sim_plans``), of which every reader is shown their
own (``Plan.name``). The default plans are created by ``ensure_plans`` (demo data, tests,
a new installation); migration 0008 gave the same names to the plans made before it.
Staff edit a plan's names and terms (``edited_plan`` checks them, ``update_plan`` stores
them and returns the plan as it was, for the audit log); its code, currency and retention
model stay as made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.i18n import LOCALES
from simkeep.names import Names
from simkeep.sims import tables as t
from simkeep.sims.model import Plan, Retention, SimError

DEFAULT_PLANS = (
    Plan(
        "HK-KEEP",
        Names("香港保號月租 HK$8", "香港保号月租 HK$8", "Hong Kong number keeper, HK$8 a month"),
        "HKD",
        Retention.MONTHLY_FEE,
        800,
    ),
    Plan(
        "CN-KEEP",
        Names("內地保號月租 ¥8", "内地保号月租 ¥8", "Mainland number keeper, ¥8 a month"),
        "CNY",
        Retention.MONTHLY_FEE,
        800,
    ),
    Plan(
        "HK-VALID",
        Names("香港有效期卡", "香港有效期卡", "Hong Kong validity plan"),
        "HKD",
        Retention.VALIDITY,
        0,
    ),
    Plan(
        "CN-VALID",
        Names("內地有效期卡", "内地有效期卡", "Mainland validity plan"),
        "CNY",
        Retention.VALIDITY,
        0,
    ),
)


class UnknownPlan(SimError):
    code = "unknown_plan"


async def ensure_plans(conn: AsyncConnection, *, plans: Sequence[Plan] = DEFAULT_PLANS) -> None:
    """Create the default plans that do not exist yet."""
    existing = set((await conn.execute(select(t.plans.c.code))).scalars())
    rows = [
        {
            "code": p.code,
            **p.names.values(),
            "currency": p.currency,
            "retention": p.retention.value,
            "monthly_fee": p.monthly_fee,
            "grace_days": p.grace_days,
            "suspension_days": p.suspension_days,
        }
        for p in plans
        if p.code not in existing
    ]
    if rows:
        await conn.execute(t.plans.insert(), rows)


async def get_plan(conn: AsyncConnection, *, code: str) -> Plan | None:
    """One plan by code, with its names in the three languages."""
    row = (await conn.execute(select(t.plans).where(t.plans.c.code == code))).first()
    return _plan(row) if row else None


async def plan_of_sim(conn: AsyncConnection, *, sim_id: int) -> Plan:
    """The plan of a SIM that exists."""
    row = (
        await conn.execute(
            select(t.plans)
            .join(t.sims, t.sims.c.plan_code == t.plans.c.code)
            .where(t.sims.c.id == sim_id)
        )
    ).one()
    return _plan(row)


def _plan(row: Row[tuple[object, ...]]) -> Plan:
    m = row._mapping
    return Plan(
        code=m["code"],
        names=Names.of_row(m),
        currency=m["currency"],
        retention=Retention(m["retention"]),
        monthly_fee=m["monthly_fee"],
        grace_days=m["grace_days"],
        suspension_days=m["suspension_days"],
    )


class InvalidPlanTerms(SimError):
    """A plan edit that cannot be; ``field`` names what to correct, ``code`` says why
    (``invalid_name``, ``invalid_fee``, ``fee_on_validity_plan``, ``invalid_days``)."""

    code = "invalid_plan"

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


MAX_MONTHLY_FEE = 1_000_000  # minor units: HK$ / ¥ 10,000
MAX_STATE_DAYS = 365
MAX_NAME = 100


def edited_plan(
    plan: Plan, *, names: Names, monthly_fee: int, grace_days: int, suspension_days: int
) -> Plan:
    """``plan`` with new names and terms, checked: a fee from 0 (only 0 on a validity plan)
    to ``MAX_MONTHLY_FEE``; grace and suspension from 1 to ``MAX_STATE_DAYS`` days."""
    if any(len(names.pick(locale)) > MAX_NAME for locale in LOCALES):
        raise InvalidPlanTerms("names", "invalid_name", f"a name has at most {MAX_NAME} characters")
    if not 0 <= monthly_fee <= MAX_MONTHLY_FEE:
        raise InvalidPlanTerms("monthly_fee", "invalid_fee", "a monthly fee is from 0 to 10,000")
    if plan.retention is Retention.VALIDITY and monthly_fee != 0:
        raise InvalidPlanTerms(
            "monthly_fee", "fee_on_validity_plan", "a validity plan charges no monthly fee"
        )
    for field, days in (("grace_days", grace_days), ("suspension_days", suspension_days)):
        if not 1 <= days <= MAX_STATE_DAYS:
            raise InvalidPlanTerms(
                field, "invalid_days", f"a number of days is from 1 to {MAX_STATE_DAYS}"
            )
    return replace(
        plan,
        names=names,
        monthly_fee=monthly_fee,
        grace_days=grace_days,
        suspension_days=suspension_days,
    )


async def all_plans(conn: AsyncConnection) -> list[Plan]:
    """Every plan, by code."""
    rows = await conn.execute(select(t.plans).order_by(t.plans.c.code))
    return [_plan(row) for row in rows]


async def update_plan(conn: AsyncConnection, *, plan: Plan) -> Plan:
    """Store a plan's names and terms (checked by ``edited_plan``); the plan as it was."""
    before = (
        await conn.execute(select(t.plans).where(t.plans.c.code == plan.code).with_for_update())
    ).first()
    if before is None:
        raise UnknownPlan(f"no plan {plan.code!r}")
    await conn.execute(
        update(t.plans)
        .where(t.plans.c.code == plan.code)
        .values(
            **plan.names.values(),
            monthly_fee=plan.monthly_fee,
            grace_days=plan.grace_days,
            suspension_days=plan.suspension_days,
        )
    )
    return _plan(before)
