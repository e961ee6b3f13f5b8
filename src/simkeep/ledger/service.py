"""The ledger's use cases: the one door through which money moves.

Design overview
---------------
Every function takes the caller's connection, so a journal commits or rolls back together
with the business change that causes it (``db.transaction``). Writes are idempotent by the
journal's client-chosen id: the same id with the same content returns the first journal,
with other content raises ``JournalConflict``. Holds (two-phase journals, ``holds.py``),
reads (``queries.py``) and the books check (``checks.py``) are re-exported here, so entry
points and other domains call this module only. Nothing is ever updated or deleted: a
mistake is undone by ``reverse_journal``, at most once per journal.

A refusal raises a ``LedgerError``; the caller's transaction must then roll back (on
PostgreSQL a refused statement aborts the transaction). Check ``get_balance`` first to
branch without failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import require_aware
from simkeep.db import Database
from simkeep.ledger import tables as t
from simkeep.ledger.chart import CURRENCIES, system_accounts
from simkeep.ledger.checks import CheckReport, check_books
from simkeep.ledger.holds import expire_pending, hold, post_pending, void_pending
from simkeep.ledger.model import (
    Account,
    AccountConflict,
    AccountSpec,
    AlreadyReversed,
    InvalidJournal,
    Journal,
    JournalKind,
    JournalRequest,
    Posting,
    UnknownAccount,
    check_client_id,
    check_postings,
    reversal_of,
)
from simkeep.ledger.queries import (
    account_ids,
    get_account,
    get_account_by_code,
    get_balance,
    get_journal,
    get_journal_by_client_id,
    history,
    list_accounts,
)
from simkeep.ledger.writer import translate, write

__all__ = [
    "CheckReport",
    "account_ids",
    "check_books",
    "ensure_chart",
    "expire_pending",
    "get_account",
    "get_account_by_code",
    "get_balance",
    "get_journal",
    "get_journal_by_client_id",
    "history",
    "hold",
    "list_accounts",
    "open_account",
    "post_journal",
    "post_journal_alone",
    "post_pending",
    "reverse_journal",
    "set_floor",
    "void_pending",
]


async def open_account(conn: AsyncConnection, *, spec: AccountSpec, now: datetime) -> Account:
    """Create the account (and its balance rows) or return the identical existing one."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(t.accounts)
        .values(
            code=spec.code,
            name=spec.name,
            currency=spec.currency,
            type=spec.type.value,
            normal_sign=spec.type.normal_sign,
            owner_type=spec.owner_type,
            owner_id=spec.owner_id,
            hot_slots=spec.hot_slots,
            created_at=require_aware(now),
        )
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(t.accounts.c.id)
    )
    account_id = (await conn.execute(statement)).scalar()
    if account_id is None:
        existing = await get_account_by_code(conn, code=spec.code)
        if existing is None or not existing.matches(spec):
            raise AccountConflict(f"account {spec.code} exists with other properties")
        return existing
    await conn.execute(
        t.balances.insert(),
        [
            {"account_id": account_id, "slot": slot, "min_balance": spec.min_balance}
            for slot in range(spec.hot_slots)
        ],
    )
    account = await get_account(conn, account_id=account_id)
    assert account is not None
    return account


async def set_floor(conn: AsyncConnection, *, account_id: int, min_balance: int | None) -> None:
    """Change an account's floor (e.g. an agent's credit limit); refused if already below."""
    account = await get_account(conn, account_id=account_id)
    if account is None:
        raise UnknownAccount(f"no account {account_id}")
    if account.hot_slots > 1 and min_balance is not None:
        raise InvalidJournal(f"hot account {account.code} cannot have a floor")
    try:
        await conn.execute(
            t.balances.update()
            .where(t.balances.c.account_id == account_id)
            .values(min_balance=min_balance)
        )
    except IntegrityError as error:
        raise translate(error) from error


async def post_journal(
    conn: AsyncConnection,
    *,
    client_id: str,
    postings: Sequence[Posting],
    now: datetime,
    description: str = "",
    metadata: Mapping[str, str] | None = None,
) -> Journal:
    """Post a balanced journal at once (idempotent by ``client_id``)."""
    request = JournalRequest(
        client_id=check_client_id(client_id),
        kind=JournalKind.STANDARD,
        postings=check_postings(postings),
        description=description,
        metadata=dict(metadata or {}),
    )
    return await write(conn, request, now)


async def post_journal_alone(
    db: Database,
    *,
    client_id: str,
    postings: Sequence[Posting],
    now: datetime,
    description: str = "",
    metadata: Mapping[str, str] | None = None,
) -> Journal:
    """Post a journal that goes with no other change, in one round trip on PostgreSQL (the
    write is one statement, its own transaction)."""
    return await db.one_statement(
        lambda conn: post_journal(
            conn,
            client_id=client_id,
            postings=postings,
            now=now,
            description=description,
            metadata=metadata,
        )
    )


async def reverse_journal(
    conn: AsyncConnection,
    *,
    client_id: str,
    journal_id: int,
    now: datetime,
    description: str = "",
) -> Journal:
    """Undo a posted journal with its mirror image; each journal can be reversed once."""
    original = await get_journal(conn, journal_id=journal_id)
    if original is None:
        raise InvalidJournal(f"no journal {journal_id}")
    if original.kind is JournalKind.PENDING:
        raise InvalidJournal("a hold is voided, not reversed")
    request = JournalRequest(
        client_id=check_client_id(client_id),
        kind=JournalKind.REVERSAL,
        postings=reversal_of(original.postings),
        description=description or f"reversal of {original.client_id}",
        reverses_id=journal_id,
    )
    existing = (
        await conn.execute(
            select(t.journal_keys.c.client_id).where(t.journal_keys.c.reverses_id == journal_id)
        )
    ).scalar()
    if existing is not None and existing != request.client_id:
        raise AlreadyReversed(f"journal {original.client_id} was reversed by {existing}")
    return await write(conn, request, now)


async def ensure_chart(
    conn: AsyncConnection, *, now: datetime, hot_slots: int, currencies: Sequence[str] = CURRENCIES
) -> list[Account]:
    """Open every system account of every currency's books (idempotent)."""
    return [
        await open_account(conn, spec=spec, now=now)
        for currency in currencies
        for spec in system_accounts(currency, hot_slots)
    ]
