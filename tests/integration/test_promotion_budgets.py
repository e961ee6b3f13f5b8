"""Budgets and per-SIM caps under concurrency, on both databases: 50 top-ups of five SIMs,
each placed and paid at the same time as the others, never take a promotion past its budget
or a SIM past its cap, and exactly what was taken is granted — once.

"Data for the keen" (budget 100, 3 per SIM) goes to 5 × 3 = 15 orders: the caps stop it.
"Bonus for the quick" (HK$5, stacks, budget 7, no cap) goes to 7: the budget stops it."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.buckets import tables as bt
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.names import Names
from simkeep.payment_methods import Channel, Provider
from simkeep.promotions import service as promotions
from simkeep.promotions import tables as pt
from simkeep.promotions.model import Benefit, BenefitKind, Conditions, Promotion
from simkeep.sims.model import Sim
from simkeep.topups import service as topups
from simkeep.topups.model import OrderRequest
from tests.factories import issue_sim, seed_books

SIMS, ORDERS = 5, 50


async def setup(db: Database, clock: FixedClock) -> tuple[list[Sim], Promotion, Promotion]:
    async def run(conn: AsyncConnection) -> tuple[list[Sim], Promotion, Promotion]:
        await seed_books(conn, now=clock.now())
        sims = [await issue_sim(conn, n=n, plan="HK-VALID", now=clock.now()) for n in range(SIMS)]
        keen = await promotions.create_promotion(
            conn,
            code="KEEN",
            names=Names("數據", "流量", "Data for the keen"),
            priority=10,
            stackable=False,
            conditions=Conditions(),
            benefits=[Benefit(BenefitKind.DATA, 500, None, 30)],
            budget=100,
            per_sim_cap=3,
            now=clock.now(),
        )
        quick = await promotions.create_promotion(
            conn,
            code="QUICK",
            names=Names("快", "快", "Bonus for the quick"),
            priority=10,
            stackable=True,
            conditions=Conditions(currency="HKD"),
            benefits=[Benefit(BenefitKind.MONEY, 500, None, 30)],
            budget=7,
            per_sim_cap=None,
            now=clock.now(),
        )
        return sims, keen, quick

    return await db.transaction(run)


async def top_up(db: Database, sim: Sim, n: int, clock: FixedClock) -> None:
    """One payer: the order, then its payment, each as its own request."""
    request = OrderRequest.of(
        subscriber_id=1_000 + n,
        idempotency_key=f"race-{n:08d}",
        number=sim.hk_number.e164,
        confirm_number=sim.hk_number.e164,
        credit=Money(5_000, "HKD"),
        pay_currency="HKD",
        provider=Provider.ALIPAY,
        channel=Channel.QR,
    )
    order = await db.transaction(
        lambda conn: topups.create_order(conn, request=request, now=clock.now())
    )
    await db.transaction(
        lambda conn: topups.credit_paid_order(
            conn, order_no=order.order_no, paid=order.pay, provider_trade_no="t", now=clock.now()
        )
    )


async def test_fifty_concurrent_top_ups_never_exceed_a_budget_or_a_cap(
    db: Database, clock: FixedClock
) -> None:
    sims, keen, quick = await setup(db, clock)
    await asyncio.gather(*(top_up(db, sims[n % SIMS], n, clock) for n in range(ORDERS)))

    async def figures(conn: AsyncConnection) -> dict[str, object]:
        o, u, b = pt.order_promotions.c, pt.sim_uses.c, bt.buckets.c
        granted = dict(
            (
                await conn.execute(
                    select(o.promotion_id, func.count())
                    .where(o.state == "granted")
                    .group_by(o.promotion_id)
                )
            ).all()
        )
        per_sim = dict(
            (await conn.execute(select(u.sim_id, u.used).where(u.promotion_id == keen.id))).all()
        )
        bucket_counts = dict(
            (await conn.execute(select(b.kind, func.count()).group_by(b.kind))).all()
        )
        bonus = 0
        for sim in sims:
            account = await ledger.get_account_by_code(
                conn, code=chart.sim_bonus(sim.id, "HKD").code
            )
            assert account is not None
            bonus += (await ledger.get_balance(conn, account_id=account.id)).money().minor
        used = {p.id: p.used for p in await promotions.list_promotions(conn) if p.id in granted}
        return {
            "granted": granted,
            "used": used,
            "per_sim": per_sim,
            "buckets": bucket_counts,
            "bonus": bonus,
        }

    seen = await db.transaction(figures)
    assert seen == {
        "granted": {keen.id: 15, quick.id: 7},
        "used": {keen.id: 15, quick.id: 7},
        "per_sim": {sim.id: 3 for sim in sims},
        "buckets": {"data": 15, "money": 7},
        "bonus": 7 * 500,
    }
    report = await db.transaction(ledger.check_books)
    assert report.ok, report
