"""SIM use cases: issue a SIM, find it by either number, check a holder's ID, link a SIM to
the subscriber who proves they hold it.

Design overview
---------------
Issuing a SIM writes the card, its two lines and its first state event, and opens its
ledger accounts (balance and bonus money, in its home currency) in the same transaction.
Reads return ``model.Sim``; an unknown number is ``None``, not an error, so that callers can
say "unknown number" in their own words. ID checks compare keyed digests only.

A subscriber links a SIM by reading a one-time code sent by SMS to one of its numbers
(``request_link_code`` then ``link_sim``); only linked SIMs are shown with their balance, so
no one reads another's SIM by changing an id. Several accounts may hold one SIM; each new
link is texted to the SIM, and who holds it is shown to its holders (``holdings``). Plans,
with their names in three languages, are in ``plans``; both are re-exported here.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from functools import cache

from sqlalchemy import FromClause, Row, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.phone import Number, Region, parse_number
from simkeep.retention.model import first_fee
from simkeep.sims import pool
from simkeep.sims import statements as sql
from simkeep.sims import tables as t
from simkeep.sims.holdings import holders, tell_the_sim, unlink_sim
from simkeep.sims.model import (
    IdType,
    Retention,
    Sim,
    SimAccount,
    SimError,
    SimState,
    check_iccid,
    extended_validity,
    id_digest,
    mask_id,
    mask_name,
)
from simkeep.sims.plans import DEFAULT_PLANS, UnknownPlan, ensure_plans, get_plan, plan_of_sim
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import CodePurpose, Limits

__all__ = [
    "DEFAULT_PLANS",
    "DuplicateSim",
    "NotLinkable",
    "UnknownPlan",
    "apply_topup",
    "assign_sim",
    "count_sims",
    "ensure_plans",
    "find_by_number",
    "get_plan",
    "get_sim",
    "held_sim",
    "held_sims",
    "holders",
    "id_matches",
    "issue_sim",
    "link_sim",
    "plan_of_sim",
    "request_link_code",
    "unlink_sim",
]


class DuplicateSim(SimError):
    code = "duplicate_sim"


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
    values: dict[str, object] = {
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
        "state_since": now,
    }
    if plan.retention is Retention.MONTHLY_FEE:
        values["billing_day"], values["next_fee_on"] = first_fee(now)
    try:
        sim_id = (
            await conn.execute(t.sims.insert().values(values).returning(t.sims.c.id))
        ).scalar_one()
        reused = await pool.claim(conn, numbers=[hk, cn], sim_id=sim_id, now=now)
        new_lines = [
            {"e164": number.e164, "sim_id": sim_id, "region": number.region.value}
            for number in (hk, cn)
            if number.e164 not in reused
        ]
        if new_lines:
            await conn.execute(t.lines.insert(), new_lines)
    except IntegrityError as error:
        raise DuplicateSim("that ICCID or number already belongs to a SIM") from error
    await conn.execute(
        t.events.insert().values(
            sim_id=sim_id, from_state=None, to_state=state.value, reason="issued", at=now
        )
    )
    balance = await ledger.open_account(
        conn, spec=chart.sim_balance(sim_id, plan.currency), now=now
    )
    await ledger.open_account(conn, spec=chart.sim_bonus(sim_id, plan.currency), now=now)
    await conn.execute(
        t.sims.update().where(t.sims.c.id == sim_id).values(balance_account_id=balance.id)
    )
    sim = await get_sim(conn, sim_id=sim_id)
    assert sim is not None
    return sim


@cache  # statements are immutable; building one (and its cache key) each call is not free
def _sim_query() -> Select[tuple[object, ...]]:
    """A SIM with its two numbers: its lines, or, for a recycled SIM whose number was issued
    again, the pool's record of it."""
    joined: FromClause = t.sims
    numbers = []
    for region in Region:
        line = t.lines.alias(f"{region.value.lower()}_line")
        was = t.pool.alias(f"{region.value.lower()}_was")
        joined = joined.outerjoin(
            line, (line.c.sim_id == t.sims.c.id) & (line.c.region == region.value)
        ).outerjoin(
            was,
            (was.c.sim_id == t.sims.c.id)
            & (was.c.region == region.value)
            & was.c.reissued_at.is_not(None),
        )
        numbers.append(func.coalesce(line.c.e164, was.c.e164).label(f"{region.value.lower()}_e164"))
    return select(t.sims, *numbers).select_from(joined)


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
        state_since=m["state_since"],
        billing_day=m["billing_day"],
        next_fee_on=m["next_fee_on"],
        arrears_minor=m["arrears_minor"],
    )


async def get_sim(conn: AsyncConnection, *, sim_id: int) -> Sim | None:
    """One SIM by id."""
    row = (await conn.execute(_sim_query().where(t.sims.c.id == sim_id))).first()
    return _sim(row) if row else None


