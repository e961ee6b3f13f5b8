"""Workers beside each other: a poll or a close that is due is claimed by one of them. Two
workers asking at the same moment get disjoint orders, together all of those due; an order
claimed is due again only after the claim runs out (its worker may have died mid-poll)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.topups import followup
from simkeep.topups import service as topups
from simkeep.topups.model import ORDER_TTL, OrderRequest
from tests.factories import issue_sim, seed_books

ORDERS = 12


async def unpaid_orders(db: Database, now: datetime) -> list[str]:
    async def create(conn: AsyncConnection) -> list[str]:
        await seed_books(conn, now=now)
        sim = await issue_sim(conn, n=1, plan="CN-KEEP", now=now)
        numbers = []
        for n in range(ORDERS):
            request = OrderRequest.of(
                subscriber_id=7,
                idempotency_key=f"claim-{n:04d}",
                number=sim.cn_number.e164,
                confirm_number=sim.cn_number.e164,
                credit=Money(5_000, "CNY"),
                pay_currency="CNY",
                provider=Provider.WECHATPAY,
                channel=Channel.QR,
            )
            numbers.append((await topups.create_order(conn, request=request, now=now)).order_no)
        return numbers

    return await db.transaction(create)


async def test_two_workers_polling_at_once_share_the_due_orders(
    db: Database, clock: FixedClock
) -> None:
    orders = await unpaid_orders(db, clock.now())
    clock.advance(followup.CLAIM)  # every order's first poll is due

    async def claim() -> list[str]:
        due = await db.transaction(
            lambda conn: followup.due_polls(conn, now=clock.now(), limit=ORDERS)
        )
        return [d.order_no for d in due]

    first, second = await asyncio.gather(claim(), claim())

    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(orders)
    assert await claim() == []  # claimed: not due again at once
    clock.advance(followup.CLAIM)
    assert sorted(await claim()) == sorted(orders)  # a dead worker's claims run out


async def test_two_workers_closing_at_once_share_the_expired_orders(
    db: Database, clock: FixedClock
) -> None:
    orders = await unpaid_orders(db, clock.now())
    clock.advance(ORDER_TTL)
    await db.transaction(lambda conn: topups.expire_orders(conn, now=clock.now()))

    async def claim() -> list[str]:
        due = await db.transaction(
            lambda conn: followup.due_closes(conn, now=clock.now(), limit=ORDERS)
        )
        return [d.order_no for d in due]

    first, second = await asyncio.gather(claim(), claim())

    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(orders)
    assert await claim() == []
