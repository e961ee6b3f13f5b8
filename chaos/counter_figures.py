"""The counters' figures: what proves, once the run has drained, that the counters and the
vouchers lost, made and doubled nothing (``chaos.counter_ops`` is their workload).

``counter_figures`` reads the database once the run has drained: each float is at or above
its floor; what the floats paid out (deposits less balance) is the counter sales; each
closed shift's expected cash is its opening cash plus its cash sales, its expected card its
card sales; each counter top-up has one credited order of its amount; each voucher redeemed
at most once, by one credited order of its face value; the vouchers outstanding in the books
are the sold ones not yet redeemed; and every sale a clerk was told was made exists.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import tables as ct
from simkeep.ledger import tables as lt
from simkeep.outlets import tables as ot
from simkeep.topups import tables as tt
from simkeep.vouchers import tables as vt

if TYPE_CHECKING:
    from chaos.workload import Attempt


async def read_counters(conn: AsyncConnection) -> dict[str, Any]:
    """What the counters did, from the database: floats, shifts, sales, vouchers, orders."""
    a, b = lt.accounts.c, lt.balances.c
    limits = {row.id: row.credit_limit_minor for row in await conn.execute(select(ot.agents))}
    floats: list[tuple[int, str, int]] = []
    outstanding: Counter[str] = Counter()
    rows = await conn.execute(
        select(a.code, a.owner_id, a.currency, func.sum(b.balance))
        .join(lt.balances, b.account_id == a.id)
        .where(a.code.like("agent:%:float:%") | a.code.like("vouchers_outstanding:%"))
        .group_by(a.code, a.owner_id, a.currency)
    )
    for code, owner, currency, balance in rows:
        if code.startswith("vouchers_outstanding:"):
            outstanding[currency] += int(balance)
        else:
            floats.append((limits[int(owner)], currency, int(balance)))
    deposits: Counter[str] = Counter()
    for row in await conn.execute(
        select(ot.float_deposits).where(ot.float_deposits.c.state == "approved")
    ):
        deposits[row.currency] += row.amount_minor
    sales = list(await conn.execute(select(ct.sales)))
    shifts = list(await conn.execute(select(ct.shifts)))
    vouchers = list(await conn.execute(select(vt.vouchers)))
    o = tt.orders.c
    orders = {
        row.order_no: row
        for row in await conn.execute(
            select(tt.orders).where(o.provider.in_(("outlet", "voucher")))
        )
    }
    return {
        "floats": floats,
        "outstanding": outstanding,
        "deposits": deposits,
        "sales": sales,
        "shifts": shifts,
        "vouchers": vouchers,
        "orders": orders,
    }


def counter_figures(state: dict[str, Any], attempts: list[Attempt]) -> list[tuple[str, int]]:
    """The counters' figures, each 0 when all is well."""
    from chaos.workload import Outcome

    sales, orders, vouchers = state["sales"], state["orders"], state["vouchers"]
    paid_out: Counter[str] = Counter(state["deposits"])
    for _limit, currency, balance in state["floats"]:
        paid_out[currency] -= balance  # a float is a liability: its balance is what is left
    for sale in sales:
        paid_out[sale.currency] -= sale.amount_minor
    by_shift: dict[int, Counter[str]] = {}
    for sale in sales:
        by_shift.setdefault(sale.shift_id, Counter())[sale.payment] += sale.amount_minor
    wrong_shifts = sum(
        1
        for shift in state["shifts"]
        if shift.state == "closed"
        and (
            shift.expected_cash_minor
            != shift.opening_cash_minor + by_shift.get(shift.id, Counter())["cash"]
            or shift.expected_card_minor != by_shift.get(shift.id, Counter())["card"]
            or shift.difference_minor != shift.counted_cash_minor - shift.expected_cash_minor
        )
    )
    topups = [sale for sale in sales if sale.kind == "topup"]
    unbacked = sum(
        1
        for sale in topups
        if sale.order_no not in orders
        or orders[sale.order_no].state != "credited"
        or orders[sale.order_no].credit_minor != sale.amount_minor
    )
    voucher_orders = Counter(v.order_no for v in vouchers if v.order_no)
    redeemed = {v.order_no: v for v in vouchers if v.state == "redeemed"}
    by_voucher = [o for o in orders.values() if o.provider == "voucher" and o.state == "credited"]
    outstanding: Counter[str] = Counter(state["outstanding"])
    for voucher in vouchers:
        if voucher.state == "sold":
            outstanding[voucher.currency] -= voucher.face_minor
    told = {
        a.data["sale_id"]
        for a in attempts
        if a.op in ("counter_topup", "sell_vouchers") and a.outcome is Outcome.OK
    }
    made = {sale.id for sale in sales}
    keys = Counter((sale.outlet_id, sale.idempotency_key) for sale in sales)
    return [
        *(
            (f"floats below their floor, {currency}", 1)
            for limit, currency, balance in state["floats"]
            if balance < -limit
        ),
        *(
            (f"float paid out − counter sales, {currency}", amount)
            for currency, amount in sorted(paid_out.items())
        ),
        ("closed shifts whose expected cash or card is not their sales", wrong_shifts),
        ("counter top-ups without one credited order of their amount", unbacked),
        (
            "vouchers redeemed by more than one order",
            sum(1 for n in voucher_orders.values() if n > 1),
        ),
        (
            "credited voucher orders not one redeemed voucher of their value",
            sum(
                1
                for order in by_voucher
                if order.order_no not in redeemed
                or redeemed[order.order_no].face_minor != order.credit_minor
            )
            + sum(1 for no in redeemed if no not in orders),
        ),
        *(
            (f"vouchers outstanding in the books − sold and unredeemed, {currency}", amount)
            for currency, amount in sorted(outstanding.items())
        ),
        ("counter sales acknowledged and missing", len(told - made)),
        ("counter sales per idempotency key above one", sum(1 for n in keys.values() if n > 1)),
    ]
