"""Migration 0013 on SQLite and PostgreSQL: the default plans that exist get their usage
rates, and the revision goes down and up again cleanly."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.migrations import upgrade
from simkeep.sims import service as sims
from simkeep.usage import rates
from simkeep.usage import tables as ut
from simkeep.usage.model import Kind, Zone
from tests.conftest import downgrade

BEFORE = "0012"  # the revision 0013 follows


async def test_migration_0013_gives_the_default_plans_their_rates(db: Database) -> None:
    await db.transaction(sims.ensure_plans)  # plans made before usage existed
    await downgrade(db, BEFORE)
    await upgrade(db)

    async def read(conn: AsyncConnection) -> tuple[int, list[dict[tuple[Zone, Kind], int]]]:
        count = (await conn.execute(select(func.count()).select_from(ut.rates))).scalar_one()
        return int(count), [await rates.rates_of(conn, plan_code=p) for p in rates.DEFAULT_RATES]

    count, tables = await db.transaction(read)
    assert count == 4 * 6
    assert tables == [dict(table) for table in rates.DEFAULT_RATES.values()]  # as the code says
