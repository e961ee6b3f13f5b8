"""The operator's promotion use cases, each change with its entry in the audit log in the
same transaction (``/staff/promotions``).

Design overview
---------------
``create`` and ``pause``/``resume`` wrap ``promotions.service`` with ``staff.audit.record``:
who, what (``promotion.create``, ``promotion.pause``, ``promotion.resume``), the promotion
before and after (``snapshot``). ``overview`` lists every promotion with its figures:
grants taken of the budget (reserved by open orders or granted) and grants made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.promotions import service
from simkeep.promotions import tables as t
from simkeep.promotions.model import NewPromotion, Promotion, PromotionState
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Target


@dataclass(frozen=True, slots=True)
class PromotionFigures:
    promotion: Promotion
    granted: int  # orders credited with it
    reserved: int  # open orders holding it


async def overview(db: Database) -> list[PromotionFigures]:
    """Every promotion, newest first, with its grants."""

    async def read(conn: AsyncConnection) -> list[PromotionFigures]:
        o = t.order_promotions.c
        counts: dict[tuple[int, str], int] = {
            (row.promotion_id, row.state): row.n
            for row in await conn.execute(
                select(o.promotion_id, o.state, func.count().label("n")).group_by(
                    o.promotion_id, o.state
                )
            )
        }
        return [
            PromotionFigures(
                p, counts.get((p.id, service.GRANTED), 0), counts.get((p.id, service.RESERVED), 0)
            )
            for p in await service.list_promotions(conn)
        ]

    return await db.transaction(read)


async def create(db: Database, *, new: NewPromotion, actor: Actor, now: datetime) -> Promotion:
    """A new promotion, active at once, recorded in the audit log."""

    async def change(conn: AsyncConnection) -> Promotion:
        created = await service.create_from(conn, new=new, now=now)
        await audit.record(
            conn,
            actor=actor,
            action="promotion.create",
            target=Target("promotion", str(created.id)),
            before=None,
            after=snapshot(created),
            now=now,
        )
        return created

    return await db.transaction(change)


async def set_state(
    db: Database, *, promotion_id: int, state: PromotionState, actor: Actor, now: datetime
) -> Promotion:
    """Pause or resume a promotion, recorded in the audit log."""

    async def change(conn: AsyncConnection) -> Promotion:
        before, after = await service.set_state(conn, promotion_id=promotion_id, state=state)
        await audit.record(
            conn,
            actor=actor,
            action="promotion.pause" if state is PromotionState.PAUSED else "promotion.resume",
            target=Target("promotion", str(promotion_id)),
            before=snapshot(before),
            after=snapshot(after),
            now=now,
        )
        return after

    return await db.transaction(change)


def snapshot(promotion: Promotion) -> dict[str, Any]:
    """A promotion as the audit log keeps it."""
    c = promotion.conditions
    return {
        "code": promotion.code,
        "names": promotion.names.values(),
        "state": promotion.state.value,
        "priority": promotion.priority,
        "stackable": promotion.stackable,
        "conditions": {
            "currency": c.currency,
            "min_credit_minor": c.min_credit_minor,
            "sales_channel": c.sales_channel.value if c.sales_channel else None,
            "provider": c.provider.value if c.provider else None,
            "pay_channel": c.pay_channel.value if c.pay_channel else None,
            "first_topup": c.first_topup,
            "plan_code": c.plan_code,
            "starts_at": c.starts_at.isoformat() if c.starts_at else None,
            "ends_at": c.ends_at.isoformat() if c.ends_at else None,
        },
        "benefits": [
            {"kind": b.kind.value, "amount": b.amount, "zone": b.zone, "days": b.expires_days}
            for b in promotion.benefits
        ],
        "budget": promotion.budget,
        "used": promotion.used,
        "per_sim_cap": promotion.per_sim_cap,
    }
