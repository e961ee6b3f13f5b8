"""The number pool: a recycled SIM's numbers wait out a quarantine, then go to a new SIM
once; the old SIM still names them."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.buckets import tables as bt
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.retention import service as retention
from simkeep.sims import pool
from simkeep.sims import service as sims
from simkeep.sims import tables as st
from simkeep.sims.model import IdType, Sim, SimError, SimState
from simkeep.sims.pool import QUARANTINE_DAYS, NumberInQuarantine
from tests.factories import digest_key, issue_sim, luhn_complete, seed_books

RECYCLED_ON = date(2026, 5, 10)
PROMOTION_EXPENSE = System.PROMOTION_EXPENSE
MIDNIGHT = datetime(2026, 5, 9, 16, 10, tzinfo=UTC)  # 00:10 on 10 May in Hong Kong


async def recycled_sim(db: Database, clock: FixedClock) -> Sim:
    """A SIM suspended for longer than its plan allows, recycled by the run of RECYCLED_ON."""

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        sim = await issue_sim(conn, n=1, plan="HK-VALID", now=clock.now(), state=SimState.SUSPENDED)
        await conn.execute(
            update(st.sims)
            .where(st.sims.c.id == sim.id)
            .values(state_since=MIDNIGHT - timedelta(days=61))
        )
        return sim

    sim = await db.transaction(setup)
    await retention.run_day(db, day=RECYCLED_ON, clock=clock)
    return sim


async def reissue(conn: AsyncConnection, old: Sim, n: int, now: datetime) -> Sim:
    """A new SIM (its own ICCID) with the recycled SIM's two numbers."""
    return await sims.issue_sim(
        conn,
        iccid=luhn_complete(f"8985201{n:011d}"),
        plan_code="CN-KEEP",
        hk_number=old.hk_number.e164,
        cn_number=old.cn_number.e164,
        holder_name="李小華",
        id_type=IdType.HKID,
        id_number="B765432(1)",
        id_key=digest_key("test"),
        now=now,
    )


async def test_a_recycled_number_waits_out_its_quarantine_then_goes_to_one_new_sim(
    db: Database,
) -> None:
    clock = FixedClock(MIDNIGHT)
    old = await recycled_sim(db, clock)
    assert (await db.transaction(lambda c: sims.get_sim(c, sim_id=old.id))).state is (  # type: ignore[union-attr]
        SimState.RECYCLED
    )
    waiting = await db.transaction(lambda c: pool.summary(c, today=RECYCLED_ON))
    assert (waiting.waiting, waiting.free) == (2, 0)
    assert waiting.next_free_on == RECYCLED_ON + timedelta(days=QUARANTINE_DAYS)

    last_day = MIDNIGHT + timedelta(days=QUARANTINE_DAYS - 1)
    with pytest.raises(NumberInQuarantine, match="issued again from 2026-08-08"):
        await db.transaction(lambda c: reissue(c, old, 2, last_day))
    found = await db.transaction(lambda c: sims.find_by_number(c, number=old.hk_number.e164))
    assert found is not None
    assert found.id == old.id

    free_day = MIDNIGHT + timedelta(days=QUARANTINE_DAYS)
    free = await db.transaction(lambda c: pool.summary(c, today=pool.free_on(RECYCLED_ON)))
    assert (free.waiting, free.free) == (0, 2)
    new = await db.transaction(lambda c: reissue(c, old, 2, free_day))
    assert (new.hk_number, new.cn_number) == (old.hk_number, old.cn_number)
    found = await db.transaction(lambda c: sims.find_by_number(c, number=old.cn_number.e164))
    assert found is not None
    assert found.id == new.id
    before = await db.transaction(lambda c: sims.get_sim(c, sim_id=old.id))
    assert before is not None
    assert before.hk_number == old.hk_number
    done = await db.transaction(lambda c: pool.summary(c, today=pool.free_on(RECYCLED_ON)))
    assert (done.waiting, done.free) == (0, 0)

    async def reissued(conn: AsyncConnection) -> set[int | None]:
        return set((await conn.execute(select(st.pool.c.reissued_to))).scalars())

    assert await db.transaction(reissued) == {new.id}


async def test_a_number_from_the_pool_goes_to_one_sim_when_two_are_issued_at_once(
    db: Database,
) -> None:
    clock = FixedClock(MIDNIGHT)
    old = await recycled_sim(db, clock)
    free_day = MIDNIGHT + timedelta(days=QUARANTINE_DAYS)
    results = await asyncio.gather(
        *(db.transaction(lambda c, n=n: reissue(c, old, n, free_day)) for n in range(2, 12)),  # type: ignore[misc]
        return_exceptions=True,
    )
    issued = [r for r in results if isinstance(r, Sim)]
    assert len(issued) == 1
    assert all(isinstance(r, SimError) for r in results if not isinstance(r, Sim))
    found = await db.transaction(lambda c: sims.find_by_number(c, number=old.hk_number.e164))
    assert found is not None
    assert found.id == issued[0].id


async def test_the_run_repeated_puts_each_number_in_the_pool_once(db: Database) -> None:
    clock = FixedClock(MIDNIGHT)
    await recycled_sim(db, clock)
    await retention.run_day(db, day=RECYCLED_ON, clock=clock)
    await retention.run_day(db, day=RECYCLED_ON + timedelta(days=1), clock=clock)

    async def count(conn: AsyncConnection) -> int:
        return len((await conn.execute(select(st.pool.c.id))).all())

    assert await db.transaction(count) == 2


async def test_a_recycled_sims_bonus_money_goes_back_and_its_buckets_close(db: Database) -> None:
    clock = FixedClock(MIDNIGHT)

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        sim = await issue_sim(conn, n=1, plan="HK-VALID", now=clock.now(), state=SimState.SUSPENDED)
        await conn.execute(
            update(st.sims)
            .where(st.sims.c.id == sim.id)
            .values(state_since=MIDNIGHT - timedelta(days=61))
        )
        codes = [chart.sim_bonus(sim.id, "HKD").code, chart.system_code(PROMOTION_EXPENSE, "HKD")]
        ids = await ledger.account_ids(conn, codes=codes)
        bonus, expense = ids[codes[0]], ids[codes[1]]
        postings = rules.promotion_grant(
            promotion_expense=expense, sim_bonus=bonus, bonus=Money(1_000, "HKD")
        )
        await ledger.post_journal(conn, client_id="grant:test", postings=postings, now=clock.now())
        for kind, currency, amount in (("money", "HKD", 1_000), ("voice", None, 30)):
            await conn.execute(
                bt.buckets.insert().values(
                    sim_id=sim.id,
                    kind=kind,
                    currency=currency,
                    granted=amount,
                    remaining=amount,
                    granted_at=clock.now(),
                    expires_at=clock.now() + timedelta(days=30),
                    source_ref="promotion:test",
                )
            )
        return sim

    sim = await db.transaction(setup)
    await retention.run_day(db, day=RECYCLED_ON, clock=clock)

    async def after(conn: AsyncConnection) -> tuple[int, list[tuple[int, bool]]]:
        account = await ledger.get_account_by_code(conn, code=chart.sim_bonus(sim.id, "HKD").code)
        assert account is not None
        balance = (await ledger.get_balance(conn, account_id=account.id)).posted
        c = bt.buckets.c
        rows = await conn.execute(select(c.remaining, c.expired_at.is_not(None)).order_by(c.id))
        return balance, [(row[0], row[1]) for row in rows]

    assert await db.transaction(after) == (0, [(0, True), (0, True)])
