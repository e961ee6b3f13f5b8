"""Vouchers past their expiry (``vouchers.service.expire_vouchers``): what was sold and never
redeemed becomes breakage income by a journal, what was never sold just expires, what was
redeemed stays so, and a second run books nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.promotions.model import SalesChannel
from simkeep.vouchers import service as vouchers
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import PinLimits, expiry_instant
from tests.factories import issue_sim
from tests.integration.voucher_world import (
    EXPIRES,
    KEY,
    balance,
    breakage,
    outstanding,
    printed,
    sell_in_sale,
    shop,
)

HK100 = Money(10_000, "HKD")


async def states(db: Database) -> list[str]:
    async def read(conn: AsyncConnection) -> list[str]:
        rows = await conn.execute(select(t.vouchers.c.state).order_by(t.vouchers.c.serial))
        return [str(state) for state in rows.scalars()]

    return await db.transaction(read)


async def test_an_unredeemed_hk100_voucher_becomes_breakage_at_its_expiry(
    db: Database, clock: FixedClock
) -> None:
    where = await shop(db, now=clock.now())
    redeemed, kept, _unsold = await printed(db, face=HK100, count=3, now=clock.now())
    await sell_in_sale(db, where, [redeemed.serial, kept.serial], clock.now())
    holder = await db.transaction(
        lambda conn: issue_sim(conn, n=1, plan="HK-VALID", now=clock.now())
    )
    await vouchers.redeem_voucher(
        db,
        pin=redeemed.pin,
        number=holder.hk_number.e164,
        confirm_number=None,
        redeemer=vouchers.Redeemer(None, "192.0.2.1", SalesChannel.WEB),
        key=KEY,
        limits=PinLimits(),
        now=clock.now(),
    )
    assert await balance(db, outstanding("HKD")) == 10_000

    clock.set(expiry_instant(EXPIRES) - timedelta(seconds=1))
    early = await vouchers.expire_vouchers(db, now=clock.now())
    assert (early.sold, early.unsold) == (0, 0)

    clock.set(expiry_instant(EXPIRES))
    done = await vouchers.expire_vouchers(db, now=clock.now())
    assert (done.sold, done.unsold, done.breakage) == (1, 1, (HK100,))
    assert await states(db) == ["redeemed", "expired", "expired"]
    assert await balance(db, outstanding("HKD")) == 0
    assert await balance(db, breakage("HKD")) == 10_000

    again = await vouchers.expire_vouchers(db, now=clock.now() + timedelta(days=1))
    assert (again.sold, again.unsold, again.breakage) == (0, 0, ())
    assert await balance(db, breakage("HKD")) == 10_000

    async def journals(conn: AsyncConnection) -> int:
        row = (
            await conn.execute(
                select(t.vouchers.c.id, t.vouchers.c.batch_id).where(
                    t.vouchers.c.serial == kept.serial
                )
            )
        ).one()
        client_id = f"voucher_breakage:{row.batch_id}:{row.id}"
        found = await ledger.get_journal_by_client_id(conn, client_id=client_id)
        return len(found.postings) if found else 0

    assert await db.transaction(journals) == 2
