"""Subscriber use cases: registration, login, logout, password changes (one-time codes are
in ``codes``, the language a subscriber reads in ``languages``, both re-exported here).

Design overview
---------------
These functions take the ``Database`` rather than a connection: an attempt must be counted
and committed even though the call then refuses, and argon2 hashing (~50 ms) must not run
inside a transaction that holds locks. A login takes one of the number's attempts for the
window *before* the password is checked, by one conditional statement
(``sql.take_attempt``); over the limit it refuses without checking, a failure adds
nothing afterwards, and only a success resets the count — so no failure still in flight can
lift a lock (docs/security.md). Every counter lives in the database, so limits survive
restarts and hold across processes. Changing the password checks the current one within
the same attempts; a new password (changed, or reset with a code) also resets them.
One-time codes go out through the outbox in the same transaction that creates them. A
successful login or registration creates a new session (tokens are never reused); a
password change or reset ends every session of that subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.i18n import check_locale
from simkeep.phone import parse_number
from simkeep.subscribers import statements as sql
from simkeep.subscribers import tables as t
from simkeep.subscribers.codes import confirm_code, request_code, subscriber_id_of, use_code
from simkeep.subscribers.languages import reader_language, set_language
from simkeep.subscribers.model import (
    AlreadyRegistered,
    BadCode,
    BadCredentials,
    CodePurpose,
    Counter,
    Limits,
    LockedOut,
    check_password,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)

__all__ = [
    "Session",
    "Subscriber",
    "authenticate",
    "change_password",
    "confirm_code",
    "enroll",
    "login",
    "logout",
    "phones",
    "reader_language",
    "register",
    "request_code",
    "reset_password",
    "set_language",
]


@dataclass(frozen=True, slots=True)
class Session:
    subscriber_id: int
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    phone: str
    language: str  # the locale they read; their SMS go out in it
    seen: int | None = None  # the primary's position after their last write (``replicas``)


async def register(
    db: Database,
    *,
    phone: str,
    code: str,
    password: str,
    language: str,
    key: bytes,
    limits: Limits,
    now: datetime,
) -> Session:
    """Create an account, reading ``language``, for a number that proved itself with a code;
    log it in."""
    e164 = parse_number(phone).e164
    check_locale(language)
    password_hash = await asyncio.to_thread(hash_password, password)
    await use_code(db, e164, CodePurpose.REGISTER, code, key, limits, now)

    async def create(conn: AsyncConnection) -> Session:
        try:
            subscriber_id = await _insert_subscriber(conn, e164, password_hash, language, now)
        except IntegrityError as error:
            raise AlreadyRegistered("this number is registered already: log in instead") from error
        return await _new_session(conn, subscriber_id, limits, now)

    return await db.transaction(create)


async def enroll(db: Database, *, phone: str, password: str, language: str, now: datetime) -> int:
    """Create an account without a code (demo data, operator enrolment); an existing account
    for the number is returned unchanged."""
    e164 = parse_number(phone).e164
    check_locale(language)
    password_hash = await asyncio.to_thread(hash_password, password)

    async def create(conn: AsyncConnection) -> int:
        existing = await subscriber_id_of(conn, e164)
        if existing is not None:
            return existing
        return await _insert_subscriber(conn, e164, password_hash, language, now)

    return await db.transaction(create)


async def _insert_subscriber(
    conn: AsyncConnection, e164: str, password_hash: str, language: str, now: datetime
) -> int:
    values = {
        "phone": e164,
        "password_hash": password_hash,
        "language": language,
        "created_at": now,
        "password_changed_at": now,
    }
    inserted = await conn.execute(
        t.subscribers.insert().values(**values).returning(t.subscribers.c.id)
    )
    return int(inserted.scalar_one())


async def login(
    db: Database, *, phone: str, password: str, limits: Limits, now: datetime
) -> Session:
    """Check the password after taking one of the number's attempts; a success resets them."""
    e164 = parse_number(phone).e164
    subscriber_id = await _check_password(db, phone=e164, password=password, limits=limits, now=now)

    async def succeed(conn: AsyncConnection) -> Session:
        await sql.clear_attempts(conn, counter=Counter.LOGIN, phone=e164)
        return await _new_session(conn, subscriber_id, limits, now)

    return await db.transaction(succeed)


async def _check_password(
    db: Database, *, phone: str, password: str, limits: Limits, now: datetime
) -> int:
    """The subscriber whose password this is, checked only within the number's attempts."""
    window = await db.one_statement(
        lambda conn: sql.take_attempt(
            conn, counter=Counter.LOGIN, phone=phone, window=limits.lockout, now=now
        )
    )
    if window.attempts > limits.login_failures:
        raise LockedOut(f"too many failed logins: try again after {window.ends_at:%H:%M} UTC")
    account = await db.read(lambda conn: _account(conn, phone))
    subscriber_id, password_hash = account or (None, _dummy_hash())
    verified = await asyncio.to_thread(verify_password, password_hash, password)
    if not verified or subscriber_id is None:
        raise BadCredentials("wrong number or password")  # the attempt taken is the record
    return subscriber_id


