"""Shared fixtures: a migrated SQLite file and a migrated PostgreSQL database per session.

Integration tests take ``db`` and run once per database. PostgreSQL is found at
``SIMKEEP_TEST_POSTGRES_URL``; when it cannot be reached the tests are skipped, unless
``SIMKEEP_REQUIRE_POSTGRES=1``, which turns that into a failure. RabbitMQ (for the worker
fleet) likewise: ``SIMKEEP_TEST_RABBITMQ_URL``, ``SIMKEEP_REQUIRE_RABBITMQ=1``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from alembic import command
from hypothesis import settings
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.migrations import alembic_config, upgrade
from simkeep.settings import load_settings

pytest_plugins = ["tests.replicated"]  # a primary and its streaming replica

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
RABBITMQ = os.environ.get("SIMKEEP_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
# Apps built by tests run no background worker; tests run each job when they mean to.
os.environ.setdefault("SIMKEEP_RUN_JOBS", "false")
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

# CI must be repeatable: the same examples every run there; random exploration elsewhere.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


async def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to ``revision`` (its data moved by each migration's downgrade)."""

    def run(sync: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync
        command.downgrade(config, revision)

    async def step(conn: AsyncConnection) -> None:
        await conn.run_sync(run)

    await db.transaction(step)


def migrate(url: str) -> None:
    async def run() -> None:
        db = Database.from_settings(load_settings(database_url=url))
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(run())


def require_rabbitmq() -> str:
    """The broker's URL, once it answers; else a skip (a failure with
    ``SIMKEEP_REQUIRE_RABBITMQ=1``)."""
    url = make_url(RABBITMQ.replace("amqp://", "postgresql://", 1))
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5672), timeout=2).close()
    except OSError as error:
        message = f"RabbitMQ at {url.host}:{url.port} is not reachable: {error}"
        if os.environ.get("SIMKEEP_REQUIRE_RABBITMQ") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return RABBITMQ


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "simkeep.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin = os.environ.get("SIMKEEP_TEST_POSTGRES_URL", DEFAULT_PG)
    name = f"simkeep_test_{os.getpid()}"

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(admin, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}"'))
        asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        message = f"PostgreSQL at {admin} is not reachable: {error}"
        if os.environ.get("SIMKEEP_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    yield url
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[str]:
    """A freshly emptied, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "simkeep.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    empty_database(url)
    yield url


def empty_database(postgres_url: str) -> None:
    """Empty every table of the session's PostgreSQL database but the schema revision
    (TRUNCATE fires no row trigger)."""

    async def truncate() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            tables = await conn.fetchval(
                "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
            await conn.execute(f"TRUNCATE {tables}")
        finally:
            await conn.close()

    asyncio.run(truncate())


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.from_settings(load_settings(database_url=database_url))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)
