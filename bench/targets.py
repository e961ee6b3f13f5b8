"""Where each benchmark database lives and how to make it fresh."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from simkeep.clock import SystemClock
from simkeep.db import Database
from simkeep.ledger import service as ledger
from simkeep.migrations import upgrade
from simkeep.settings import load_settings

OUT = Path(__file__).parent / "out"
PG_ADMIN = os.environ.get("SIMKEEP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOT_SLOTS = 8
RECONCILE_ROWS = {"postgresql": 1_000_000, "sqlite": 100_000}  # one provider's day
RECONCILE_SECONDS = 30.0  # the target for a million rows on PostgreSQL


@dataclass(frozen=True)
class Target:
    name: str  # "sqlite" or "postgresql"
    url: str

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))

    @property
    def driver_url(self) -> str:
        """The PostgreSQL URL as asyncpg takes it, for loading in bulk with its own SQL."""
        return self.url.replace("postgresql+asyncpg://", "postgresql://")


async def fresh(name: str, label: str) -> Target:
    """An empty, migrated database with the chart of accounts, for one benchmark."""
    if name == "sqlite":
        OUT.mkdir(exist_ok=True)
        path = OUT / f"{label}.db"
        _remove_sqlite_files(path)
        target = Target(name, f"sqlite:///{path}")
    else:
        database = f"simkeep_bench_{label}"
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        url = make_url(PG_ADMIN).set(database=database).render_as_string(hide_password=False)
        target = Target(name, url)
    db = Database.from_settings(load_settings(database_url=target.url))
    try:
        await upgrade(db)
        await db.transaction(
            lambda conn: ledger.ensure_chart(conn, now=SystemClock().now(), hot_slots=HOT_SLOTS)
        )
    finally:
        await db.dispose()
    return target


async def drop(target: Target) -> None:
    if target.name == "sqlite":
        _remove_sqlite_files(target.sqlite_path)
        return
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        database = make_url(target.url).database
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
