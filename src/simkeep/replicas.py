"""Reads off the primary: PostgreSQL streaming replicas for what only reads
(docs/scaling.md, "Reads off the primary").

Design overview
---------------
``ReadPool`` holds the primary's ``Database`` and one per replica (``SIMKEEP_REPLICA_URLS``,
each a replica or a pgbouncer pool in front of one). ``watch_once`` (run every half second
by ``watch``) reads the primary's WAL position and each replica's replayed position, and
keeps a replica in the pool while it answers and has replayed at least what the primary had
written ``max_lag`` ago: one that falls behind, or dies, is dropped, and taken back when it
has caught up.

``run(work, seen=…)`` runs a read on a replica of the pool — round robin — that has
replayed at least ``seen``, the position of the reader's own last write (read-your-writes:
``written`` gives it after a write, and the caller keeps it with the reader's session);
without such a replica, or on SQLite, or with no replicas set, on the primary. A replica
that fails to answer is dropped at once and the read runs again on the primary, so the
work must only read. Positions are the WAL's byte offsets (``pg_lsn - '0/0'``), which only
grow: a replica seen at a position has replayed at least that much since.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from sqlalchemy import TextClause, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database, TransactionFn
from simkeep.settings import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")

PRIMARY_POSITION = text("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
REPLAYED_POSITION = text(
    "SELECT CASE WHEN pg_is_in_recovery() "
    "THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint "
    "ELSE (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint END"
)
UNREACHABLE = (OSError, DBAPIError, asyncio.TimeoutError)


@dataclass
class Replica:
    name: str
    db: Database
    replayed: int = -1  # the last position it was seen to have replayed; -1: not yet seen
    in_pool: bool = False


@dataclass
class ReadPool:
    """The primary and its replicas; see the module's overview."""

    primary: Database
    replicas: Sequence[Replica]
    max_lag: float = 2.0  # seconds behind the primary before a replica is dropped
    _written: deque[tuple[float, int]] = field(default_factory=deque)  # (monotonic, position)
    _turn: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, primary: Database) -> ReadPool:
        """The replicas of ``SIMKEEP_REPLICA_URLS`` (none on SQLite)."""
        urls = [url.strip() for url in settings.replica_urls.split(",") if url.strip()]
        if primary.dialect == "sqlite":
            urls = []
        replicas = [
            Replica(
                f"replica-{n}",
                Database.from_settings(settings.model_copy(update={"database_url": url})),
            )
            for n, url in enumerate(urls, start=1)
        ]
        return cls(primary, replicas, max_lag=settings.replica_max_lag_seconds)

    async def run(self, work: Callable[[Database], Awaitable[T]], *, seen: int | None = None) -> T:
        """Run ``work`` (reads only) on a replica that has replayed ``seen``, else on the
        primary."""
        replica = self._pick(seen)
        if replica is not None:
            try:
                return await work(replica.db)
            except UNREACHABLE as error:
                self._drop(replica, f"{type(error).__name__}: {error}")
        return await work(self.primary)

    async def read(self, fn: TransactionFn[T], *, seen: int | None = None) -> T:
        """``fn(conn)`` in a transaction of its own, where ``run`` puts it."""
        return await self.run(lambda db: db.transaction(fn), seen=seen)

    async def written(self) -> int | None:
        """The primary's WAL position now: after a write has committed, what a replica must
        have replayed to show it; None without replicas."""
        if not self.replicas:
            return None
        return await self.primary.read(_position(PRIMARY_POSITION))

    async def watch_once(self) -> None:
        """Look at the primary's position and each replica's, and keep the pool to those that
        answer and are at most ``max_lag`` behind."""
        now = time.monotonic()
        self._written.append((now, await self.primary.read(_position(PRIMARY_POSITION))))
        while len(self._written) > 1 and self._written[1][0] <= now - self.max_lag:
            self._written.popleft()  # keep the newest sample at least max_lag old
        due = self._written[0][1]
        for replica in self.replicas:
            try:
                replica.replayed = await asyncio.wait_for(
                    replica.db.read(_position(REPLAYED_POSITION)), timeout=self.max_lag
                )
            except UNREACHABLE as error:
                self._drop(replica, f"{type(error).__name__}: {error}")
                continue
            if replica.replayed >= due and not replica.in_pool:
                log.info("replica.taken", replica=replica.name, replayed=replica.replayed)
                replica.in_pool = True
            elif replica.replayed < due and replica.in_pool:
                self._drop(replica, f"behind by {due - replica.replayed} bytes")

    async def watch(self, every: float = 0.5) -> None:
        """``watch_once`` every ``every`` seconds until cancelled."""
        while True:
            try:
                await self.watch_once()
            except UNREACHABLE as error:  # the primary itself did not answer
                log.warning("replica.watch_failed", error=str(error))
            await asyncio.sleep(every)

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.db.dispose()

    def _pick(self, seen: int | None) -> Replica | None:
        ready = [
            replica
            for replica in self.replicas
            if replica.in_pool and (seen is None or replica.replayed >= seen)
        ]
        if not ready:
            return None
        self._turn = (self._turn + 1) % len(ready)
        return ready[self._turn]

    def _drop(self, replica: Replica, why: str) -> None:
        if replica.in_pool:
            log.warning("replica.dropped", replica=replica.name, why=why)
        replica.in_pool = False


def _position(statement: TextClause) -> Callable[[AsyncConnection], Awaitable[int]]:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(statement)).scalar_one())

    return read
