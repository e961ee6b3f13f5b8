"""The harness's own PostgreSQL cluster: made in a folder of its own on a free port, it listens
where it was told, keeps a committed row through a crash (an immediate stop) and a restart,
stops twice without complaint, and ``remove`` deletes its folder. Skipped when there are no
PostgreSQL programs (or, as root, no ``postgres`` user to run them as), unless
``SIMKEEP_REQUIRE_POSTGRES=1``, which turns that into a failure."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from chaos.cluster import PostgresCluster, find_bin_dir
from chaos.ports import free_port
from tests.chaos.conftest import require_own_cluster


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    require_own_cluster()
    # Not pytest's tmp_path: it lies in a folder that only its owner may enter, and the
    # postgres user must reach the cluster's.
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="simkeep-chaos-")), free_port())
    yield cluster
    cluster.remove()


async def test_a_committed_row_outlives_a_crash_and_remove_deletes_the_cluster(
    cluster: PostgresCluster,
) -> None:
    cluster.create()
    assert cluster.running()
    assert cluster.url == f"postgresql://postgres@127.0.0.1:{cluster.port}/simkeep"
    assert (cluster.root / f".s.PGSQL.{cluster.port}").exists()
    conn = await asyncpg.connect(cluster.url, timeout=10)
    try:
        settings = await conn.fetchrow(
            "SELECT current_setting('listen_addresses') AS listen,"
            " current_setting('fsync') AS fsync,"
            " current_setting('max_connections') AS connections,"
            " current_setting('server_encoding') AS encoding"
        )
        assert dict(settings) == {
            "listen": "127.0.0.1",
            "fsync": "on",
            "connections": "200",
            "encoding": "UTF8",
        }
        await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
        await conn.execute("INSERT INTO kept VALUES (1, '保號')")
    finally:
        await conn.close()

    cluster.stop("immediate")
    assert not cluster.running()
    cluster.stop()  # stopped already: nothing to do
    cluster.start()
    assert cluster.running()
    conn = await asyncpg.connect(cluster.url, timeout=10)
    try:
        assert await conn.fetch("SELECT id, note FROM kept") == [(1, "保號")]
    finally:
        await conn.close()
    log = cluster.log_path.read_text()
    assert "was interrupted" in log  # the immediate stop was a crash, recovered from the WAL

    cluster.remove()
    assert not cluster.root.exists()
    assert not cluster.running()


def test_the_newest_installed_postgresql_is_used(tmp_path: Path) -> None:
    for version, complete in (("9.6", True), ("10", True), ("15", True), ("16", False)):
        (tmp_path / version / "bin").mkdir(parents=True)
        if complete:
            (tmp_path / version / "bin" / "pg_ctl").touch()
    (tmp_path / "common" / "bin").mkdir(parents=True)  # no version: never chosen
    assert find_bin_dir(tmp_path) == tmp_path / "15" / "bin"
    with pytest.raises(FileNotFoundError):
        find_bin_dir(tmp_path / "16")
