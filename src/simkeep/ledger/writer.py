"""How a journal reaches the database: one round trip on PostgreSQL, three calls on SQLite.

Design overview
---------------
``write_journal`` inserts the journal header (``ON CONFLICT (client_id) DO NOTHING``; on
PostgreSQL the client id's row of ``ledger_journal_keys`` first, as the books are
partitioned by month), its postings, and the balance changes they cause, inside the
caller's transaction.

* PostgreSQL: one call of the ``ledger_write_journal`` function (migration 0001), a
  ``Statement`` run on the asyncpg connection itself (inside the transaction ``Database``
  opened). Its statement
  is planned once per connection, it updates balance rows in the order the
  postings arrive (the service sorts them by account, so locks are always taken in one
  order), and it draws the slot of a hot account at random.
* SQLite: three statements on the driver connection (no thread hop, no SQL compilation):
  the header, every posting at once from a JSON array, the balances; one writer at a time,
  so hot accounts always use slot 0 there.

A journal whose ``client_id`` exists already writes nothing and returns ``None``; the
service then compares content hashes. The database refuses what slips past the checks here:
floors (CHECK), unknown accounts, wrong currencies and unbalanced journals (triggers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import require_aware
from simkeep.ledger import statements as sql
from simkeep.ledger import tables as t
from simkeep.ledger.model import (
    AlreadyReversed,
    InsufficientFunds,
    Journal,
    JournalArchived,
    JournalConflict,
    JournalKind,
    JournalRequest,
    LedgerError,
    PendingNotOpen,
    Posting,
    UnknownAccount,
)
from simkeep.ledger.queries import get_journal
from simkeep.statements import INTEGRITY_ERRORS


@dataclass(frozen=True, slots=True)
class WriteResult:
    """``journal_id`` is None when the client id was taken; ``known`` counts postings whose
    account exists in their currency (the caller refuses the journal if any is not)."""

    journal_id: int | None
    known: int


async def write_journal(
    conn: AsyncConnection, request: JournalRequest, content_hash: str, now: datetime
) -> WriteResult:
    if conn.dialect.name == "postgresql":
        return await _write_postgresql(conn, request, content_hash, now)
    return await _write_sqlite(conn, request, content_hash, now)


def _header(request: JournalRequest, content_hash: str, now: datetime) -> dict[str, object]:
    """The journal's own columns, as both databases' statements take them."""
    metadata = "{}"
    if request.metadata:
        metadata = json.dumps(dict(request.metadata), ensure_ascii=False, sort_keys=True)
    return {
        "client_id": request.client_id,
        "content_hash": content_hash,
        "kind": request.kind.value,
        "pending_id": request.pending_id,
        "reverses_id": request.reverses_id,
        "description": request.description,
        "metadata": metadata,
        "expires_at": request.expires_at,
        "now": now,
    }


async def _write_postgresql(
    conn: AsyncConnection, request: JournalRequest, content_hash: str, now: datetime
) -> WriteResult:
    row = await sql.WRITE_JOURNAL.row(
        conn,
        **_header(request, content_hash, now),
        accounts=[p.account_id for p in request.postings],
        currencies=[p.currency for p in request.postings],
        amounts=[p.amount for p in request.postings],
        hold=request.kind is JournalKind.PENDING,
    )
    assert row is not None  # the function returns one row, always
    return WriteResult(row[0], row[1])


async def _write_sqlite(
    conn: AsyncConnection, request: JournalRequest, content_hash: str, now: datetime
) -> WriteResult:
    header = _header(request, content_hash, now)
    row = await sql.INSERT_JOURNAL.row(conn, **header, posting_count=len(request.postings))
    if row is None:
        return WriteResult(None, 0)
    journal_id = row[0]
    postings = [[p.account_id, p.currency, p.amount] for p in request.postings]
    await sql.INSERT_POSTINGS.execute(conn, journal_id=journal_id, postings=postings, now=now)
    balances = sql.HOLD_BALANCES if request.kind is JournalKind.PENDING else sql.POST_BALANCES
    updated = await balances.execute(conn, journal_id=journal_id)
    if updated != len({p.account_id for p in request.postings}):
        raise LedgerError(f"balance rows missing for journal {request.client_id}")
    return WriteResult(journal_id, len(request.postings))


FLOOR_CONSTRAINT = "ck_ledger_balances_floor"


async def write(conn: AsyncConnection, request: JournalRequest, now: datetime) -> Journal:
    """Write a checked journal request, or return the identical one written before."""
    # one order for every writer: balance rows are then locked in the same order everywhere
    ordered = tuple(sorted(request.postings, key=posting_order))
    if ordered != request.postings:
        request = replace(request, postings=ordered)
    content_hash = request.content_hash()
    try:
        result = await write_journal(conn, request, content_hash, require_aware(now))
    except INTEGRITY_ERRORS as error:
        raise translate(error) from error
    if result.journal_id is None:
        return await _replay(conn, request.client_id, content_hash)
    if result.known != len(request.postings):
        raise UnknownAccount(
            "a posting names an account that does not exist or is in another currency"
        )
    return Journal(
        id=result.journal_id,
        client_id=request.client_id,
        kind=request.kind,
        postings=request.postings,
        description=request.description,
        metadata=request.metadata,
        created_at=now,
        expires_at=request.expires_at,
        pending_id=request.pending_id,
        reverses_id=request.reverses_id,
    )


async def _replay(conn: AsyncConnection, client_id: str, content_hash: str) -> Journal:
    j, k = t.journals.c, t.journal_keys.c
    row = (
        await conn.execute(
            select(j.id, j.content_hash)
            .join(t.journal_keys, and_(k.journal_id == j.id, k.created_at == j.created_at))
            .where(k.client_id == client_id)
        )
    ).first()
    if row is None:
        raise JournalArchived(f"journal id {client_id} was used by a journal of an archived month")
    if row.content_hash != content_hash:
        raise JournalConflict(f"journal id {client_id} was already used for other content")
    journal = await get_journal(conn, journal_id=row.id)
    assert journal is not None
    return journal


def posting_order(posting: Posting) -> tuple[int, str, int]:
    return posting.account_id, posting.currency, posting.amount


def translate(error: Exception) -> LedgerError:
    """The refusal a constraint or trigger of the ledger's schema stands for."""
    message = str(getattr(error, "orig", None) or error)
    if FLOOR_CONSTRAINT in message:
        return InsufficientFunds("the journal would take an account below its floor")
    if "unknown account" in message:
        return UnknownAccount("a posting names an unknown account or the wrong currency")
    if "uq_ledger_journals_pending_id" in message or "ledger_journals.pending_id" in message:
        return PendingNotOpen("the hold was already resolved")
    if "uq_ledger_journals_reverses_id" in message or "ledger_journals.reverses_id" in message:
        return AlreadyReversed("the journal was already reversed")
    return LedgerError(message)
