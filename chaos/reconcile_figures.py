"""The figures that prove the day's reconciliation under faults: every provider's day matched,
nothing left unexplained, the fees in the books those the providers kept, and a day matched
again moving nothing.

Design overview
---------------
After the drain every trade the providers were paid is credited and every refund settled,
so each provider's bill of the day (made early: ``chaos.reconcile_ops``) must match
simkeep's books row for row. The only rows a bill may hold that simkeep did not take are the
pushed payments simkeep holds in review (FPS: a wrong or missing reference, another amount,
a second push for one order): those are explained by their incoming payment, by the bank's
transaction id. The figures:

* reconciled days not done — provider days with no reconciliation, or one not ``done``;
* bill rows not explained — rows classed ``amount_mismatch``, ``provider_only``,
  ``local_only``, or ``paid_not_credited`` and not credited after asking, less the pushes in
  review;
* fees booked − fees the providers kept, per currency — the provider fees accounts against
  the simulators' records (each paid trade's fee less what its refunds gave back);
* journals made by reconciling the days again — a second run must move nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chaos.checker import Figure
from chaos.push_figures import push_providers, trade_providers
from chaos.reconcile_ops import PROVIDERS
from simkeep.db import Database
from simkeep.ledger import tables as lt
from simkeep.ledger.chart import System
from simkeep.payments import tables as pt
from simkeep.reconciliation import tables as rt

UNEXPLAINED = ("amount_mismatch", "provider_only", "local_only", "paid_not_credited")


async def reconcile_figures(
    db: Database, records: dict[str, Any], *, days: list[date], again: int
) -> list[Figure]:
    state = await db.transaction(lambda conn: _read(conn, days))
    done = {(row["provider"], row["day"]) for row in state["days"] if row["state"] == "done"}
    not_done = sum(1 for provider in PROVIDERS for day in days if (provider, day) not in done)
    why = [
        f"{r['provider']} {r['state']}: {r['reason']}"
        for r in state["days"]
        if r["state"] != "done"
    ]
    in_review = state["in_review"]
    unexplained = [
        item
        for item in state["items"]
        if item["row_class"] in UNEXPLAINED
        and not (item["row_class"] == "paid_not_credited" and item["action"] == "credited")
        and (item["provider"], item["trade_no"]) not in in_review
    ]
    kept = fees_kept(records)
    booked: Counter[str] = state["fees"]
    off = {ccy: booked[ccy] - kept[ccy] for ccy in sorted(set(kept) | set(booked))}
    return [
        Figure("reconciled days not done", not_done, note="; ".join(why)),
        Figure(
            "bill rows not explained",
            len(unexplained),
            note="; ".join(
                f"{i['provider']} {i['row_class']} {i['order_no'] or i['trade_no']}"
                for i in unexplained[:5]
            ),
        ),
        *(Figure(f"fees booked − fees kept by the providers, {c}", d) for c, d in off.items()),
        Figure("journals made by reconciling the days again", again),
    ]


def fees_kept(records: dict[str, Any]) -> Counter[str]:
    """What the providers kept in fees, per currency: each paid trade's or transfer's fee
    less what its refunds gave back."""
    kept: Counter[str] = Counter()
    for provider in (*trade_providers(records), *push_providers(records)):
        for record in records[provider]:
            fee = int(record.get("fee_minor", 0))
            back = sum(int(r.get("fee_refunded_minor", 0)) for r in record.get("refunds", []))
            kept[record["currency"]] += fee - back
    return kept


async def _read(conn: AsyncConnection, days: list[date]) -> dict[str, Any]:
    r, i = rt.reconciliations.c, rt.reconciliation_items.c
    found = await conn.execute(
        select(r.id, r.provider, r.day, r.state, r.reason).where(r.day.in_(days))
    )
    rows = [dict(row._mapping) for row in found]
    ids = {row["id"]: row["provider"] for row in rows}
    items = [
        {**dict(row._mapping), "provider": ids[row.reconciliation_id]}
        for row in await conn.execute(
            select(i.reconciliation_id, i.row_class, i.action, i.order_no, i.trade_no).where(
                i.reconciliation_id.in_(list(ids))
            )
        )
    ]
    p = pt.incoming.c
    review = await conn.execute(select(p.provider, p.provider_trade_no).where(p.state != "matched"))
    a, b = lt.accounts.c, lt.balances.c
    fees = await conn.execute(
        select(a.currency, func.sum(b.balance))
        .join(lt.balances, b.account_id == a.id)
        .where(a.code.like(f"{System.PROVIDER_FEES.value}:%"))
        .group_by(a.currency)
    )
    return {
        "days": rows,
        "items": items,
        "in_review": {(row.provider, row.provider_trade_no) for row in review},
        "fees": Counter({currency: abs(int(amount or 0)) for currency, amount in fees}),
    }