async def _account(conn: AsyncConnection, phone: str) -> tuple[int, str] | None:
    """The subscriber id and password hash of a number, if registered."""
    row = (
        await conn.execute(
            select(t.subscribers.c.id, t.subscribers.c.password_hash).where(
                t.subscribers.c.phone == phone
            )
        )
    ).first()
    return None if row is None else (int(row.id), str(row.password_hash))


async def authenticate(db: Database, *, token: str, now: datetime) -> Subscriber | None:
    """The subscriber a live session token belongs to, or None."""

    async def read(conn: AsyncConnection) -> Subscriber | None:
        row = await sql.SESSION_SUBSCRIBER.row(conn, digest=token_digest(token), now=now)
        if not row:
            return None
        return Subscriber(row["id"], row["phone"], row["language"], row["seen_lsn"])

    return await db.read(read)


async def logout(db: Database, *, token: str, now: datetime) -> None:
    """End one session."""

    async def end(conn: AsyncConnection) -> None:
        await conn.execute(
            update(t.sessions)
            .where(
                t.sessions.c.token_digest == token_digest(token), t.sessions.c.ended_at.is_(None)
            )
            .values(ended_at=now)
        )

    await db.transaction(end)


async def change_password(
    db: Database,
    *,
    subscriber_id: int,
    old_password: str,
    new_password: str,
    limits: Limits,
    now: datetime,
) -> Session:
    """Replace the password, the current one checked within the number's login attempts;
    every session ends and a fresh one is returned."""
    check_password(new_password)

    async def phone_of(conn: AsyncConnection) -> str:
        query = select(t.subscribers.c.phone).where(t.subscribers.c.id == subscriber_id)
        return str((await conn.execute(query)).scalar_one())

    phone = await db.read(phone_of)
    try:
        await _check_password(db, phone=phone, password=old_password, limits=limits, now=now)
    except BadCredentials as error:
        raise BadCredentials("the current password is wrong") from error
    return await _set_password(db, subscriber_id, new_password, limits, now)


async def reset_password(
    db: Database,
    *,
    phone: str,
    code: str,
    new_password: str,
    key: bytes,
    limits: Limits,
    now: datetime,
) -> Session:
    """Set a new password with a code sent to the number; every session ends."""
    e164 = parse_number(phone).e164
    check_password(new_password)
    await use_code(db, e164, CodePurpose.RESET_PASSWORD, code, key, limits, now)
    subscriber_id = await db.transaction(lambda conn: subscriber_id_of(conn, e164))
    if subscriber_id is None:
        raise BadCode("that code is not valid")
    return await _set_password(db, subscriber_id, new_password, limits, now)


async def _set_password(
    db: Database, subscriber_id: int, password: str, limits: Limits, now: datetime
) -> Session:
    password_hash = await asyncio.to_thread(hash_password, password)

    async def store(conn: AsyncConnection) -> Session:
        phone = (
            await conn.execute(
                update(t.subscribers)
                .where(t.subscribers.c.id == subscriber_id)
                .values(password_hash=password_hash, password_changed_at=now)
                .returning(t.subscribers.c.phone)
            )
        ).scalar_one()
        await sql.clear_attempts(conn, counter=Counter.LOGIN, phone=phone)
        await conn.execute(
            update(t.sessions)
            .where(t.sessions.c.subscriber_id == subscriber_id, t.sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        return await _new_session(conn, subscriber_id, limits, now)

    return await db.transaction(store)


@cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown numbers, so they cost the same time."""
    return hash_password("not-a-real-password")


async def _new_session(
    conn: AsyncConnection, subscriber_id: int, limits: Limits, now: datetime
) -> Session:
    token = new_token()
    expires_at = now + limits.session_ttl
    await conn.execute(
        t.sessions.insert().values(
            token_digest=token_digest(token),
            subscriber_id=subscriber_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return Session(subscriber_id, token, expires_at)


async def phones(conn: AsyncConnection, *, subscriber_ids: Collection[int]) -> dict[int, str]:
    """The login numbers (E.164) of these subscribers, by id."""
    if not subscriber_ids:
        return {}
    rows = await conn.execute(
        select(t.subscribers.c.id, t.subscribers.c.phone).where(
            t.subscribers.c.id.in_(list(subscriber_ids))
        )
    )
    return {row.id: row.phone for row in rows}


async def reach(conn: AsyncConnection, *, subscriber_id: int) -> tuple[str, str] | None:
    """A subscriber's login number (E.164) and language, to send them an SMS."""
    row = (
        await conn.execute(
            select(t.subscribers.c.phone, t.subscribers.c.language).where(
                t.subscribers.c.id == subscriber_id
            )
        )
    ).first()
    return (row.phone, row.language) if row else None
