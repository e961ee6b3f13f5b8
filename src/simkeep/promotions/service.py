"""Promotion use cases: the operator's catalogue, what applies to a top-up, and the budget and
per-SIM cap reserved when an order is placed and released when it expires unpaid
(docs/promotions.md).

Design overview
---------------
* ``create_promotion``, ``set_state`` and ``list_promotions`` are the catalogue; a promotion
  is never edited once created (what an order was shown stays what it is granted), only
  paused and resumed.
* ``offer`` gathers what the pure ``model.applicable`` needs of a SIM — its plan, whether it
  was ever credited, its grants so far — and decides. The quote, the wizard's review and
  placing an order all call it.
* ``reserve`` (with the order), ``release`` (when it expires unpaid) and ``held_by_order``
  are ``reserving``'s, re-exported here; granting at crediting, and the expiry of what was
  granted, are in ``granting``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.money import Money
from simkeep.names import Names
from simkeep.payment_methods import Channel, Provider
from simkeep.promotions import tables as t
from simkeep.promotions.model import (
    Applied,
    Benefit,
    BenefitKind,
    Conditions,
    NewPromotion,
    Promotion,
    PromotionError,
    PromotionState,
    Prospect,
    SalesChannel,
    UnknownPromotion,
    applicable,
    check_promotion,
    offered_to,
)
from simkeep.promotions.reserving import (
    GRANTED,
    RELEASED,
    RESERVED,
    held_by_order,
    release,
    reserve,
    take,
)
from simkeep.sims import service as sims
from simkeep.topups.queries import credited_before

__all__ = [  # reserving's, for the callers of this package
    "GRANTED",
    "RELEASED",
    "RESERVED",
    "held_by_order",
    "release",
    "reserve",
    "take",
]


async def create_promotion(
    conn: AsyncConnection,
    *,
    code: str,
    names: Names,
    priority: int,
    stackable: bool,
    conditions: Conditions,
    benefits: Sequence[Benefit],
    budget: int | None,
    per_sim_cap: int | None,
    now: datetime,
    state: PromotionState = PromotionState.ACTIVE,
) -> Promotion:
    """A new promotion, checked field by field; its code is unique."""
    check_promotion(
        code=code,
        priority=priority,
        budget=budget,
        per_sim_cap=per_sim_cap,
        conditions=conditions,
        benefits=benefits,
    )
    c = conditions
    if c.plan_code is not None and await sims.get_plan(conn, code=c.plan_code) is None:
        raise PromotionError("plan_code", f"no plan {c.plan_code!r}")
    taken = await conn.scalar(select(t.promotions.c.id).where(t.promotions.c.code == code))
    if taken is not None:
        raise PromotionError("code", f"a promotion {code!r} exists already")
    values = {
        "code": code,
        **names.values(),
        "state": state.value,
        "priority": priority,
        "stackable": stackable,
        "currency": c.currency,
        "min_credit_minor": c.min_credit_minor,
        "sales_channel": c.sales_channel.value if c.sales_channel else None,
        "provider": c.provider.value if c.provider else None,
        "pay_channel": c.pay_channel.value if c.pay_channel else None,
        "first_topup": c.first_topup,
        "plan_code": c.plan_code,
        "starts_at": c.starts_at,
        "ends_at": c.ends_at,
        "budget": budget,
        "per_sim_cap": per_sim_cap,
        "created_at": now,
    }
    try:
        promotion_id = (
            await conn.execute(t.promotions.insert().values(values).returning(t.promotions.c.id))
        ).scalar_one()
    except IntegrityError as error:  # the same code, written by a racing request
        raise PromotionError("code", f"a promotion {code!r} exists already") from error
    await conn.execute(
        t.benefits.insert(),
        [
            {
                "promotion_id": promotion_id,
                "kind": b.kind.value,
                "amount": b.amount,
                "zone": b.zone,
                "expires_days": b.expires_days,
            }
            for b in benefits
        ],
    )
    created = await get_promotion(conn, promotion_id=promotion_id)
    assert created is not None
    return created


async def create_from(conn: AsyncConnection, *, new: NewPromotion, now: datetime) -> Promotion:
    """``create_promotion`` of what the operator asked for."""
    return await create_promotion(
        conn,
        code=new.code,
        names=new.names,
        priority=new.priority,
        stackable=new.stackable,
        conditions=new.conditions,
        benefits=new.benefits,
        budget=new.budget,
        per_sim_cap=new.per_sim_cap,
        now=now,
    )


async def set_state(
    conn: AsyncConnection, *, promotion_id: int, state: PromotionState
) -> tuple[Promotion, Promotion]:
    """Pause or resume a promotion; the promotion before and after (orders placed while it
    was active keep what they hold)."""
    before = await get_promotion(conn, promotion_id=promotion_id)
    if before is None:
        raise UnknownPromotion(f"no promotion {promotion_id}")
    await conn.execute(
        update(t.promotions).where(t.promotions.c.id == promotion_id).values(state=state.value)
    )
    after = await get_promotion(conn, promotion_id=promotion_id)
    assert after is not None
    return before, after


async def get_promotion(conn: AsyncConnection, *, promotion_id: int) -> Promotion | None:
    found = await _promotions(conn, t.promotions.c.id == promotion_id)
    return found[0] if found else None


async def list_promotions(conn: AsyncConnection) -> list[Promotion]:
    """Every promotion, newest first."""
    return await _promotions(conn, None)


async def live_promotions(conn: AsyncConnection, *, now: datetime) -> list[Promotion]:
    """The promotions that may apply at ``now``: active, in their window, not run out."""
    p = t.promotions.c
    return await _promotions(
        conn,
        and_(
            p.state == PromotionState.ACTIVE.value,
            or_(p.starts_at.is_(None), p.starts_at <= now),
            or_(p.ends_at.is_(None), p.ends_at > now),
            or_(p.budget.is_(None), p.used < p.budget),
        ),
    )


async def on_offer(conn: AsyncConnection, *, now: datetime, sim_id: int | None) -> list[Promotion]:
    """What is on offer now; for a SIM, only what it may still get (``model.offered_to``)."""
    live = await live_promotions(conn, now=now)
    if sim_id is None or not live:
        return live
    plan = await sims.plan_of_sim(conn, sim_id=sim_id)
    return offered_to(
        live,
        currency=plan.currency,
        plan_code=plan.code,
        first_topup=not await credited_before(conn, sim_id=sim_id),
        sim_uses=await _sim_uses(conn, sim_id=sim_id, promotions=live),
    )


async def _sim_uses(
    conn: AsyncConnection, *, sim_id: int, promotions: Sequence[Promotion]
) -> dict[int, int]:
    u = t.sim_uses.c
    rows = await conn.execute(
        select(u.promotion_id, u.used).where(
            u.sim_id == sim_id, u.promotion_id.in_([p.id for p in promotions])
        )
    )
    return {row.promotion_id: row.used for row in rows}


async def offer(
    conn: AsyncConnection,
    *,
    sim_id: int,
    credit: Money,
    sales_channel: SalesChannel,
    provider: Provider | None,
    pay_channel: Channel | None,
    now: datetime,
) -> list[Applied]:
    """The promotions that apply to topping the SIM up by ``credit`` now, and what each
    gives."""
    live = await live_promotions(conn, now=now)
    if not live:
        return []
    plan = await sims.plan_of_sim(conn, sim_id=sim_id)
    prospect = Prospect(
        credit=credit,
        sales_channel=sales_channel,
        provider=provider,
        pay_channel=pay_channel,
        first_topup=not await credited_before(conn, sim_id=sim_id),
        plan_code=plan.code,
        retention=plan.retention,
        at=now,
        sim_uses=await _sim_uses(conn, sim_id=sim_id, promotions=live),
    )
    return applicable(live, prospect)


async def _promotions(conn: AsyncConnection, where: object) -> list[Promotion]:
    p = t.promotions.c
    query = select(t.promotions).order_by(p.id.desc())
    if where is not None:
        query = query.where(where)  # type: ignore[arg-type]
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    b = t.benefits.c
    given: dict[int, list[Benefit]] = {}
    for row in await conn.execute(
        select(t.benefits).where(b.promotion_id.in_([row.id for row in rows])).order_by(b.kind)
    ):
        given.setdefault(row.promotion_id, []).append(
            Benefit(BenefitKind(row.kind), row.amount, row.zone, row.expires_days)
        )
    return [_promotion(row._mapping, tuple(given.get(row.id, ()))) for row in rows]


def _promotion(m: RowMapping, benefits: tuple[Benefit, ...]) -> Promotion:
    return Promotion(
        id=m["id"],
        code=m["code"],
        names=Names.of_row(m),
        state=PromotionState(m["state"]),
        priority=m["priority"],
        stackable=bool(m["stackable"]),
        conditions=Conditions(
            currency=m["currency"],
            min_credit_minor=m["min_credit_minor"],
            sales_channel=SalesChannel(m["sales_channel"]) if m["sales_channel"] else None,
            provider=Provider(m["provider"]) if m["provider"] else None,
            pay_channel=Channel(m["pay_channel"]) if m["pay_channel"] else None,
            first_topup=bool(m["first_topup"]),
            plan_code=m["plan_code"],
            starts_at=m["starts_at"],
            ends_at=m["ends_at"],
        ),
        benefits=benefits,
        budget=m["budget"],
        used=m["used"],
        per_sim_cap=m["per_sim_cap"],
        created_at=m["created_at"],
    )
