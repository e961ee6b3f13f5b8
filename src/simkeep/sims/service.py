"""SIM use cases: issue a SIM, find it by either number, check a holder's ID.

Design overview
---------------
Issuing a SIM writes the card, its two lines and its first state event, and opens its
ledger accounts (balance and bonus money, in its home currency) in the same transaction.
Reads return ``model.Sim``; an unknown number is ``None``, not an error, so that callers can
say "unknown number" in their own words. ID checks compare keyed digests only.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.sims import tables as t
from simkeep.sims.model import (
    IdType,
    Number,
    Plan,
    Region,
    Retention,
    Sim,
    SimError,
    SimState,
    check_iccid,
    extended_validity,
    id_digest,
    mask_id,
    mask_name,
    parse_number,
)

DEFAULT_PLANS = (
    Plan("HK-KEEP", "香港保號月租 HK$8", "HKD", Retention.MONTHLY_FEE, 800),
    Plan("CN-KEEP", "内地保号月租 ¥8", "CNY", Retention.MONTHLY_FEE, 800),
    Plan("HK-VALID", "香港有效期卡", "HKD", Retention.VALIDITY, 0),
    Plan("CN-VALID", "内地有效期卡", "CNY", Retention.VALIDITY, 0),
)


class DuplicateSim(SimError):
    code = "duplicate_sim"


class UnknownPlan(SimError):
    code = "unknown_plan"


async def ensure_plans(conn: AsyncConnection, *, plans: Sequence[Plan] = DEFAULT_PLANS) -> None:
    """Create the default plans that do not exist yet."""
    existing = set((await conn.execute(select(t.plans.c.code))).scalars())
    rows = [
        {
            "code": p.code,
            "name": p.name,
            "currency": p.currency,
            "retention": p.retention.value,
            "monthly_fee": p.monthly_fee,
        }
        for p in plans
        if p.code not in existing
    ]
    if rows:
        await conn.execute(t.plans.insert(), rows)


async def get_plan(conn: AsyncConnection, *, code: str) -> Plan | None:
    row = (await conn.execute(select(t.plans).where(t.plans.c.code == code))).first()
    if row is None:
        return None
    return Plan(row.code, row.name, row.currency, Retention(row.retention), row.monthly_fee)


async def issue_sim(
    conn: AsyncConnection,
    *,
    iccid: str,
    plan_code: str,
    hk_number: str,
    cn_number: str,
    holder_name: str,
    id_type: IdType,
    id_number: str,
    id_key: bytes,
    now: datetime,
    state: SimState = SimState.ACTIVE,
    validity_until: datetime | None = None,
) -> Sim:
    """Issue a SIM with its two lines and its ledger accounts."""
    plan = await get_plan(conn, code=plan_code)
    if plan is None:
        raise UnknownPlan(f"no plan {plan_code!r}")
    hk, cn = parse_number(hk_number, expect=Region.HK), parse_number(cn_number, expect=Region.CN)
    values = {
        "iccid": check_iccid(iccid),
        "home_currency": plan.currency,
        "plan_code": plan.code,
        "state": state.value,
        "holder_masked": mask_name(holder_name),
        "id_type": id_type.value,
        "id_digest": id_digest(id_key, id_type, id_number),
        "id_masked": mask_id(id_type, id_number),
        "validity_until": validity_until,
        "created_at": now,
    }
    try:
        sim_id = (
            await conn.execute(t.sims.insert().values(values).returning(t.sims.c.id))
        ).scalar_one()
        await conn.execute(
            t.lines.insert(),
            [
                {"e164": hk.e164, "sim_id": sim_id, "region": Region.HK.value},
                {"e164": cn.e164, "sim_id": sim_id, "region": Region.CN.value},
            ],
        )
    except IntegrityError as error:
        raise DuplicateSim("that ICCID or number already belongs to a SIM") from error
    await conn.execute(
        t.events.insert().values(
            sim_id=sim_id, from_state=None, to_state=state.value, reason="issued", at=now
        )
    )
    for spec in (chart.sim_balance(sim_id, plan.currency), chart.sim_bonus(sim_id, plan.currency)):
        await ledger.open_account(conn, spec=spec, now=now)
    sim = await get_sim(conn, sim_id=sim_id)
    assert sim is not None
    return sim


def _sim_query() -> Select[tuple[object, ...]]:
    hk = t.lines.alias("hk")
    cn = t.lines.alias("cn")
    return (
        select(t.sims, hk.c.e164.label("hk_e164"), cn.c.e164.label("cn_e164"))
        .join(hk, (hk.c.sim_id == t.sims.c.id) & (hk.c.region == Region.HK.value))
        .join(cn, (cn.c.sim_id == t.sims.c.id) & (cn.c.region == Region.CN.value))
    )


def _sim(row: Row[tuple[object, ...]]) -> Sim:
    m = row._mapping
    return Sim(
        id=m["id"],
        iccid=m["iccid"],
        home_currency=m["home_currency"],
        plan_code=m["plan_code"],
        state=SimState(m["state"]),
        hk_number=Number(m["hk_e164"], Region.HK),
        cn_number=Number(m["cn_e164"], Region.CN),
        holder_masked=m["holder_masked"],
        id_type=IdType(m["id_type"]),
        id_masked=m["id_masked"],
        validity_until=m["validity_until"],
        created_at=m["created_at"],
    )


async def get_sim(conn: AsyncConnection, *, sim_id: int) -> Sim | None:
    """One SIM by id."""
    row = (await conn.execute(_sim_query().where(t.sims.c.id == sim_id))).first()
    return _sim(row) if row else None


async def find_by_number(conn: AsyncConnection, *, number: str) -> Sim | None:
    """The SIM either of whose lines is ``number`` (any usual spelling); None if unknown."""
    e164 = parse_number(number).e164
    sim_id = (await conn.execute(select(t.lines.c.sim_id).where(t.lines.c.e164 == e164))).scalar()
    return None if sim_id is None else await get_sim(conn, sim_id=sim_id)


async def count_sims(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(t.sims))).scalar_one())


async def id_matches(
    conn: AsyncConnection, *, sim_id: int, id_type: IdType, id_number: str, id_key: bytes
) -> bool:
    """Whether the document shown is the SIM's registered one (never reveals the number)."""
    row = (
        await conn.execute(
            select(t.sims.c.id_type, t.sims.c.id_digest).where(t.sims.c.id == sim_id)
        )
    ).first()
    if row is None or row.id_type != id_type.value:
        return False
    return hmac.compare_digest(row.id_digest, id_digest(id_key, id_type, id_number))


async def apply_topup(
    conn: AsyncConnection, *, sim_id: int, validity_days: int, now: datetime
) -> Sim:
    """What a credited top-up does to the SIM: a validity plan's date moves on (capped at
    730 days ahead), and a SIM in grace or suspended is active again at once."""
    sim = await get_sim(conn, sim_id=sim_id)
    if sim is None:
        raise SimError(f"no SIM {sim_id}")
    plan = await get_plan(conn, code=sim.plan_code)
    values: dict[str, object] = {}
    if plan is not None and plan.retention is Retention.VALIDITY:
        values["validity_until"] = extended_validity(sim.validity_until, validity_days, now)
    if sim.state in (SimState.GRACE, SimState.SUSPENDED):
        values["state"] = SimState.ACTIVE.value
        await conn.execute(
            t.events.insert().values(
                sim_id=sim_id,
                from_state=sim.state.value,
                to_state=SimState.ACTIVE.value,
                reason="top-up",
                at=now,
            )
        )
    if values:
        await conn.execute(t.sims.update().where(t.sims.c.id == sim_id).values(**values))
    updated = await get_sim(conn, sim_id=sim_id)
    assert updated is not None
    return updated
