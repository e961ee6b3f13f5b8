"""``simkeep ledger check`` passes on sound books and fails, readably, on corrupted ones: the
books of the demo data (``simkeep demo seed``: top-ups paid at the simulators, same-currency
and cross-currency journals), corrupted underneath the ledger's guards."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from simkeep.cli.main import app

runner = CliRunner()


def simkeep(database_url: str, *args: str, keys_dir: Path | None = None) -> tuple[int, str]:
    """Run the command line on ``database_url``; the simulators' keys (the demo pays at the
    simulators) are kept in ``keys_dir``."""
    env = {"SIMKEEP_DATABASE_URL": database_url}
    if keys_dir is not None:
        env["SIMKEEP_KEYS_DIR"] = str(keys_dir)
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def corrupt(database_url: str, *statements: str) -> None:
    """Run statements straight on the database, with the ledger's triggers out of the way."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("DROP TRIGGER ledger_postings_balanced")
        for statement in statements:
            conn.execute(statement)
        conn.close()
        return

    async def run() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("SET session_replication_role = replica")
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
def seeded(database_url: str, keys_dir: Path) -> str:
    code, output = simkeep(database_url, "demo", "seed", keys_dir=keys_dir)
    assert code == 0, output
    return database_url


def test_check_passes_on_the_demo_books(seeded: str) -> None:
    code, output = simkeep(seeded, "ledger", "check")
    assert code == 0, output
    assert "ledger check passed" in output
    assert "HKD" in output
    assert "CNY" in output


def test_seeding_twice_changes_nothing(seeded: str, keys_dir: Path) -> None:
    _, first = simkeep(seeded, "ledger", "check")
    code, _ = simkeep(seeded, "demo", "seed", keys_dir=keys_dir)
    assert code == 0
    assert simkeep(seeded, "ledger", "check")[1] == first


def test_check_fails_on_a_tampered_balance(seeded: str) -> None:
    corrupt(
        seeded,
        "UPDATE ledger_balances SET balance = balance + 1 WHERE account_id = "
        "(SELECT min(id) FROM ledger_accounts WHERE code LIKE 'sim:%:balance:HKD')",
    )
    code, output = simkeep(seeded, "ledger", "check")
    assert code == 1
    # the account by its code, every amount as money
    assert re.search(r"account sim:\d+:balance:HKD slot 0: stored balance [\d.]+ HKD", output)
    assert "trial balance in HKD is -0.01 HKD, not zero" in output
    assert "ledger check failed" in output


@pytest.mark.parametrize("column", ["pending_out", "pending_in"])
def test_check_fails_on_a_tampered_hold_amount(seeded: str, column: str) -> None:
    corrupt(
        seeded,
        f"UPDATE ledger_balances SET {column} = {column} + 1 WHERE account_id = "
        "(SELECT min(id) FROM ledger_accounts WHERE code LIKE 'sim:%:balance:HKD')",
    )
    code, output = simkeep(seeded, "ledger", "check")
    assert code == 1
    held = "held out 0.01 HKD" if column == "pending_out" else "held in 0.01 HKD"
    assert held in output
    assert "ledger check failed: 1 problem(s)" in output  # the trial balance is still zero


def test_check_fails_on_an_unbalanced_journal(seeded: str) -> None:
    corrupt(
        seeded,
        "INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount, "
        "created_at) SELECT j.id, p.account_id, p.currency, p.slot, 1, j.created_at "
        "FROM ledger_journals j "
        "JOIN ledger_postings p ON p.journal_id = j.id "
        "WHERE j.id = (SELECT min(id) FROM ledger_journals) ORDER BY p.id LIMIT 1",
    )
    code, output = simkeep(seeded, "ledger", "check")
    assert code == 1
    assert re.search(r"journal topup:\S+ does not balance: it is off by 0\.01 [A-Z]{3}", output)
    counted = re.search(r"has (\d+) postings, declared (\d+)", output)
    assert counted, output
    assert int(counted.group(1)) == int(counted.group(2)) + 1


def test_check_fails_on_a_broken_floor(seeded: str) -> None:
    lift_check = (
        "PRAGMA ignore_check_constraints = 1"
        if seeded.startswith("sqlite")
        else "ALTER TABLE ledger_balances DROP CONSTRAINT ck_ledger_balances_floor"
    )
    corrupt(
        seeded,
        lift_check,
        "UPDATE ledger_balances SET min_balance = 100000000 WHERE account_id = "
        "(SELECT min(id) FROM ledger_accounts WHERE code LIKE 'sim:%:balance:HKD')",
    )
    try:
        code, output = simkeep(seeded, "ledger", "check")
    finally:
        if seeded.startswith("postgresql"):  # the schema outlives this test: put it back
            corrupt(
                seeded,
                "UPDATE ledger_balances SET min_balance = 0 WHERE min_balance = 100000000",
                "ALTER TABLE ledger_balances ADD CONSTRAINT ck_ledger_balances_floor "
                "CHECK (min_balance IS NULL OR balance - pending_out >= min_balance)",
            )
    assert code == 1
    assert "below its floor" in output
