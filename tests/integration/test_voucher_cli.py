"""``simkeep vouchers generate`` and ``simkeep vouchers expire`` on both databases: the
printer's file is written once (mode 0600), its PINs redeem, the batch is audited as the
command line's without them; a file that exists already, or a batch refused, leaves nothing
behind; the worker's schedule expires vouchers too."""

from __future__ import annotations

import asyncio
import csv
import re
import stat
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.jobs.loop import standard_jobs
from simkeep.money import Money
from simkeep.settings import DEV_SECRET
from simkeep.simulators.sms import SimulatedSmsGateway
from simkeep.staff import audit
from simkeep.vouchers import service as vouchers
from simkeep.vouchers import tables as t
from simkeep.vouchers.model import expiry_instant, pin_digest, pin_key
from tests.integration.test_ledger_check import simkeep
from tests.integration.voucher_world import shop

ARGS = ("--face", "100", "--currency", "HKD", "--count", "3", "--expires", "2027-12-31")


async def generate(database_url: str, out: Path, *args: str) -> tuple[int, str]:
    return await asyncio.to_thread(
        simkeep, database_url, "vouchers", "generate", *(args or ARGS), "--out", str(out)
    )


async def digests(db: Database) -> set[str]:
    async def read(conn: AsyncConnection) -> set[str]:
        return set((await conn.execute(select(t.vouchers.c.pin_digest))).scalars())

    return await db.read(read)


async def test_generate_writes_the_printers_file_once(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    out = tmp_path / "batch.csv"
    code, output = await generate(database_url, out)
    assert code == 0, output
    assert "3 vouchers" in output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["serial", "pin", "value", "currency", "expires_on"]
    assert [row[2:] for row in rows[1:]] == [["100.00", "HKD", "2027-12-31"]] * 3
    key = pin_key(DEV_SECRET)
    assert await digests(db) == {pin_digest(key, row[1]) for row in rows[1:]}
    entries = await db.read(lambda conn: audit.entries(conn, action="voucher_batch.create"))
    assert [entry.origin for entry in entries] == ["cli"]
    assert not any(row[1] in repr(entries) for row in rows[1:])

    again, output = await generate(database_url, out)  # the file is there: refused
    assert again == 2
    assert len(await digests(db)) == 3


async def test_a_refused_batch_leaves_no_file_and_no_voucher(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    out = tmp_path / "batch.csv"
    args = ("--face", "70", "--currency", "HKD", "--count", "3", "--expires", "2027-12-31")
    code, output = await generate(database_url, out, *args)
    assert code == 2
    assert "invalid_batch" in output
    assert not out.exists()
    assert await digests(db) == set()


async def expired(db: Database) -> int:
    async def read(conn: AsyncConnection) -> int:
        rows = await conn.execute(select(t.vouchers.c.id).where(t.vouchers.c.state == "expired"))
        return len(rows.all())

    return await db.read(read)


async def test_expire_runs_from_the_command_line_and_in_the_worker(
    database_url: str, db: Database, clock: FixedClock
) -> None:
    await shop(db, now=clock.now())
    made = await vouchers.create_batch(
        db,
        face=Money(5_000, "CNY"),
        count=2,
        expires_on=date(2026, 11, 26),
        key=pin_key(DEV_SECRET),
        actor=audit.CLI,
        now=clock.now(),
    )
    jobs = standard_jobs(db=db, sms=SimulatedSmsGateway(db, clock), adapters={})
    assert await jobs["expire_vouchers"](clock.now()) == 0
    assert await jobs["expire_vouchers"](expiry_instant(made.batch.expires_on)) == 2
    assert await expired(db) == 2

    await vouchers.create_batch(  # expired by now on the machine's own clock (or not yet)
        db,
        face=Money(5_000, "CNY"),
        count=3,
        expires_on=date(2026, 11, 26),
        key=pin_key(DEV_SECRET),
        actor=audit.CLI,
        now=clock.now(),
    )
    code, output = await asyncio.to_thread(simkeep, database_url, "vouchers", "expire")
    assert code == 0, output
    counted = re.search(r"Expired 0 sold and (\d+) unsold vouchers; breakage nothing", output)
    assert counted, output
    assert await expired(db) == 2 + int(counted.group(1))
