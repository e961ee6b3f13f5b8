"""SIM plans: their rules and their names in three languages, and the default plans.

Design overview
---------------
A plan is data: its code, currency, retention model and fee, and a name per locale
(``simkeep.names``: one column each in ``sim_plans``), of which every reader is shown their
own (``Plan.name``). The default plans are created by ``ensure_plans`` (demo data, tests,
a new installation); migration 0008 gave the same names to the plans made before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

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
