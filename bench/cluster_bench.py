"""The production shape (``make cluster``): what synchronous replication costs a write, how
far the replicas fall behind under load, and how long a failover takes.

Everything runs through ``cluster.run.Cluster`` on this machine: three PostgreSQL servers
under Patroni, HAProxy, pgbouncer. The writes are single-row inserts into a table of the
benchmark's own, each its own transaction, through pgbouncer — the path every write of the
app takes:

* **commit cost**: 2,000 inserts one after another with ``synchronous_commit = on`` (the
  cluster's setting: the commit returns once the synchronous replica has flushed it) and
  the same with ``local`` (the primary alone), interleaved in blocks of 100;
* **replica lag under load**: 16 connections insert for 10 s as fast as they can while the
  replicas' replay positions are read every 100 ms; the lag is the primary's position minus
  the replica's, in bytes and as the age of the oldest unreplayed commit;
* **failover**: the primary's Patroni and its server are killed (``kill -9``); a client
  retries an insert every 50 ms through pgbouncer; the time is from the kill to the first
  insert accepted again, on the new primary.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import asyncpg

from cluster.run import Cluster, new_layout

INSERTS = 2_000
BLOCK = 100
LOAD_SECONDS = 10.0
LOAD_CLIENTS = 16
RETRY = 0.05


@dataclass(frozen=True, slots=True)
class Figures:
    sync_ms: float  # median insert, synchronous commit
    local_ms: float  # median insert, the primary alone
    lag_bytes_max: int
    lag_ms_max: float
    load_inserts: int
    failover_s: float


async def measure(
    cluster: Cluster, *, inserts: int = INSERTS, load: float = LOAD_SECONDS
) -> Figures:
    url = cluster.layout.database_url
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, n int)"
        )
        sync, local = await _commit_costs(conn, inserts)
    finally:
        await conn.close()
    lag_bytes, lag_ms, done = await _lag_under_load(cluster, url, load)
    failover = await _failover(cluster, url)
    return Figures(
        statistics.median(sync), statistics.median(local), lag_bytes, lag_ms, done, failover
    )


async def _commit_costs(conn: asyncpg.Connection, inserts: int) -> tuple[list[float], list[float]]:
    timings: dict[str, list[float]] = {"on": [], "local": []}
    for block in range(inserts // BLOCK):
        order = ("on", "local") if block % 2 == 0 else ("local", "on")
        for mode in order:
            await conn.execute(f"SET synchronous_commit = {mode}")
            for n in range(BLOCK):
                started = time.perf_counter()
                await conn.execute("INSERT INTO bench_writes (n) VALUES ($1)", n)
                timings[mode].append((time.perf_counter() - started) * 1000)
    await conn.execute("RESET synchronous_commit")
    return timings["on"], timings["local"]


async def _lag_under_load(cluster: Cluster, url: str, seconds: float) -> tuple[int, float, int]:
    primary = cluster.primary()
    assert primary is not None
    direct = f"postgresql://postgres@127.0.0.1:{cluster.layout.postgres_port(primary)}/simkeep"
    watcher = await asyncpg.connect(direct)
    stop = time.monotonic() + seconds
    done = 0

    async def writer() -> None:
        nonlocal done
        conn = await asyncpg.connect(url)
        try:
            while time.monotonic() < stop:
                await conn.execute("INSERT INTO bench_writes (n) VALUES (0)")
                done += 1
        finally:
            await conn.close()

    writers = [asyncio.create_task(writer()) for _ in range(LOAD_CLIENTS)]
    worst_bytes, worst_ms = 0, 0.0
    try:
        while time.monotonic() < stop:
            rows = await watcher.fetch(
                "SELECT (pg_current_wal_lsn() - replay_lsn)::bigint AS behind,"
                " coalesce(extract(epoch FROM replay_lag) * 1000, 0)::float AS lag_ms"
                " FROM pg_stat_replication"
            )
            for row in rows:
                worst_bytes = max(worst_bytes, int(row["behind"] or 0))
                worst_ms = max(worst_ms, float(row["lag_ms"]))
            await asyncio.sleep(0.1)
        await asyncio.gather(*writers)
    finally:
        await watcher.close()
    return worst_bytes, worst_ms, done


async def _failover(cluster: Cluster, url: str) -> float:
    primary = cluster.primary()
    assert primary is not None
    killed = time.monotonic()
    await asyncio.to_thread(cluster.kill_node, primary)  # Patroni and its server: kill -9
    while True:
        try:
            conn = await asyncpg.connect(url, timeout=1)
            try:
                await conn.execute("INSERT INTO bench_writes (n) VALUES (-1)")
            finally:
                await conn.close()
            return time.monotonic() - killed
        except (TimeoutError, OSError, asyncpg.PostgresError):
            if time.monotonic() - killed > 120:
                raise
            await asyncio.sleep(RETRY)


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md."""
    inserts, load = (400, 3.0) if quick else (INSERTS, LOAD_SECONDS)
    cluster = Cluster(new_layout())
    await asyncio.to_thread(cluster.up)
    try:
        figures = await measure(cluster, inserts=inserts, load=load)
    finally:
        await asyncio.to_thread(cluster.down)
    print(
        f"cluster: insert {figures.sync_ms:.2f} ms synchronous, {figures.local_ms:.2f} ms local; "
        f"lag ≤ {figures.lag_bytes_max} bytes, {figures.lag_ms_max:.1f} ms; "
        f"failover {figures.failover_s:.1f} s"
    )
    return [
        "",
        "## The production shape: replication and failover",
        "",
        "`make cluster`'s databases (`bench/cluster_bench.py`): three PostgreSQL 15 servers "
        "under Patroni (etcd), synchronous replication to one replica, HAProxy and pgbouncer "
        "in front, all on this machine. Single-row inserts, each its own transaction, "
        "through pgbouncer.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| insert, synchronous commit (median of {inserts // 2:,}) | {figures.sync_ms:.2f} ms |",
        f"| insert, the primary alone (`synchronous_commit = local`) | {figures.local_ms:.2f} ms |",
        f"| inserts in {load:.0f} s by {LOAD_CLIENTS} connections | {figures.load_inserts:,} |",
        f"| the replicas' worst lag under that load | {figures.lag_bytes_max:,} bytes, "
        f"{figures.lag_ms_max:.1f} ms |",
        f"| failover: primary killed → an insert accepted again | {figures.failover_s:.1f} s |",
    ]
