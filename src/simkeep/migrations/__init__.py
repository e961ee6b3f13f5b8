"""Alembic migrations, shipped inside the package: ``simkeep db upgrade`` runs them."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "simkeep:migrations")
    return config


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` inside one transaction (``Database.schema_change``)."""

    async def run(conn: AsyncConnection) -> None:
        await conn.run_sync(_upgrade, revision)

    await db.schema_change(run)


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_revision(db: Database) -> str | None:
    async def run(conn: AsyncConnection) -> str | None:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )

    return await db.transaction(run)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
