"""``simkeep reconcile`` on both databases: a bill file read by its provider's reader (a fake
reader here, at that border), matched with its counts printed; run again, the same; a file
that does not add up refused with exit code 2; a provider without a gateway asked for a
file; a provider or day that does not read refused."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simkeep.cli.main import app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.reconciliation import queries, sources
from simkeep.reconciliation.bill import Bill, BillRefused
from simkeep.reconciliation.model import RunState
from simkeep.reconciliation.queries import Reconciliation
from simkeep.settings import load_settings
from tests.conftest import START
from tests.integration.reconciliation_world import (
    DAY,
    PROVIDER,
    hk,
    make_world,
    paid,
    stranger,
)

runner = CliRunner()


def simkeep(database_url: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {
        "SIMKEEP_DATABASE_URL": database_url,
        "SIMKEEP_SIMULATORS": "false",  # no gateway: bills come from files
        "SIMKEEP_KEYS_DIR": str(tmp_path / "keys"),
    }
    result = runner.invoke(app, ["reconcile", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def with_db(database_url: str, work: object) -> Reconciliation | Bill:
    async def run() -> Reconciliation | Bill:
        db = Database.from_settings(load_settings(database_url=database_url))
        try:
            return await work(db)  # type: ignore[operator,no-any-return]
        finally:
            await db.dispose()

    return asyncio.run(run())


def a_day(database_url: str) -> Bill:
    """A payment in the bill and credited, one missing from it, one the provider alone has."""

    async def make(db: Database) -> Bill:
        w = await make_world(db, FixedClock(START))
        matched = await w.order(hk(DAY, 9))
        await w.order(hk(DAY, 15))
        return w.bill(
            DAY,
            paid(matched, at=hk(DAY, 9), fee=60),
            stranger("T9999NOPE", at=hk(DAY, 12)),
        )

    bill = with_db(database_url, make)
    assert isinstance(bill, Bill)
    return bill


def day_of(database_url: str) -> Reconciliation:
    async def read(db: Database) -> Reconciliation:
        found = await db.read(
            lambda conn: queries.get_reconciliation(conn, provider=PROVIDER, day=DAY)
        )
        assert found is not None
        return found

    found = with_db(database_url, read)
    assert isinstance(found, Reconciliation)
    return found


def test_a_bill_file_is_matched_and_again_changes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bill = a_day(database_url)

    def read(data: bytes, *, day: date) -> Bill:
        assert data == b"the provider's file"
        return bill

    monkeypatch.setitem(sources.PARSERS, PROVIDER, read)
    file = tmp_path / "bill.txt"
    file.write_bytes(b"the provider's file")
    args = ("--provider", "alipayhk", "--date", "2026-11-25", "--file", str(file))

    done, output = simkeep(database_url, tmp_path, *args)

    assert done == 0, output
    assert "alipayhk 2026-11-25: done" in output
    assert "matched" in output
    assert "HKD: 2 payments 200.00 HKD, 0 refunds 0.00 HKD, fees 0.60 HKD" in output
    assert "2 differences wait for staff" in output
    first = day_of(database_url)
    assert (first.counts.matched, first.counts.provider_only, first.counts.local_only) == (1, 1, 1)
    assert first.run_by == "cli"
    again, output = simkeep(database_url, tmp_path, *args)
    assert again == 0, output
    assert day_of(database_url).counts == first.counts


def test_a_bill_that_does_not_add_up_exits_2(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_day(database_url)

    def refuse(data: bytes, *, day: date) -> Bill:
        raise BillRefused("the summary says 3 payments, the rows are 2")

    monkeypatch.setitem(sources.PARSERS, PROVIDER, refuse)
    file = tmp_path / "bill.txt"
    file.write_bytes(b"a bad file")
    refused, output = simkeep(
        database_url,
        tmp_path,
        "--provider",
        "alipayhk",
        "--date",
        "2026-11-25",
        "--file",
        str(file),
    )
    assert refused == 2
    assert "refused (bill_refused)" in output
    assert "the summary says 3 payments" in output
    assert day_of(database_url).state is RunState.REFUSED


def test_what_cannot_be_reconciled_is_refused(database_url: str, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"not a statement")
    for args, said in (
        (("--provider", "alipayhk", "--date", "2026-11-25"), "no gateway configured here"),
        (("--provider", "outlet", "--date", "2026-11-25"), "outlet has no bill"),
        (("--provider", "paypal", "--date", "2026-11-25"), "--provider is one of"),
        (("--provider", "alipayhk", "--date", "25/11/2026"), "--date is YYYY-MM-DD"),
        (
            ("--provider", "fps", "--date", "2999-01-01", "--file", str(garbage)),
            "is not over in Hong Kong",
        ),
        (("--provider", "fps", "--date", "2026-11-25", "--file", str(garbage)), "bill_refused"),
    ):
        code, output = simkeep(database_url, tmp_path, *args)
        assert code == 2, (args, output)
        assert said in output, (args, output)
