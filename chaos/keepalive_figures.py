"""The checker's figures of auto keep-alive (``chaos.checker``): at most one paid top-up per
rule and period, none paid at the provider and not credited, and — for the report, so that
a run without a charge shows as one — how many charges were made.

Design overview
---------------
A keep-alive charge is a normal top-up order (channel ``auto``) under the idempotency key
``keepalive:<attempt>:<try>``, and each attempt is one rule's one period (its lapse day;
unique in ``keepalive_attempts``). ``read_keepalive`` reads those orders and attempts;
``keepalive_figures`` groups the orders whose trade the provider says was paid, or that
simkeep credited, by rule and period. An agreement's deduction is a trade at its provider
like any other (``GET /_sim/records`` lists it), so the money figures already hold the
charges against the books.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.keepalive import tables as kt
from simkeep.payment_methods import Channel
from simkeep.topups import tables as tt


async def read_keepalive(conn: AsyncConnection) -> dict[str, Any]:
    """The keep-alive orders, the attempts (rule and period) and the rules by state."""
    o, a, r = tt.orders.c, kt.attempts.c, kt.rules.c
    orders = (
        await conn.execute(
            select(o.order_no, o.idempotency_key, o.state, o.credited_at).where(
                o.channel == Channel.AUTO.value
            )
        )
    ).all()
    attempts = {
        row.id: (row.rule_id, row.period, row.state)
        for row in await conn.execute(select(a.id, a.rule_id, a.period, a.state))
    }
    by_state = select(r.state, func.count()).group_by(r.state)
    rules: dict[str, int] = {row[0]: row[1] for row in await conn.execute(by_state)}
    first = (await conn.execute(select(func.min(o.created_at)))).scalar_one()
    return {"orders": orders, "attempts": attempts, "rules": rules, "first_order_at": first}


def keepalive_figures(state: dict[str, Any], paid: set[str]) -> list[tuple[str, int]]:
    """Each figure's name and value; every one must be 0. ``paid``: the order numbers whose
    trade the providers say was paid."""
    charged: Counter[tuple[Any, Any]] = Counter()
    for order in state["orders"]:
        if order.order_no in paid or order.state == "credited":
            charged[_period(state, order.idempotency_key)] += 1
    return [
        ("keep-alive charges twice in one period", sum(n - 1 for n in charged.values())),
        (
            "keep-alive orders paid at the provider but not credited",
            sum(1 for o in state["orders"] if o.order_no in paid and o.state != "credited"),
        ),
    ]


def keepalive_tally(state: dict[str, Any]) -> dict[str, int]:
    """What auto keep-alive did in the run: rules by state, attempts by state, charges, and
    when the last was credited (seconds after the run's first order: within the workload's
    length, it was credited while the nemesis was at work)."""
    credited = [o.credited_at for o in state["orders"] if o.state == "credited"]
    last, first = max(credited, default=None), state["first_order_at"]
    return {
        **{f"rules {name}": n for name, n in sorted(state["rules"].items())},
        **{
            f"attempts {name}": n
            for name, n in sorted(Counter(a[2] for a in state["attempts"].values()).items())
        },
        "orders": len(state["orders"]),
        "charges credited": len(credited),
        **(
            {"last credited, s after the first order": int((last - first).total_seconds())}
            if last is not None and first is not None
            else {}
        ),
    }


def _period(state: dict[str, Any], key: str | None) -> tuple[Any, Any]:
    """The rule and period of the attempt named in ``keepalive:<attempt>:<try>`` (an order
    naming no attempt stands alone)."""
    parts = (key or "").split(":")
    if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) in state["attempts"]:
        rule_id, period, _ = state["attempts"][int(parts[1])]
        return rule_id, period
    return key, None
