"""The database itself refuses what must never be, even to code that skips the service."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.money import Money
from simkeep.sqltypes import sqlite_timestamp

REFUSED = (DBAPIError, sqlite3.DatabaseError, asyncpg.PostgresError)  # the last: at commit
APPEND_ONLY = "append-only"
ONLY_BY_THE_WRITER = "only by ledger_write_journal"  # PostgreSQL: no posting but the writer's


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


async def refused(
    db: Database, sql: str, params: dict[str, object] | None = None, *, match: str
) -> None:
    """``sql`` is refused by the database, for the reason ``match`` finds in its message."""

    async def run(conn: AsyncConnection) -> None:
        await conn.execute(text(sql), params or {})

    with pytest.raises(REFUSED, match=match):
        await db.transaction(run)


async def test_journals_and_postings_are_append_only(
    db: Database, journal: tuple[int, int, int]
) -> None:
    journal_id = journal[0]
    await refused(
        db,
        "UPDATE ledger_postings SET amount = amount * 2 WHERE journal_id = :j",
        {"j": journal_id},
        match=APPEND_ONLY,
    )
    await refused(
        db,
        "DELETE FROM ledger_postings WHERE journal_id = :j",
        {"j": journal_id},
        match=APPEND_ONLY,
    )
    await refused(
        db,
        "UPDATE ledger_journals SET description = 'x' WHERE id = :j",
        {"j": journal_id},
        match=APPEND_ONLY,
    )
    await refused(
        db, "DELETE FROM ledger_journals WHERE id = :j", {"j": journal_id}, match=APPEND_ONLY
    )


async def test_an_unbalanced_journal_is_refused(
    db: Database, journal: tuple[int, int, int], clock: FixedClock
) -> None:
    """Raw inserts of a journal and its postings +5.00/−4.00: on SQLite the trigger that
    checks a journal's balance when its last posting arrives refuses them; on PostgreSQL a
    posting is refused at once unless the journal function writes it (next test)."""
    _, clearing, sim = journal

    async def unbalanced(conn: AsyncConnection) -> None:
        await conn.execute(
            text(
                "INSERT INTO ledger_journals (id, client_id, content_hash, kind, posting_count, "
                "description, metadata, created_at) "
                "VALUES (900, 'raw', 'x', 'standard', 2, '', '{}', :now)"
            ),
            {"now": clock.now() if db.dialect == "postgresql" else sqlite_timestamp(clock.now())},
        )
        await conn.execute(
            text(
                "INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount) "
                "VALUES (900, :a, 'HKD', 0, 500), (900, :b, 'HKD', 0, -400)"
            ),
            {"a": clearing, "b": sim},
        )

    reason = "does not balance" if db.dialect == "sqlite" else ONLY_BY_THE_WRITER
    with pytest.raises(REFUSED, match=reason):
        await db.transaction(unbalanced)
    await nothing_left(db, journal)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_unbalanced_call_of_the_journal_function_is_refused_at_commit(
    db: Database, journal: tuple[int, int, int], clock: FixedClock
) -> None:
    """``ledger_write_journal`` called straight, +5.00/−4.00: it writes the journal, its
    postings and the balances, and the deferred trigger refuses it all at commit."""
    _, clearing, sim = journal

    async def unbalanced(conn: AsyncConnection) -> None:
        written = await conn.execute(
            text(
                "SELECT * FROM ledger_write_journal('raw', 'x', 'standard', NULL, NULL, '', '{}',"
                " NULL, :now, CAST(:accounts AS bigint[]), CAST(:currencies AS text[]),"
                " CAST(:amounts AS bigint[]), false)"
            ),
            {
                "now": clock.now(),
                "accounts": [clearing, sim],
                "currencies": ["HKD", "HKD"],
                "amounts": [500, -400],
            },
        )
        assert written.one().journal_id is not None  # in, until the commit checks it

    with pytest.raises(asyncpg.exceptions.CheckViolationError, match="does not balance"):
        await db.transaction(unbalanced)
    await nothing_left(db, journal)


async def nothing_left(db: Database, journal: tuple[int, int, int]) -> None:
    """No journal ``raw``, and both accounts hold what the first journal left: HK$10."""
    _, clearing, sim = journal

    async def read(conn: AsyncConnection) -> tuple[object, list[int]]:
        raw = await ledger.get_journal_by_client_id(conn, client_id="raw")
        balances = [await ledger.get_balance(conn, account_id=a) for a in (clearing, sim)]
        return raw, [balance.posted for balance in balances]

    assert await db.transaction(read) == (None, [1_000, 1_000])


async def test_duplicate_client_ids_are_refused(
    db: Database, journal: tuple[int, int, int]
) -> None:
    """SQLite: the unique index on the journals' client id. PostgreSQL, whose journals are
    partitioned by month: at commit, the journal does not hold its client id's key (the
    key of ``j1`` is the first journal's)."""
    await refused(
        db,
        "INSERT INTO ledger_journals (client_id, content_hash, kind, posting_count, description, "
        "metadata, created_at) VALUES ('j1', 'y', 'standard', 2, '', '{}', '2026-01-01 00:00:00')",
        match="client_id",
    )


async def test_a_floor_is_refused_by_a_check_constraint(
    db: Database, journal: tuple[int, int, int]
) -> None:
    sim = journal[2]
    await refused(
        db,
        "UPDATE ledger_balances SET balance = -1 WHERE account_id = :a",
        {"a": sim},
        match="ck_ledger_balances_floor",
    )


async def test_a_posting_in_another_currency_is_refused(
    db: Database, journal: tuple[int, int, int]
) -> None:
    journal_id, clearing, _ = journal
    await refused(
        db,
        "INSERT INTO ledger_postings (journal_id, account_id, currency, slot, amount) "
        "VALUES (:j, :a, 'CNY', 0, 1)",
        {"j": journal_id, "a": clearing},
        match=f"wrong currency|{ONLY_BY_THE_WRITER}",
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
        match=f"more postings than declared|{ONLY_BY_THE_WRITER}",
    )
