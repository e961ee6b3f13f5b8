"""``simkeep demo seed`` prints demo logins that work: each person logs in with the printed
password and sees the SIMs they hold, and a cross-currency top-up has a rate to use."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.demo.service import DEMO_SUBSCRIBERS
from simkeep.sims import service as sims
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import Limits
from simkeep.topups import service as topups
from tests.integration.test_ledger_check import simkeep


async def test_printed_demo_logins_work(database_url: str, db: Database, clock: FixedClock) -> None:
    code, output = await asyncio.to_thread(simkeep, database_url, "demo", "seed")
    assert code == 0, output
    again, _ = await asyncio.to_thread(simkeep, database_url, "demo", "seed")
    assert again == 0  # twice: nothing new, no error
    for person in DEMO_SUBSCRIBERS:
        row = re.search(rf"{re.escape(person.phone)}\s*│\s*(\S+)", output)
        assert row, output
        session = await subscribers.login(
            db, phone=person.phone, password=row.group(1), limits=Limits(), now=clock.now()
        )

        mine = await db.transaction(
            lambda conn, who=session.subscriber_id: sims.held_sims(conn, subscriber_id=who)
        )
        assert sorted(f"+852{number}" for number in person.hk_numbers) == sorted(
            account.sim.hk_number.e164 for account in mine
        )

    async def rate(conn: AsyncConnection) -> object:
        return await topups.current_fx(conn, base="HKD", quote_currency="CNY")

    assert await db.transaction(rate) is not None
