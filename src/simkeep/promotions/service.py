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
* ``reserve`` runs in the transaction that writes the order, after it: per promotion, the
  SIM's grant (an upsert that counts one more only while under the cap), then the budget
  (``UPDATE … SET used = used + 1 WHERE … used + 1 <= budget RETURNING``), each one atomic
  statement taken before anything is promised; the order's row in ``order_promotions`` keeps
  the benefits computed for it. A promotion whose cap or budget was taken meanwhile by
  another order is left off this one (the order shows what it holds). Locks are taken SIM
  counter first, then the promotion, in promotion order, by every path.
* ``release`` gives back what orders that expired unpaid held, in one pass per batch.
  Granting at crediting, and the expiry of what was granted, are in ``granting``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep import names as names_
from simkeep.money import Money
from simkeep.names import Names
from simkeep.payment_methods import Channel, Provider
from simkeep.promotions import tables as t
from simkeep.promotions.model import (
    Applied,
    Benefit,
    BenefitKind,
    Conditions,
    Grant,
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
from simkeep.sims import service as sims
from simkeep.topups.queries import credited_before

RESERVED, RELEASED, GRANTED = "reserved", "released", "granted"


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


async def reserve(
    conn: AsyncConnection, *, order_no: str, sim_id: int, offered: Sequence[Applied], now: datetime
) -> list[Applied]:
    """Take each offered promotion's grant for the order — the SIM's cap, then the budget,
    each by one atomic statement — and record what the order holds; returns it."""
    held = []
    for applied in sorted(offered, key=lambda a: a.promotion_id):
        if await take(conn, promotion_id=applied.promotion_id, sim_id=sim_id):
            held.append(applied)
            await conn.execute(
                t.order_promotions.insert().values(
                    order_no=order_no,
                    promotion_id=applied.promotion_id,
                    sim_id=sim_id,
                    state=RESERVED,
                    grants=dump_grants(applied.grants),
                    reserved_at=now,
                )
            )
    return held


async def take(conn: AsyncConnection, *, promotion_id: int, sim_id: int) -> bool:
    """One grant of the promotion for the SIM, if its cap and the budget allow."""
    if not await _take_sim_use(conn, promotion_id=promotion_id, sim_id=sim_id):
        return False
    p = t.promotions.c
    taken = await conn.execute(
        update(t.promotions)
        .where(
            p.id == promotion_id,
            p.state == PromotionState.ACTIVE.value,
            or_(p.budget.is_(None), p.used + 1 <= p.budget),
        )
        .values(used=p.used + 1)
        .returning(p.used)
    )
    if taken.first() is None:
        await _give_back_sim_uses(conn, Counter({(promotion_id, sim_id): 1}))
        return False
    return True


async def _take_sim_use(conn: AsyncConnection, *, promotion_id: int, sim_id: int) -> bool:
    """One more grant for the SIM, in one statement, only while under the cap."""
    u, p = t.sim_uses.c, t.promotions.c
    cap = select(p.per_sim_cap).where(p.id == promotion_id).scalar_subquery()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(t.sim_uses).values(promotion_id=promotion_id, sim_id=sim_id, used=1)
    upsert = statement.on_conflict_do_update(
        index_elements=[u.promotion_id, u.sim_id],
        set_={"used": u.used + 1},
        where=or_(cap.is_(None), u.used + 1 <= cap),
    ).returning(u.used)
    return (await conn.execute(upsert)).first() is not None


async def release(conn: AsyncConnection, *, order_nos: Sequence[str], now: datetime) -> int:
    """Give back the grants that orders which expired unpaid held; returns how many."""
    if not order_nos:
        return 0
    o = t.order_promotions.c
    rows = (
        await conn.execute(
            update(t.order_promotions)
            .where(o.order_no.in_(order_nos), o.state == RESERVED)
            .values(state=RELEASED, settled_at=now)
            .returning(o.promotion_id, o.sim_id)
        )
    ).all()
    await _give_back_sim_uses(conn, Counter((row.promotion_id, row.sim_id) for row in rows))
    per_promotion = Counter(row.promotion_id for row in rows)
    p = t.promotions.c
    for promotion_id in sorted(per_promotion):
        await conn.execute(
            update(t.promotions)
            .where(p.id == promotion_id)
            .values(used=p.used - per_promotion[promotion_id])
        )
    return len(rows)


async def _give_back_sim_uses(conn: AsyncConnection, counts: Counter[tuple[int, int]]) -> None:
    u = t.sim_uses.c
    for promotion_id, sim_id in sorted(counts):
        await conn.execute(
            update(t.sim_uses)
            .where(u.promotion_id == promotion_id, u.sim_id == sim_id)
            .values(used=u.used - counts[promotion_id, sim_id])
        )


async def held_by_order(conn: AsyncConnection, *, order_no: str) -> list[Applied]:
    """What an order holds or was granted (not what it released), best first."""
    o, p = t.order_promotions.c, t.promotions.c
    rows = await conn.execute(
        select(t.order_promotions, *[p[column.name] for column in names_.columns()])
        .join(t.promotions, p.id == o.promotion_id)
        .where(o.order_no == order_no, o.state != RELEASED)
        .order_by(p.stackable, p.priority.desc(), p.id)
    )
    return [_applied(row._mapping) for row in rows]


def dump_grants(grants: Sequence[Grant]) -> str:
    return json.dumps(
        [
            {"kind": g.kind.value, "amount": g.amount, "zone": g.zone, "days": g.expires_days}
            for g in grants
        ]
    )


def load_grants(text: str) -> tuple[Grant, ...]:
    return tuple(
        Grant(BenefitKind(g["kind"]), int(g["amount"]), g["zone"], g["days"])
        for g in json.loads(text)
    )


def _applied(row: RowMapping) -> Applied:
    return Applied(row["promotion_id"], Names.of_row(row), load_grants(row["grants"]))


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
