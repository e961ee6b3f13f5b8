"""What agents and the operator read of the counters, on SQLite and PostgreSQL: a day is a
Hong Kong day (a sale at 23:59 is in it, one at 00:01 the next morning is not), shifts
opened that day at the outlets asked for, with the count and sum of their sales; sales a
page at a time; totals per outlet by kind and payment, with the commission."""

from __future__ import annotations

from datetime import UTC, date, datetime

from simkeep.clock import HONG_KONG, FixedClock
from simkeep.counter import reports
from simkeep.db import Database
from simkeep.money import Money
from tests.agent_world import agency, agent_member, sale, shift

DAY = date(2026, 11, 25)


def hk(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=HONG_KONG)


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


async def test_a_day_is_a_hong_kong_day(db: Database, clock: FixedClock) -> None:
    a = await agency(db, now=clock.now())
    carl = await agent_member(
        db, "carl", agent_id=a.agent_id, outlet_id=a.mong_kok, now=clock.now()
    )
    early = await shift(db, outlet_id=a.mong_kok, clerk_id=carl, at=hk(0, 5))
    late = await shift(db, outlet_id=a.mong_kok, clerk_id=carl, at=hk(23, 30), closed=False)
    await shift(db, outlet_id=a.mong_kok, clerk_id=carl, at=hk(23, 59, day=24))
    await sale(db, a, shift_id=early, clerk_id=carl, amount=10_000, at=hk(0, 10))
    await sale(db, a, shift_id=early, clerk_id=carl, amount=20_000, at=hk(9), payment="card")
    await sale(db, a, shift_id=late, clerk_id=carl, amount=5_000, at=hk(23, 59), kind="voucher")
    await sale(db, a, shift_id=late, clerk_id=carl, amount=7_000, at=hk(0, 1, day=26))

    shifts = await db.read(
        lambda conn: reports.shifts_of_day(conn, outlet_ids=[a.mong_kok, a.shenzhen], day=DAY)
    )
    totals = await db.read(lambda conn: reports.totals_of_day(conn, agent_id=a.agent_id, day=DAY))

    assert [s.id for s in shifts] == [early, late]
    assert (shifts[0].sales, shifts[0].takings) == (2, hkd(30_000))
    assert (shifts[1].sales, shifts[1].takings) == (2, hkd(12_000))  # a shift's, whatever day
    assert shifts[0].difference == hkd(-1_000)
    assert (shifts[1].state, shifts[1].closed_at, shifts[1].expected_cash) == ("open", None, None)
    (mong_kok,) = totals
    assert (mong_kok.outlet_id, mong_kok.sales, mong_kok.topups, mong_kok.vouchers) == (
        a.mong_kok,
        3,
        2,
        1,
    )
    assert mong_kok.amount("total") == hkd(35_000)
    assert mong_kok.amount("topup") == hkd(30_000)
    assert mong_kok.amount("voucher") == hkd(5_000)
    assert mong_kok.amount("cash") == hkd(15_000)
    assert mong_kok.amount("card") == hkd(20_000)
    assert mong_kok.amount("commission") == hkd(150 + 300 + 75)


async def test_sales_a_page_at_a_time_at_one_outlet_or_all(db: Database, clock: FixedClock) -> None:
    a = await agency(db, now=clock.now())
    carl = await agent_member(
        db, "carl", agent_id=a.agent_id, outlet_id=a.mong_kok, now=clock.now()
    )
    at_mk = await shift(db, outlet_id=a.mong_kok, clerk_id=carl, at=hk(8))
    at_sz = await shift(db, outlet_id=a.shenzhen, clerk_id=carl, at=hk(8), currency="CNY")
    for n in range(5):
        await sale(db, a, shift_id=at_mk, clerk_id=carl, amount=1_000 * (n + 1), at=hk(10, n))
    await sale(
        db,
        a,
        shift_id=at_sz,
        clerk_id=carl,
        amount=9_900,
        at=hk(11),
        outlet_id=a.shenzhen,
        currency="CNY",
    )

    first = await db.read(
        lambda conn: reports.sales_of_day(conn, agent_id=a.agent_id, day=DAY, limit=4)
    )
    rest = await db.read(
        lambda conn: reports.sales_of_day(
            conn, agent_id=a.agent_id, day=DAY, limit=4, after=first.next_after
        )
    )
    only_sz = await db.read(
        lambda conn: reports.sales_of_day(conn, agent_id=a.agent_id, day=DAY, outlet_id=a.shenzhen)
    )
    other_agent = await db.read(
        lambda conn: reports.sales_of_day(conn, agent_id=a.agent_id + 1, day=DAY)
    )

    assert [s.amount.minor for s in first.sales] == [1_000, 2_000, 3_000, 4_000]
    assert first.next_after == first.sales[-1].id
    assert [s.amount for s in rest.sales] == [hkd(5_000), Money(9_900, "CNY")]
    assert rest.next_after is None
    assert [s.amount for s in only_sz.sales] == [Money(9_900, "CNY")]
    assert only_sz.sales[0].commission == Money(148, "CNY")  # 148.5 rounded down
    assert other_agent.sales == []
    totals = await db.read(lambda conn: reports.totals_of_day(conn, agent_id=a.agent_id, day=DAY))
    assert [(t.outlet_id, t.currency, t.amount("total")) for t in totals] == [
        (a.mong_kok, "HKD", hkd(15_000)),
        (a.shenzhen, "CNY", Money(9_900, "CNY")),
    ]


async def test_no_outlet_no_shift(db: Database) -> None:
    assert await db.read(lambda conn: reports.shifts_of_day(conn, outlet_ids=[], day=DAY)) == []
    assert reports.day_window(DAY) == (
        datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
    )
