"""``simkeep demo seed`` prints two staff logins — an operator and an auditor — whose
password and TOTP secret work at the staff login, and seeding again adds no one."""

from __future__ import annotations

import re
from pathlib import Path

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.demo.service import DEMO_STAFF
from simkeep.staff import audit
from simkeep.staff import service as staff
from simkeep.staff.model import StaffLimits, code_at, time_step
from tests.integration.test_demo import seed


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
    assert len(await staff.list_staff(db)) == len(DEMO_STAFF)
    added = await db.read(lambda conn: audit.entries(conn, action="staff.add"))
    assert sorted(entry.after["username"] for entry in added) == ["auditor", "operator"]
