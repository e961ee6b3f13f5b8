"""``simkeep demo seed`` gives demo SIM 4 an auto keep-alive signed with Alipay at its
simulator, by the same service a subscriber uses; seeding again leaves it as it is."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.demo.service import DEMO_SUBSCRIBERS
from simkeep.keepalive import tables as kt
from tests.integration.test_demo import seed


async def test_the_demo_has_a_sim_kept_alive(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    await seed(database_url, tmp_path)

    async def rules(conn: AsyncConnection) -> list[tuple[str, str, str, bool]]:
        r = kt.rules.c
        rows = await conn.execute(
            select(r.provider, r.state, r.mode, r.provider_agreement_no.is_not(None))
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]

    assert await db.transaction(rules) == [("alipay", "active", "enough", True)]
    await seed(database_url, tmp_path)
    assert await db.transaction(rules) == [("alipay", "active", "enough", True)]
    assert DEMO_SUBSCRIBERS[0].sims[1] == 4  # the SIM is the first demo subscriber's
