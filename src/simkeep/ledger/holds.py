"""Holds: two-phase journals, resolved exactly once.

Design overview
---------------
``hold`` writes a pending journal whose postings count against floors (``pending_out``) but
not against balances. It ends once: posted in full or in part (``post_pending``), voided
(``void_pending``), or expired (``expire_pending``, after its expiry; a post after the expiry
is refused). The primary key of ``ledger_pending_resolutions`` makes a second resolution
impossible; the hold's row is locked while it is resolved; each resolution is idempotent by
its own client id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import require_aware
from simkeep.ledger import statements as sql
from simkeep.ledger import tables as t
from simkeep.ledger.model import (
    InvalidJournal,
    Journal,
    JournalConflict,
    JournalKind,
    JournalRequest,
    PendingExpired,
    PendingNotOpen,
    PendingOutcome,
    Posting,
    check_client_id,
    check_postings,
    partial_post,
)
from simkeep.ledger.queries import get_journal
from simkeep.ledger.writer import write
from simkeep.statements import INTEGRITY_ERRORS


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
    return await write(conn, request, now)


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
    journal = await write(conn, request, now)
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
    try:
        await sql.RELEASE_HOLD.execute(conn, pending_id=pending_id)
    except INTEGRITY_ERRORS as error:
        raise PendingNotOpen(f"hold {pending_id} was resolved meanwhile") from error
