"""``simkeep demo seed`` prints four staff logins — an operator, an auditor, support and
finance — whose password and TOTP secret work at the staff login, and seeding again adds no
one; ``simkeep staff add`` prints a new member's secret once, ``simkeep staff list`` lists
them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.demo.agents import DEMO_AGENT_STAFF
from simkeep.demo.service import DEMO_STAFF
from simkeep.staff import audit
from simkeep.staff import service as staff
from simkeep.staff.model import StaffLimits, code_at, time_step
from tests.integration.test_demo import seed
from tests.integration.test_ledger_check import simkeep


async def test_printed_staff_logins_work_with_their_secrets(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    output = await seed(database_url, tmp_path)
    await seed(database_url, tmp_path)  # again: nothing new

    for member in DEMO_STAFF:
        row = re.search(rf"{member.username}\s*│\s*(\S+)\s*│\s*(\w+)\s*│\s*([A-Z2-7]+)", output)
        assert row, output
        password, role, secret = row.groups()
        assert role == member.role
        session = await staff.login(
            db,
            username=member.username,
            password=password,
            code=code_at(secret, time_step(clock.now())),
            limits=StaffLimits(),
            now=clock.now(),
        )
        signed_in = await staff.authenticate(db, token=session.token, now=clock.now())
        assert signed_in is not None
        assert (signed_in.role, signed_in.second_factor) == (member.role, True)
    everyone = [*DEMO_STAFF, *DEMO_AGENT_STAFF]  # the agents' people are printed too
    assert len(await staff.list_staff(db)) == len(everyone)
    added = await db.read(lambda conn: audit.entries(conn, action="staff.add", limit=100))
    assert sorted(entry.after["username"] for entry in added) == sorted(
        member.username for member in everyone
    )


async def test_staff_add_prints_the_secret_once_and_staff_list_shows_the_member(
    database_url: str, db: Database, clock: FixedClock
) -> None:
    code, output = await asyncio.to_thread(
        simkeep,
        database_url,
        "staff",
        "add",
        "--username",
        "mei",
        "--name",
        "Mei Lin",
        "--role",
        "auditor",
        "--generate-password",
    )
    assert code == 0, output
    password = re.search(r"Password: (\S+)", output)
    uri = re.search(r"TOTP URI: (otpauth://\S+)", output)
    secret = re.search(r"TOTP secret: ([A-Z2-7]+)", output)
    assert password, output
    assert uri, output
    assert secret, output
    assert f"secret={secret.group(1)}" in uri.group(1)
    enrolling = await staff.login(
        db,
        username="mei",
        password=password.group(1),
        code="",
        limits=StaffLimits(),
        now=clock.now(),
    )
    assert not enrolling.second_factor  # the secret is confirmed at the first login

    code, listed = await asyncio.to_thread(simkeep, database_url, "staff", "list")
    assert code == 0
    assert "mei" in listed
    assert "auditor" in listed
    assert secret.group(1) not in listed

    code, refused = await asyncio.to_thread(
        simkeep,
        database_url,
        "staff",
        "add",
        "--username",
        "mei",
        "--name",
        "M",
        "--role",
        "root",
        "--generate-password",
    )
    assert code == 2
    assert "refused" in refused
