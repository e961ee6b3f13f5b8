"""The checker's figures of promotions (``chaos.checker``): no budget exceeded, no SIM past
its cap, the counters equal to the orders that hold or were granted a grant, and the bonus
money in the books equal to what the money buckets hold."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.buckets import tables as bt
from simkeep.promotions import tables as pt


async def read_promotions(conn: AsyncConnection) -> dict[str, Any]:
    """The promotions' counters, the grants the orders hold, and the money buckets."""
    p, u, o, c = pt.promotions.c, pt.sim_uses.c, pt.order_promotions.c, bt.buckets.c
    taken = ("reserved", "granted")
    held: dict[int, int] = dict(
        (
            await conn.execute(
                select(o.promotion_id, func.count())
                .where(o.state.in_(taken))
                .group_by(o.promotion_id)
            )
        ).all()
    )
    held_by_sim = {
        (row.promotion_id, row.sim_id): row.n
        for row in await conn.execute(
            select(o.promotion_id, o.sim_id, func.count().label("n"))
            .where(o.state.in_(taken))
            .group_by(o.promotion_id, o.sim_id)
        )
    }
    in_buckets: Counter[str] = Counter()
    for currency, remaining in await conn.execute(
        select(c.currency, func.sum(c.remaining)).where(c.kind == "money").group_by(c.currency)
    ):
        in_buckets[currency] += int(remaining)
    return {
        "promotions": (await conn.execute(select(p.id, p.budget, p.used, p.per_sim_cap))).all(),
        "counters": {
            (row.promotion_id, row.sim_id): row.used
            for row in await conn.execute(select(u.promotion_id, u.sim_id, u.used))
        },
        "held": held,
        "held_by_sim": held_by_sim,
        "bonus_in_buckets": in_buckets,
    }


def promotion_figures(state: dict[str, Any]) -> list[tuple[str, int]]:
    """Each figure's name and value; every one must be 0."""
    promotions = state["promotions"]
    caps = {row.id: row.per_sim_cap for row in promotions}
    counters, by_sim = state["counters"], state["held_by_sim"]
    books, buckets = state["bonus_in_books"], state["bonus_in_buckets"]
    return [
        (
            "promotion budgets exceeded",
            sum(1 for row in promotions if row.budget is not None and row.used > row.budget),
        ),
        (
            "promotion grants per SIM above the cap",
            sum(
                1
                for (promotion_id, _sim), n in by_sim.items()
                if caps[promotion_id] is not None and n > caps[promotion_id]
            ),
        ),
        (
            "promotion counters unlike the orders holding a grant",
            sum(1 for row in promotions if row.used != state["held"].get(row.id, 0))
            + sum(
                1
                for key in set(counters) | set(by_sim)
                if counters.get(key, 0) != by_sim.get(key, 0)
            ),
        ),
        *(
            (
                f"bonus money in buckets − bonus accounts in the books, {currency}",
                buckets[currency] - books[currency],
            )
            for currency in ("HKD", "CNY")
        ),
    ]