async def find_by_number(conn: AsyncConnection, *, number: str) -> Sim | None:
    """The SIM either of whose lines is ``number`` (any usual spelling); None if unknown."""
    e164 = parse_number(number).e164
    line = select(t.lines.c.sim_id).where(t.lines.c.e164 == e164).scalar_subquery()
    row = (await conn.execute(_sim_query().where(t.sims.c.id == line))).first()
    return _sim(row) if row else None


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
    conn: AsyncConnection,
    *,
    sim_id: int,
    state: SimState,
    validity_until: datetime | None,
    retention: Retention,
    validity_days: int,
    now: datetime,
    reactivate: bool = True,
) -> datetime | None:
    """What a credited top-up does to the SIM (in ``state``, valid until ``validity_until``,
    on a plan of ``retention``): a validity plan's date moves on (capped at 730 days ahead),
    and a SIM in grace or suspended is active again at once — when it owes nothing any more
    (``reactivate``: its arrears were paid first). Returns the validity after."""
    new_validity = validity_until
    if retention is Retention.VALIDITY:
        new_validity = extended_validity(validity_until, validity_days, now)
    lapsed = state in (SimState.GRACE, SimState.SUSPENDED)
    new_state = SimState.ACTIVE if lapsed and reactivate else state
    if new_state is not state:
        await conn.execute(
            t.events.insert().values(
                sim_id=sim_id,
                from_state=state.value,
                to_state=new_state.value,
                reason="top-up",
                at=now,
            )
        )
    if (new_state, new_validity) != (state, validity_until):
        await sql.SIM_AFTER_TOPUP.execute(
            conn,
            sim_id=sim_id,
            state=new_state.value,
            validity_until=new_validity,
            moved_at=now if new_state is not state else None,
        )
    return new_validity


class NotLinkable(SimError):
    code = "not_linkable"


async def request_link_code(
    db: Database, *, number: str, language: str, key: bytes, limits: Limits, now: datetime
) -> None:
    """Send a code by SMS to ``number``, a line of a live SIM, to prove it is in your hands
    (``language``: the asker's, for a number that is nobody's login)."""
    sim = await db.transaction(lambda conn: find_by_number(conn, number=number))
    if sim is None:
        raise NotLinkable("no China–Hong Kong SIM has this number: check it")
    if sim.state is SimState.RECYCLED:
        raise NotLinkable("this number was recycled and can no longer be linked")
    await subscribers.request_code(
        db,
        phone=number,
        purpose=CodePurpose.LINK_SIM,
        language=language,
        key=key,
        limits=limits,
        now=now,
    )


async def link_sim(
    db: Database,
    *,
    subscriber_id: int,
    number: str,
    code: str,
    language: str,
    key: bytes,
    limits: Limits,
    now: datetime,
) -> Sim:
    """Link the SIM of ``number`` to the subscriber who typed the code sent to it, and text
    the number that one more account holds it (``language``: the linker's)."""
    e164 = parse_number(number).e164
    await subscribers.confirm_code(
        db, phone=e164, purpose=CodePurpose.LINK_SIM, code=code, key=key, limits=limits, now=now
    )

    async def link(conn: AsyncConnection) -> Sim:
        sim = await find_by_number(conn, number=e164)
        if sim is None or sim.state is SimState.RECYCLED:
            raise NotLinkable("this number can no longer be linked")
        if await assign_sim(conn, subscriber_id=subscriber_id, sim_id=sim.id, now=now):
            await tell_the_sim(
                conn, number=e164, subscriber_id=subscriber_id, language=language, now=now
            )
        return sim

    return await db.transaction(link)


async def assign_sim(
    conn: AsyncConnection, *, subscriber_id: int, sim_id: int, now: datetime
) -> bool:
    """Record that the subscriber holds the SIM (once); proof is the caller's business.
    True if they did not hold it before."""
    linked = (
        await conn.execute(
            select(t.holdings.c.sim_id).where(
                t.holdings.c.subscriber_id == subscriber_id, t.holdings.c.sim_id == sim_id
            )
        )
    ).first()
    if linked is None:
        await conn.execute(
            t.holdings.insert().values(subscriber_id=subscriber_id, sim_id=sim_id, linked_at=now)
        )
    return linked is None


async def held_sims(conn: AsyncConnection, *, subscriber_id: int) -> list[SimAccount]:
    """The subscriber's linked SIMs, oldest link first, with their balances."""
    rows = await conn.execute(
        _sim_query()
        .join(t.holdings, t.holdings.c.sim_id == t.sims.c.id)
        .where(t.holdings.c.subscriber_id == subscriber_id)
        .order_by(t.holdings.c.linked_at, t.sims.c.id)
    )
    return [await _account_view(conn, _sim(row)) for row in rows.all()]


async def held_sim(conn: AsyncConnection, *, subscriber_id: int, sim_id: int) -> SimAccount | None:
    """One linked SIM of the subscriber; None for a SIM they have not linked."""
    row = (
        await conn.execute(
            _sim_query()
            .join(t.holdings, t.holdings.c.sim_id == t.sims.c.id)
            .where(t.holdings.c.subscriber_id == subscriber_id, t.sims.c.id == sim_id)
        )
    ).first()
    return await _account_view(conn, _sim(row)) if row else None


async def _account_view(conn: AsyncConnection, sim: Sim) -> SimAccount:
    plan = await get_plan(conn, code=sim.plan_code)
    assert plan is not None  # a SIM's plan_code references its plan
    amounts = []
    for spec in (
        chart.sim_balance(sim.id, sim.home_currency),
        chart.sim_bonus(sim.id, sim.home_currency),
    ):
        account = await ledger.get_account_by_code(conn, code=spec.code)
        balance = None if account is None else await ledger.get_balance(conn, account_id=account.id)
        amounts.append(balance.money() if balance else Money(0, sim.home_currency))
    return SimAccount(sim, plan, amounts[0], amounts[1])
