"""The demo's counter on SQLite and PostgreSQL: three closed shifts of clerk.mk with cash and
card top-ups and a voucher sale each day, counted exactly, HK$20 short and HK$10 over; the
agent reads their Z-reports; seeding again adds nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import service as counter
from simkeep.counter import tables as ct
from simkeep.db import Database
from simkeep.staff import service as staff
from tests.integration.test_demo import seed


async def shifts(db: Database) -> list[tuple[int, str, int | None]]:
    """Every shift: id, state, difference."""

    async def read(conn: AsyncConnection) -> list[tuple[int, str, int | None]]:
        s = ct.shifts.c
        rows = await conn.execute(select(s.id, s.state, s.difference_minor).order_by(s.id))
        return [(row.id, row.state, row.difference_minor) for row in rows]

    return await db.read(read)


async def sales(db: Database) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(ct.sales))).scalar_one())

    return await db.read(read)


async def test_the_demo_counter_has_three_closed_days(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    await seed(database_url, tmp_path)
    closed = [shift for shift in await shifts(db) if shift[1] == "closed"]

    assert [difference for _, _, difference in closed] == [0, -2_000, 1_000]
    made = await sales(db)
    agent = await db.read(lambda conn: staff.find_member(conn, username="agent.own"))
    assert agent is not None
    report = await counter.shift_report(db, shift_id=closed[1][0], viewer=agent)
    assert report is not None
    assert [sale.kind for sale in report.sales] == ["topup", "topup", "topup", "voucher"]
    assert report.card.minor == 30_000
    assert report.expected_cash.minor == 100_000 + 10_000 + 5_000 + 10_000
    assert report.figures is not None
    assert report.figures.counted_cash.minor == report.expected_cash.minor - 2_000

    await seed(database_url, tmp_path)

    assert [shift for shift in await shifts(db) if shift[1] == "closed"] == closed
    assert await sales(db) == made
