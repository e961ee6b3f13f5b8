"""Issuing SIMs and finding them, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.phone import InvalidNumber
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, Sim, SimState, digest_key, luhn_complete

KEY = digest_key("test-secret")


async def issue(db: Database, clock: FixedClock, n: int = 1, plan: str = "HK-KEEP") -> Sim:
    async def run(conn: AsyncConnection) -> Sim:
        await sims.ensure_plans(conn)
        return await sims.issue_sim(
            conn,
            iccid=luhn_complete(f"8985200{n:011d}"),
            plan_code=plan,
            hk_number=f"9123{n:04d}",
            cn_number=f"1381234{n:04d}",
            holder_name="陳大明",
            id_type=IdType.HKID,
            id_number="A123456(3)",
            id_key=KEY,
            now=clock.now(),
        )

    return await db.transaction(run)


async def test_issue_a_sim_with_two_lines_and_its_accounts(db: Database, clock: FixedClock) -> None:
    sim = await issue(db, clock)
    assert sim.state is SimState.ACTIVE
    assert sim.home_currency == "HKD"
    assert sim.hk_number.e164 == "+85291230001"
    assert sim.cn_number.e164 == "+8613812340001"
    assert sim.holder_masked == "陳*明"
    assert sim.id_masked == "A12****(3)"

    async def accounts(conn: AsyncConnection) -> None:
        for spec in (chart.sim_balance(sim.id, "HKD"), chart.sim_bonus(sim.id, "HKD")):
            account = await ledger.get_account_by_code(conn, code=spec.code)
            assert account is not None
            assert account.min_balance == 0

    await db.transaction(accounts)


async def test_either_number_finds_the_sim(db: Database, clock: FixedClock) -> None:
    sim = await issue(db, clock, 2)

    async def find(conn: AsyncConnection) -> list[int | None]:
        found = []
        for text in ("+852 9123 0002", "91230002", "+86 138-1234-0002", "91239999"):
            match = await sims.find_by_number(conn, number=text)
            found.append(match.id if match else None)
        return found

    assert await db.transaction(find) == [sim.id, sim.id, sim.id, None]


async def test_a_number_or_iccid_is_issued_once(db: Database, clock: FixedClock) -> None:
    await issue(db, clock, 3)
    with pytest.raises(sims.DuplicateSim):
        await issue(db, clock, 3)

    async def count(conn: AsyncConnection) -> int:
        return await sims.count_sims(conn)

    assert await db.transaction(count) == 1


async def test_bad_input_issues_nothing(db: Database, clock: FixedClock) -> None:
    async def bad(conn: AsyncConnection) -> None:
        await sims.ensure_plans(conn)
        await sims.issue_sim(
            conn,
            iccid=luhn_complete("898520000000000004"),
            plan_code="HK-KEEP",
            hk_number="13812340004",  # a Mainland number where the HK line goes
            cn_number="13812340005",
            holder_name="Chan Tai Man",
            id_type=IdType.HKID,
            id_number="A123456(3)",
            id_key=KEY,
            now=clock.now(),
        )

    with pytest.raises(InvalidNumber):
        await db.transaction(bad)
    with pytest.raises(sims.UnknownPlan):
        await issue(db, clock, 5, plan="NO-SUCH")


async def test_id_check_answers_match_or_no_match(db: Database, clock: FixedClock) -> None:
    sim = await issue(db, clock, 6)

    async def check(conn: AsyncConnection) -> list[bool]:
        return [
            await sims.id_matches(
                conn, sim_id=sim.id, id_type=IdType.HKID, id_number="a1234563", id_key=KEY
            ),
            await sims.id_matches(
                conn, sim_id=sim.id, id_type=IdType.HKID, id_number="A123457(1)", id_key=KEY
            ),
            await sims.id_matches(
                conn, sim_id=sim.id, id_type=IdType.PASSPORT, id_number="A1234563", id_key=KEY
            ),
        ]

    assert await db.transaction(check) == [True, False, False]
