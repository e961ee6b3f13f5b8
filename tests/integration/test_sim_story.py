"""A SIM's story on the console, on SQLite and PostgreSQL (docs/staff.md, "A SIM's page").

An HKD SIM is issued, gets thirty adjustments entered and approved all at one instant (so
sixty entries share it, of two sources), and a top-up a minute later. Paging through the
timeline 25 at a time shows every entry once, newest first, ordered by (time, source, id);
the card shows the balance the adjustments made, and who holds the SIM."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.adjustments import service as adjustments
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.sims import service as sims
from simkeep.sims.model import Sim
from simkeep.staff import timeline
from simkeep.staff.audit import Actor
from simkeep.staff.timeline import PAGE
from simkeep.staff.timeline_entries import Cursor, Source
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import OrderRequest
from tests.agent_world import operator
from tests.factories import issue_sim, seed_books

ADJUSTMENTS = 30


async def test_paging_shows_every_entry_once_newest_first(db: Database, clock: FixedClock) -> None:
    async def make(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        return await issue_sim(conn, n=1, plan="HK-KEEP", now=clock.now())

    sim = await db.transaction(make)
    maker = Actor(await operator(db, "fiona", now=clock.now(), role="finance"), "test")
    checker = Actor(await operator(db, "olive", now=clock.now()), "test")
    clock.advance(timedelta(minutes=1))
    for n in range(ADJUSTMENTS):
        entered = await adjustments.enter_adjustment(
            db,
            sim_id=sim.id,
            amount="+1.00",
            reason=f"goodwill {n}",
            key=f"story-form-key-{n:04d}",
            actor=maker,
            now=clock.now(),
        )
        await db.transaction(
            lambda conn, entered=entered: adjustments.approve(
                conn, adjustment_id=entered.id, actor=checker, note="", now=clock.now()
            )
        )
    clock.advance(timedelta(minutes=1))
    holder = await subscribers.enroll(
        db, phone="+85261234567", password="correct horse", language="en", now=clock.now()
    )
    await db.transaction(
        lambda conn: sims.assign_sim(conn, subscriber_id=holder, sim_id=sim.id, now=clock.now())
    )
    order = await _top_up(db, clock, sim, holder)

    seen: list[Cursor] = []
    cursor = None
    pages = 0
    while True:
        story = await timeline.sim_story(db, sim_id=sim.id, cursor=cursor)
        assert story is not None
        assert len(story.entries) <= PAGE
        seen += [entry.cursor for entry in story.entries]
        pages += 1
        if story.older is None:
            break
        cursor = Cursor.parse(story.older.token())  # as the page's address carries it

    assert len(seen) == len(set(seen)), "an entry was shown twice"
    assert seen == sorted(seen, reverse=True)
    by_source = {source: sum(c.source == source for c in seen) for source in Source}
    assert by_source[Source.ADJUSTMENT] == ADJUSTMENTS
    assert by_source[Source.JOURNAL] == ADJUSTMENTS + 1  # each approval, and the top-up
    assert by_source[Source.ORDER] == 1
    assert by_source[Source.STATE] == 1  # issued
    assert pages == -(-len(seen) // PAGE)

    first = await timeline.sim_story(db, sim_id=sim.id, cursor=None)
    assert first is not None
    assert first.entries[0].source in (Source.ORDER, Source.JOURNAL, Source.SMS)
    assert first.entries[0].at == order.created_at
    assert first.balance == Money(ADJUSTMENTS * 100 + 10_000, "HKD")
    assert [holding.phone for holding in first.holders] == ["+85261234567"]
    assert await timeline.sim_story(db, sim_id=sim.id + 1000, cursor=None) is None


async def _top_up(db: Database, clock: FixedClock, sim: Sim, holder: int) -> topups.Order:
    number = sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=holder,
        idempotency_key="story-1",
        number=number,
        confirm_number=number,
        credit=Money(10_000, "HKD"),
        pay_currency="HKD",
        provider=Provider.FPS,
        channel=Channel.QR,
    )

    async def run(conn: AsyncConnection) -> topups.Order:
        order = await topups.create_order(conn, request=request, now=clock.now())
        result = await topups.credit_paid_order(
            conn, order_no=order.order_no, paid=order.pay, provider_trade_no="P1", now=clock.now()
        )
        return result.order

    return await db.transaction(run)
