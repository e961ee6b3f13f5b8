"""``simkeep agents add`` and ``simkeep outlets import`` on both databases: an agent added and
audited, a file imported with its counts, a file with mistakes refused line by line with
nothing saved, and again the same file updating in place."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from simkeep.cli.main import app
from simkeep.db import Database
from simkeep.demo.outlets import demo_text
from simkeep.outlets import tables as t
from simkeep.settings import load_settings
from simkeep.staff import audit

runner = CliRunner()
AGENTS = [
    ("OWN", "中港通自營門市", "中港通自营门店", "China-HK SIM own shops", "0"),
    ("QUIK", "快達便利店", "快达便利店", "QuikMart", "150"),
    ("MALLCOM", "商場通訊站", "商场通讯站", "MallComm Kiosks", "200"),
    ("YOUXUAN", "優選便利", "优选便利", "YouXuan Mart", "120"),
]


def simkeep(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"SIMKEEP_DATABASE_URL": database_url})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def read(database_url: str) -> tuple[int, list[str]]:
    """How many outlets there are, and the actions in the audit log."""

    async def run() -> tuple[int, list[str]]:
        db = Database.from_settings(load_settings(database_url=database_url))
        try:
            count = await db.read(
                lambda conn: conn.scalar(select(func.count()).select_from(t.outlets))
            )
            entries = await db.read(lambda conn: audit.entries(conn))
            return int(count or 0), sorted(entry.action for entry in entries)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_agents_added_then_outlets_imported(database_url: str, tmp_path: Path) -> None:
    for code, hant, hans, en, bp in AGENTS:
        added, output = simkeep(
            database_url, "agents", "add", "--code", code, "--name-zh-hant", hant,
            "--name-zh-hans", hans, "--name-en", en, "--commission-bp", bp,
        )  # fmt: skip
        assert added == 0, output
        assert f"Added agent {code}" in output
    again, output = simkeep(
        database_url, "agents", "add", "--code", "QUIK", "--name-zh-hant", "快",
        "--name-zh-hans", "快", "--name-en", "Q", "--commission-bp", "100",
    )  # fmt: skip
    assert again == 2
    assert "exists already" in output

    good = tmp_path / "outlets.csv"
    good.write_text(demo_text("outlets.csv"), encoding="utf-8")
    imported, output = simkeep(database_url, "outlets", "import", str(good))
    assert imported == 0, output
    assert "73 outlets added, 0 updated." in output
    imported, output = simkeep(database_url, "outlets", "import", str(good))
    assert "0 outlets added, 73 updated." in output

    lines = demo_text("outlets.csv").splitlines()
    lines[2] = lines[2].replace("22.286800", "122.286800")  # line 3: a latitude off the Earth
    lines[4] = lines[4].replace("10:00-20:00,", "10:00-25:00,", 1)  # line 5: a bad Monday
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*lines, lines[1].replace("HK-CW-01", "HK-NEW-01")]) + "\n")
    refused, output = simkeep(database_url, "outlets", "import", str(bad))
    assert refused == 2
    assert "Nothing imported" in output
    assert "122.286800" in output
    assert "│ 3    │ lat" in output
    assert "│ 5    │ mon" in output
    assert read(database_url) == (73, ["agent.add"] * 4 + ["outlets.import"] * 2)
