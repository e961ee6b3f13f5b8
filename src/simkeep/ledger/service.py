"""The ledger's use cases: the only code that writes postings.

Design overview
---------------
Every function takes the caller's connection, so a journal commits or rolls back together
with the business change that causes it (``db.transaction``). Writes are idempotent by the
journal's client-chosen id: the same id with the same content returns the first journal,
with other content raises ``JournalConflict``. Two-phase journals (holds) are resolved
exactly once — posted in full or in part, voided, or expired — guarded by the primary key
of ``ledger_pending_resolutions``. Nothing is ever updated or deleted: a mistake is undone
by ``reverse_journal``, at most once per journal.

A refusal raises a ``LedgerError``; the caller's transaction must then roll back (on
PostgreSQL a refused statement aborts the transaction). Check ``get_balance`` first to
branch without failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import require_aware
from simkeep.ledger import tables as t
from simkeep.ledger.chart import CURRENCIES, system_accounts
from simkeep.ledger.model import (
    Account,
    AccountConflict,
    AccountSpec,
    AlreadyReversed,
    InsufficientFunds,
    InvalidJournal,
    Journal,
    JournalConflict,
    JournalKind,
    JournalRequest,
    LedgerError,
    PendingExpired,
    PendingNotOpen,
    PendingOutcome,
    Posting,
    UnknownAccount,
    check_client_id,
    check_postings,
    partial_post,
    reversal_of,
)
from simkeep.ledger.queries import (
    get_account,
    get_account_by_code,
    get_balance,
    get_journal,
    get_journal_by_client_id,
    history,
    list_accounts,
)
from simkeep.ledger.writer import write_journal

__all__ = [
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
    "post_pending",
    "reverse_journal",
    "set_floor",
    "void_pending",
]

FLOOR_CONSTRAINT = "ck_ledger_balances_floor"


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
        raise _translate(error) from error


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
    return await _write(conn, request, now)


async def hold(
    conn: AsyncConnection,
    *,
    client_id: str,
    postings: Sequence[Posting],
    now: datetime,
    expires_at: datetime | None = None,
    description: str = "",
    metadata: Mapping[str, str] | None = None,
) -> Journal:
    """Reserve the postings as a pending journal: they count against floors, not balances."""
    if expires_at is not None and require_aware(expires_at) <= now:
        raise InvalidJournal("a hold must expire in the future")
    request = JournalRequest(
        client_id=check_client_id(client_id),
        kind=JournalKind.PENDING,
        postings=check_postings(postings),
        description=description,
        metadata=dict(metadata or {}),
        expires_at=expires_at,
    )
    return await _write(conn, request, now)


async def post_pending(
    conn: AsyncConnection,
    *,
    client_id: str,
    pending_id: int,
    now: datetime,
    postings: Sequence[Posting] | None = None,
    description: str = "",
) -> Journal:
    """Post a hold, in full or (with ``postings``) in part; the rest is released."""
    check_client_id(client_id)
    replay = await _resolution_replay(conn, client_id, pending_id, PendingOutcome.POSTED)
    if isinstance(replay, Journal):
        return replay
    pending = await _open_pending(conn, pending_id, now)
    request = JournalRequest(
        client_id=client_id,
        kind=JournalKind.POST,
        postings=partial_post(pending.postings, postings),
        description=description or pending.description,
        metadata=pending.metadata,
        pending_id=pending_id,
    )
    await _release(conn, pending_id)
    journal = await _write(conn, request, now)
    await _record_resolution(
        conn, pending_id, PendingOutcome.POSTED, client_id, now, journal_id=journal.id
    )
    return journal


async def void_pending(
    conn: AsyncConnection, *, client_id: str, pending_id: int, now: datetime
) -> None:
    """Release a hold without posting anything."""
    check_client_id(client_id)
    if await _resolution_replay(conn, client_id, pending_id, PendingOutcome.VOIDED):
        return
    await _open_pending(conn, pending_id, now, allow_expired=True)
    await _release(conn, pending_id)
    await _record_resolution(conn, pending_id, PendingOutcome.VOIDED, client_id, now)


async def expire_pending(conn: AsyncConnection, *, now: datetime, limit: int = 500) -> int:
    """Release holds whose expiry has passed; returns how many. Safe to run repeatedly."""
    query = (
        select(t.journals.c.id)
        .where(
            t.journals.c.kind == JournalKind.PENDING.value,
            t.journals.c.expires_at <= now,
            ~select(t.pending_resolutions.c.pending_id)
            .where(t.pending_resolutions.c.pending_id == t.journals.c.id)
            .exists(),
        )
        .order_by(t.journals.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    expired = 0
    for (pending_id,) in (await conn.execute(query)).all():
        await _release(conn, pending_id)
        await _record_resolution(
            conn, pending_id, PendingOutcome.EXPIRED, f"expire:{pending_id}", now
        )
        expired += 1
    return expired


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
            select(t.journals.c.client_id).where(t.journals.c.reverses_id == journal_id)
        )
    ).scalar()
    if existing is not None and existing != request.client_id:
        raise AlreadyReversed(f"journal {original.client_id} was reversed by {existing}")
    return await _write(conn, request, now)


async def _write(conn: AsyncConnection, request: JournalRequest, now: datetime) -> Journal:
    # one order for every writer: balance rows are then locked in the same order everywhere
    ordered = tuple(sorted(request.postings, key=_posting_order))
    if ordered != request.postings:
        request = replace(request, postings=ordered)
    content_hash = request.content_hash()
    try:
        result = await write_journal(conn, request, content_hash, require_aware(now))
    except (IntegrityError, sqlite3.IntegrityError, IntegrityConstraintViolationError) as error:
        raise _translate(error) from error
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
    row = (
        await conn.execute(
            select(t.journals.c.id, t.journals.c.content_hash).where(
                t.journals.c.client_id == client_id
            )
        )
    ).one()
    if row.content_hash != content_hash:
        raise JournalConflict(f"journal id {client_id} was already used for other content")
    journal = await get_journal(conn, journal_id=row.id)
    assert journal is not None
    return journal


def _posting_order(posting: Posting) -> tuple[int, str, int]:
    return posting.account_id, posting.currency, posting.amount


def _translate(error: Exception) -> LedgerError:
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


async def _open_pending(
    conn: AsyncConnection, pending_id: int, now: datetime, *, allow_expired: bool = False
) -> Journal:
    """The hold, locked against other resolvers, if it is still open."""
    locked = (
        await conn.execute(
            select(t.journals.c.kind).where(t.journals.c.id == pending_id).with_for_update()
        )
    ).scalar()
    if locked != JournalKind.PENDING.value:
        raise PendingNotOpen(f"journal {pending_id} is not a hold")
    resolved = (
        await conn.execute(
            select(t.pending_resolutions.c.outcome).where(
                t.pending_resolutions.c.pending_id == pending_id
            )
        )
    ).scalar()
    if resolved is not None:
        raise PendingNotOpen(f"hold {pending_id} is already {resolved}")
    pending = await get_journal(conn, journal_id=pending_id)
    assert pending is not None
    if not allow_expired and pending.expires_at is not None and now >= pending.expires_at:
        raise PendingExpired(f"hold {pending.client_id} expired at {pending.expires_at}")
    return pending


async def _resolution_replay(
    conn: AsyncConnection, client_id: str, pending_id: int, outcome: PendingOutcome
) -> Journal | bool:
    """The earlier result when this exact resolution was already made, else False."""
    row = (
        await conn.execute(
            select(t.pending_resolutions).where(t.pending_resolutions.c.client_id == client_id)
        )
    ).first()
    if row is None:
        return False
    if row.pending_id != pending_id or row.outcome != outcome.value:
        raise JournalConflict(f"id {client_id} was already used to {row.outcome} another hold")
    if row.journal_id is None:
        return True
    journal = await get_journal(conn, journal_id=row.journal_id)
    assert journal is not None
    return journal


async def _record_resolution(
    conn: AsyncConnection,
    pending_id: int,
    outcome: PendingOutcome,
    client_id: str,
    now: datetime,
    *,
    journal_id: int | None = None,
) -> None:
    try:
        await conn.execute(
            t.pending_resolutions.insert().values(
                pending_id=pending_id,
                outcome=outcome.value,
                client_id=client_id,
                journal_id=journal_id,
                resolved_at=now,
            )
        )
    except IntegrityError as error:
        raise PendingNotOpen(f"hold {pending_id} was resolved meanwhile") from error


async def _release(conn: AsyncConnection, pending_id: int) -> None:
    """Take a hold's amounts off the pending columns of the slots it used."""
    greatest = "greatest" if conn.dialect.name == "postgresql" else "max"
    try:
        await conn.execute(text(_RELEASE.format(greatest=greatest)), {"pending_id": pending_id})
    except IntegrityError as error:
        raise PendingNotOpen(f"hold {pending_id} was resolved meanwhile") from error


_RELEASE = """
UPDATE ledger_balances SET pending_out = pending_out - d.out_amount,
                           pending_in = pending_in - d.in_amount
FROM (
    SELECT p.account_id, p.slot,
           sum({greatest}(-p.amount * a.normal_sign, 0)) AS out_amount,
           sum({greatest}(p.amount * a.normal_sign, 0)) AS in_amount
    FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
    WHERE p.journal_id = :pending_id GROUP BY p.account_id, p.slot
) AS d
WHERE ledger_balances.account_id = d.account_id AND ledger_balances.slot = d.slot
"""


async def ensure_chart(
    conn: AsyncConnection, *, now: datetime, hot_slots: int, currencies: Sequence[str] = CURRENCIES
) -> list[Account]:
    """Open every system account of every currency's books (idempotent)."""
    return [
        await open_account(conn, spec=spec, now=now)
        for currency in currencies
        for spec in system_accounts(currency, hot_slots)
    ]
