"""A primary and a streaming replica of their own, for the tests of reads off the primary:
made once per module (``chaos.cluster``: ``initdb``, then ``pg_basebackup``), migrated on the
primary (the replica replays it), emptied before each test, removed at the end. The replica's
replay can be paused (``pg_wal_replay_pause``): a replica as far behind as a test wants."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from chaos.cluster import PostgresCluster
from chaos.ports import free_port
from simkeep.db import Database
from simkeep.settings import load_settings
from tests.chaos.conftest import require_own_cluster
from tests.conftest import empty_database, migrate

CATCH_UP = 20.0  # seconds a replica that replays may take to catch up in a test


@dataclass(frozen=True)
class Pair:
    primary: PostgresCluster
    replica: PostgresCluster

    async def pause(self) -> None:
        await self._on_replica("SELECT pg_wal_replay_pause()")

    async def resume(self) -> None:
        await self._on_replica("SELECT pg_wal_replay_resume()")

    async def caught_up(self) -> None:
        """Wait until the replica has replayed all the primary has written."""
        primary = await asyncpg.connect(self.primary.url)
        replica = await asyncpg.connect(self.replica.url)
        try:
            async with asyncio.timeout(CATCH_UP):
                target = await primary.fetchval("SELECT pg_current_wal_lsn()")
                replayed = "SELECT pg_last_wal_replay_lsn()"
                while await replica.fetchval(replayed) < target:  # noqa: ASYNC110 - another server
                    await asyncio.sleep(0.05)
        finally:
            await primary.close()
            await replica.close()

    async def _on_replica(self, sql: str) -> None:
        conn = await asyncpg.connect(self.replica.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def _clusters() -> Iterator[Pair]:
    require_own_cluster()
    primary = PostgresCluster(Path(tempfile.mkdtemp(prefix="simkeep-primary-")), free_port())
    replica = PostgresCluster(Path(tempfile.mkdtemp(prefix="simkeep-replica-")), free_port())
    try:
        primary.create()
        migrate(primary.url)
        replica.create_replica_of(primary)
        yield Pair(primary, replica)
    finally:
        replica.remove()
        primary.remove()


@pytest.fixture(scope="module")
def replicated_clusters() -> Iterator[Pair]:
    yield from _clusters()


@pytest_asyncio.fixture
async def pair(replicated_clusters: Pair) -> AsyncIterator[Pair]:
    """The pair, emptied, the replica replaying and caught up."""
    await replicated_clusters.resume()
    await asyncio.to_thread(empty_database, replicated_clusters.primary.url)
    await replicated_clusters.caught_up()
    yield replicated_clusters
    await replicated_clusters.resume()


@pytest_asyncio.fixture
async def primary_db(pair: Pair) -> AsyncIterator[Database]:
    database = Database.from_settings(load_settings(database_url=pair.primary.url))
    yield database
    await database.dispose()


@pytest_asyncio.fixture
async def replica_db(pair: Pair) -> AsyncIterator[Database]:
    database = Database.from_settings(load_settings(database_url=pair.replica.url))
    yield database
    await database.dispose()
