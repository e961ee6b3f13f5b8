"""Promises of promotions to orders: the budget and the SIM's cap reserved when an order is
placed, given back when it expires unpaid, and what an order holds (docs/promotions.md).

Design overview
---------------
* ``reserve`` runs in the transaction that writes the order, after it: per promotion, the
  SIM's grant (an upsert that counts one more only while under the cap), then the budget
  (``UPDATE … SET used = used + 1 WHERE … used + 1 <= budget RETURNING``), each one atomic
  statement taken before anything is promised; the order's row in ``order_promotions`` keeps
  the benefits computed for it (``reserved``). A promotion whose cap or budget was taken
  meanwhile by another order is left off this one (the order shows what it holds). Locks are
  taken SIM counter first, then the promotion, in promotion order, by every path.
* ``release`` gives back what orders that expired unpaid held (``released``), in one pass
  per batch; ``take`` is also how a late payment takes its promotions again
  (``granting``).
* ``held_by_order`` is what an order holds or was granted, best first.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep import names as names_
from simkeep.names import Names
from simkeep.promotions import tables as t
from simkeep.promotions.model import Applied, BenefitKind, Grant, PromotionState

RESERVED, RELEASED, GRANTED = "reserved", "released", "granted"


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
