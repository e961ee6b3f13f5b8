"""The database itself refuses what must never be, even to code that skips the service."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.money import Money

REFUSED = (DBAPIError, sqlite3.DatabaseError)


@pytest.fixture
async def journal(db: Database, clock: FixedClock) -> tuple[int, int, int]:
    """A posted HK$10 top-up: (journal id, clearing account, SIM account)."""

    async def setup(conn: AsyncConnection) -> tuple[int, int, int]:
        await ledger.ensure_chart(conn, now=clock.now(), hot_slots=2)
        clearing = await ledger.get_account_by_code(
            conn, code=chart.provider_clearing_code("fps", "HKD")
        )
        assert clearing is not None
        sim = await ledger.open_account(conn, spec=chart.sim_balance(1, "HKD"), now=clock.now())
        posted = await ledger.post_journal(
            conn,
            client_id="j1",
            postings=rules.provider_topup(
                clearing=clearing.id, sim_balance=sim.id, amount=Money(1_000, "HKD")
            ),
            now=clock.now(),
        )
        return posted.id, clearing.id, sim.id

    return await db.transaction(setup)


async def refused(db: Database, sql: str, params: dict[str, object] | None = None) -> None:
    async def run(conn: AsyncConnection) -> None:
        await conn.execute(text(sql), params or {})

    with pytest.raises(REFUSED):
        await db.transaction(run)


async def test_journals_and_postings_are_append_only(
    db: Database, journal: tuple[int, int, int]
) -> None:
    journal_id = journal[0]
    await refused(
        db,
        "UPDATE ledger_postings SET amount = amount * 2 WHERE journal_id = :j",
        {"j": journal_id},
    )
    await refused(db, "DELETE FROM ledger_postings WHERE journal_id = :j", {"j": journal_id})
    await refused(
        db, "UPDATE ledger_journals SET description = 'x' WHERE id = :j", {"j": journal_id}
    )
    await refused(db, "DELETE FROM ledger_journals WHERE id = :j", {"j": journal_id})


async def test_an_unbalanced_journal_is_refused(
    db: Database, journal: tuple[int, int, int], clock: FixedClock
) -> None:
    _, clearing, sim = journal

    async def unbalanced(conn: AsyncConnection) -> None:
        await conn.execute(
            text(
                "INSERT INTO ledger_journals (id, client_id, content_hash, kind, posting_count, "
                "description, metadata, created_at) "
                "VALUES (900, 'raw', 'x', 'standard', 2, '', '{}', :now)"
            ),
            {"now": clock.now().replace(tzinfo=None).isoformat(" ")},
        )
        await conn.execute(
            text(
                "INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount) "
                "VALUES (900, :a, 'HKD', 0, 500), (900, :b, 'HKD', 0, -400)"
            ),
            {"a": clearing, "b": sim},
        )

    with pytest.raises(REFUSED):
        await db.transaction(unbalanced)

    async def absent(conn: AsyncConnection) -> None:
        assert await ledger.get_journal_by_client_id(conn, client_id="raw") is None

    await db.transaction(absent)


async def test_duplicate_client_ids_are_refused(
    db: Database, journal: tuple[int, int, int]
) -> None:
    await refused(
        db,
        "INSERT INTO ledger_journals (client_id, content_hash, kind, posting_count, description, "
        "metadata, created_at) VALUES ('j1', 'y', 'standard', 2, '', '{}', '2026-01-01 00:00:00')",
    )


async def test_a_floor_is_refused_by_a_check_constraint(
    db: Database, journal: tuple[int, int, int]
) -> None:
    sim = journal[2]
    await refused(db, "UPDATE ledger_balances SET balance = -1 WHERE account_id = :a", {"a": sim})


async def test_a_posting_in_another_currency_is_refused(
    db: Database, journal: tuple[int, int, int]
) -> None:
    journal_id, clearing, _ = journal
    await refused(
        db,
        "INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount) "
        "VALUES (:j, :a, 'CNY', 0, 1)",
        {"j": journal_id, "a": clearing},
    )


async def test_an_existing_journal_never_gains_a_posting(
    db: Database, journal: tuple[int, int, int]
) -> None:
    journal_id, clearing, sim = journal
    await refused(
        db,
        "INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount) "
        "VALUES (:j, :a, 'HKD', 0, 5), (:j, :b, 'HKD', 0, -5)",
        {"j": journal_id, "a": clearing, "b": sim},
    )
