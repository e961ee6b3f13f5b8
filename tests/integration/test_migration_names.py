"""Migration 0008 on a database that has plans, SIMs and subscribers already, on SQLite and
PostgreSQL: the default plans get their names in three languages, another plan keeps its one
name in all three, the SIMs still point at their plans, and subscribers read the default
language until they choose one."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.migrations import upgrade
from simkeep.settings import load_settings
from simkeep.sqltypes import UTCDateTime
from tests.conftest import DEFAULT_PG, START

BEFORE = "0007"


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no schema at all, of each kind."""
    if request.param == "sqlite":
        database = Database.from_settings(load_settings(database_url=f"sqlite:///{tmp_path}/m.db"))
        yield database
        await database.dispose()
        return
    admin = os.environ.get("SIMKEEP_TEST_POSTGRES_URL", DEFAULT_PG)
    name = f"simkeep_migration_{os.getpid()}"
    try:
        conn = await asyncpg.connect(admin, timeout=5)
    except OSError as error:
        if os.environ.get("SIMKEEP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {admin} is not reachable: {error}")
        pytest.skip(f"PostgreSQL at {admin} is not reachable: {error}")
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    database = Database.from_settings(load_settings(database_url=url))
    try:
        yield database
    finally:
        await database.dispose()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def test_plans_get_names_in_three_languages_and_subscribers_a_language(
    empty_db: Database,
) -> None:
    await upgrade(empty_db, BEFORE)

    async def before(conn: AsyncConnection) -> None:
        await conn.execute(
            text(
                "INSERT INTO sim_plans (code, name, currency, retention, monthly_fee) VALUES"
                " ('CN-KEEP', '内地保号月租 ¥8', 'CNY', 'monthly_fee', 800),"
                " ('OUTLET-X', '門市特選', 'HKD', 'validity', 0)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO sims (id, iccid, home_currency, plan_code, state, holder_masked,"
                " id_type, id_digest, id_masked, created_at) VALUES (7, '8985200000000000070',"
                " 'CNY', 'CN-KEEP', 'active', '陳*明', 'hkid', 'x', 'A12****(3)', :now)"
            ).bindparams(bindparam("now", START, type_=UTCDateTime())),
        )
        await conn.execute(
            text(
                "INSERT INTO subscribers (phone, password_hash, created_at, password_changed_at)"
                " VALUES ('+85261234567', 'x', :now, :now)"
            ).bindparams(bindparam("now", START, type_=UTCDateTime())),
        )

    await empty_db.transaction(before)
    await asyncio.wait_for(upgrade(empty_db), timeout=60)

    async def language(conn: AsyncConnection) -> str:
        return str((await conn.execute(text("SELECT language FROM subscribers"))).scalar_one())

    assert await empty_db.transaction(language) == "zh_Hant_HK"

    async def after(conn: AsyncConnection) -> list[tuple[object, ...]]:
        rows = await conn.execute(
            text(
                "SELECT p.code, p.name_zh_hant_hk, p.name_zh_hans_cn, p.name_en, s.id"
                " FROM sim_plans p LEFT JOIN sims s ON s.plan_code = p.code ORDER BY p.code"
            )
        )
        return [tuple(row) for row in rows]

    assert await empty_db.transaction(after) == [
        ("CN-KEEP", "內地保號月租 ¥8", "内地保号月租 ¥8", "Mainland number keeper, ¥8 a month", 7),
        ("OUTLET-X", "門市特選", "門市特選", "門市特選", None),
    ]
