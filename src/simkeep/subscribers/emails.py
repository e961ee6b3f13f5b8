"""A subscriber's email address: set, verified with a code sent to it, changed, removed.

Design overview
---------------
An address counts as known — reminders go to it (``retention.notices``) — only once
verified. Setting one checks its shape first (``model.check_email``: nothing changes on a
refusal), then takes one of the account's email codes for the hour (``Counter.EMAIL_CODE``
on the login number, by the same conditional statement as every code request), then, in one
transaction, keeps the address as ``pending_email`` and emails it a six-digit code in the
subscriber's language. The code is one of the one-time codes of ``codes`` (purpose
``verify_email``, kept under the login number, its digest bound to the address), so it has
their lifetime and their attempts, each taken before the digests are compared. Typing it
back makes the pending address the known one by a conditional update — only if it is still
the address waiting — so a code can verify nothing but the address it was sent to. Until
then a verified address already known keeps receiving. Removing clears both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.i18n import email
from simkeep.notifications import service as notifications
from simkeep.subscribers import tables as t
from simkeep.subscribers.codes import insert_code, take_code_request, use_code
from simkeep.subscribers.model import BadCode, CodePurpose, Counter, Limits, check_email

CODE_SUBJECT = "simkeep: confirm your email address"  # message ids of email.po
CODE_TEXT = (
    "Your simkeep code to confirm this email address: %(code)s (valid for %(minutes)s"
    " minutes). Type it on the account page. If you did not ask for it, ignore this email."
)
_NOTHING_WAITING = "no email address is waiting for a code: set one first"


@dataclass(frozen=True, slots=True)
class EmailStatus:
    email: str | None  # the verified address reminders go to
    verified_at: datetime | None
    pending: str | None  # an address waiting for its code


async def email_status(conn: AsyncConnection, *, subscriber_id: int) -> EmailStatus:
    """The subscriber's verified address and the one waiting for its code."""
    s = t.subscribers.c
    row = (
        await conn.execute(
            select(s.email, s.email_verified_at, s.pending_email).where(s.id == subscriber_id)
        )
    ).one()
    return EmailStatus(row.email, row.email_verified_at, row.pending_email)


async def set_email(
    db: Database,
    *,
    subscriber_id: int,
    address: str,
    key: bytes,
    limits: Limits,
    now: datetime,
) -> EmailStatus:
    """Keep ``address`` as waiting and email it a code (a few per account and hour); the
    address already verified is left as it is."""
    address = check_email(address)
    phone, language, _ = await db.read(lambda conn: _account(conn, subscriber_id))
    await take_code_request(db, counter=Counter.EMAIL_CODE, phone=phone, limits=limits, now=now)

    async def issue(conn: AsyncConnection) -> EmailStatus:
        await conn.execute(
            update(t.subscribers)
            .where(t.subscribers.c.id == subscriber_id)
            .values(pending_email=address)
        )
        code = await insert_code(
            conn,
            phone=phone,
            purpose=CodePurpose.VERIFY_EMAIL,
            key=key,
            limits=limits,
            now=now,
            address=address,
        )
        minutes = int(limits.code_ttl.total_seconds() // 60)
        await notifications.queue_email(
            conn,
            to=address,
            subject=email(language, CODE_SUBJECT),
            text=email(language, CODE_TEXT, code=code, minutes=minutes),
            now=now,
        )
        return await email_status(conn, subscriber_id=subscriber_id)

    return await db.transaction(issue)


async def verify_email(
    db: Database, *, subscriber_id: int, code: str, key: bytes, limits: Limits, now: datetime
) -> EmailStatus:
    """Make the waiting address the known one with the code sent to it; ``BadCode``
    otherwise (each try spends one of the code's attempts)."""
    phone, _, waiting = await db.read(lambda conn: _account(conn, subscriber_id))
    if waiting is None:
        raise BadCode(_NOTHING_WAITING)
    await use_code(db, phone, CodePurpose.VERIFY_EMAIL, code, key, limits, now, waiting)

    async def promote(conn: AsyncConnection) -> EmailStatus:
        s = t.subscribers.c
        moved = await conn.execute(
            update(t.subscribers)
            .where(s.id == subscriber_id, s.pending_email == waiting)
            .values(email=waiting, email_verified_at=now, pending_email=None)
        )
        if moved.rowcount != 1:  # changed or removed since the code was sent
            raise BadCode(_NOTHING_WAITING)
        return await email_status(conn, subscriber_id=subscriber_id)

    return await db.transaction(promote)


async def remove_email(db: Database, *, subscriber_id: int) -> None:
    """Forget the subscriber's addresses, verified and waiting: no more emails."""

    async def clear(conn: AsyncConnection) -> None:
        await conn.execute(
            update(t.subscribers)
            .where(t.subscribers.c.id == subscriber_id)
            .values(email=None, email_verified_at=None, pending_email=None)
        )

    await db.transaction(clear)


async def _account(conn: AsyncConnection, subscriber_id: int) -> tuple[str, str, str | None]:
    """The subscriber's login number, language and the address waiting for its code."""
    s = t.subscribers.c
    query = select(s.phone, s.language, s.pending_email).where(s.id == subscriber_id)
    row = (await conn.execute(query)).one()
    return str(row.phone), str(row.language), row.pending_email
