"""A journal posted on its own (``ledger.service.post_journal_alone``): one statement on
PostgreSQL, with no transaction block around it — the database's own checks still hold,
the client id still makes it exactly-once, and a refusal writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database, driver_connection
from simkeep.ledger import rules
from simkeep.ledger import service as ledger
from simkeep.ledger import tables as t
from simkeep.ledger.model import InsufficientFunds, JournalConflict
from tests.integration.test_ledger_service import Books, balance, books, hkd

__all__ = ["books"]


async def journals(db: Database) -> int:
    async def count(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(t.journals))).scalar_one())

    return await db.transaction(count)


async def test_a_journal_alone_posts_once(db: Database, clock: FixedClock, books: Books) -> None:
    postings = rules.provider_topup(clearing=books.clearing, sim_balance=books.sim, amount=hkd(500))
    first = await ledger.post_journal_alone(
        db, client_id="alone:1", postings=postings, now=clock.now()
    )
    again = await ledger.post_journal_alone(
        db, client_id="alone:1", postings=postings, now=clock.now()
    )
    assert again.id == first.id
    assert await balance(db, books.sim) == 500
    assert await journals(db) == 1

    other = rules.provider_topup(clearing=books.clearing, sim_balance=books.sim, amount=hkd(7))
    with pytest.raises(JournalConflict):
        await ledger.post_journal_alone(db, client_id="alone:1", postings=other, now=clock.now())


async def test_a_refused_journal_alone_writes_nothing(
    db: Database, clock: FixedClock, books: Books
) -> None:
    spend = rules.transfer(books.sim, books.revenue, hkd(100))  # the SIM holds nothing
    with pytest.raises(InsufficientFunds):
        await ledger.post_journal_alone(db, client_id="alone:2", postings=spend, now=clock.now())
    assert await journals(db) == 0
    assert await balance(db, books.sim) == 0


async def test_on_postgresql_it_runs_outside_a_transaction_block(
    db: Database, clock: FixedClock, books: Books
) -> None:
    seen: list[bool] = []

    async def post(conn: AsyncConnection) -> object:
        driver = await driver_connection(conn)
        seen.append(driver.in_transaction if db.dialect == "sqlite" else driver.is_in_transaction())
        postings = rules.provider_topup(
            clearing=books.clearing, sim_balance=books.sim, amount=hkd(1)
        )
        return await ledger.post_journal(
            conn, client_id="alone:3", postings=postings, now=clock.now()
        )

    await db.one_statement(post)
    # SQLite writes a journal with three statements, so there it is a transaction.
    assert seen == [db.dialect == "sqlite"]
    assert await journals(db) == 1
