"""``simkeep demo seed`` puts the agents to work, on SQLite and PostgreSQL: a second
operator, each agent's user and clerks — printed with working passwords and TOTP secrets —
and every float funded by a deposit that ``operator`` entered and ``finance`` approved,
booked by its journal; seeding again adds no one and books nothing twice."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.demo.agents import DEMO_AGENT_STAFF, DEMO_DEPOSITS
from simkeep.ledger import service as ledger
from simkeep.ledger.tables import journals
from simkeep.money import Money
from simkeep.outlets import floats, staffing
from simkeep.outlets.float_model import DepositState
from simkeep.staff import service as staff
from simkeep.staff.model import StaffLimits, code_at, time_step
from tests.integration.test_demo import seed


async def journal_count(db: Database) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(journals))).scalar_one())

    return await db.read(read)


async def test_the_agents_people_and_their_funded_floats(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    output = await seed(database_url, tmp_path)
    booked = await journal_count(db)
    await seed(database_url, tmp_path)  # again: nothing new
    assert await journal_count(db) == booked

    members = {m.username: m for m in await staff.list_staff(db)}
    for member in DEMO_AGENT_STAFF:
        row = re.search(
            rf"{re.escape(member.username)}\s*│\s*(\S+)\s*│\s*(\w+)\s*│\s*([A-Z2-7]+)", output
        )
        assert row, member.username
        password, role, secret = row.groups()
        assert (role, members[member.username].role) == (member.role, member.role)
        session = await staff.login(
            db,
            username=member.username,
            password=password,
            code=code_at(secret, time_step(clock.now())),
            limits=StaffLimits(),
            now=clock.now(),
        )
        assert session.second_factor
    mong_kok = await staffing.placement(db, agent_code="OWN", outlet_code="HK-YT-01")
    assert (members["clerk.mk"].agent_id, members["clerk.mk"].outlet_id) == (
        mong_kok.agent_id,
        mong_kok.outlet_id,
    )

    for code, amounts in DEMO_DEPOSITS.items():
        agent_id = (await staffing.placement(db, agent_code=code)).agent_id
        made = await db.read(partial(floats.deposits, agent_id=agent_id))
        assert {d.amount.currency: d.amount.minor for d in made} == {
            currency: major * 100 for currency, major in amounts.items()
        }
        for deposit in made:
            assert deposit.state is DepositState.APPROVED
            assert deposit.made_by == members["operator"].id
            assert deposit.checked_by == members["finance"].id
            journal = await db.read(
                partial(ledger.get_journal_by_client_id, client_id=f"float_deposit:{deposit.id}")
            )
            assert journal is not None
            assert journal.id == deposit.journal_id
        books = await db.read(partial(floats.agent_books, agent_id=agent_id))
        for book in books:  # funded, less what the demo's counters sold since
            assert (
                Money(0, book.currency)
                < book.float
                <= Money(amounts[book.currency] * 100, book.currency)
            )
    assert (await db.read(ledger.check_books)).ok
