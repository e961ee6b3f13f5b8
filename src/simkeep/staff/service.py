"""Staff use cases: logging in with a second factor, enrolling the second factor, sessions
(adding and listing staff are in ``accounts``, re-exported here).

Design overview
---------------
Like ``subscribers.service`` these take the ``Database``: an attempt must be counted and
committed even though the call then refuses, and argon2 (~50 ms) must not run inside a
transaction that holds locks.

Logging in takes username, password and TOTP code at once. One conditional update takes
one of the account's attempts for the window *before* anything is checked (over the limit
it refuses without checking); then the password, then the code. A code is accepted once: the
step it belongs to is taken by ``UPDATE … WHERE totp_last_step < :step`` in the
transaction that opens the session, so of two logins with one code, one gets in. Only a
success resets the attempts. A member of staff who has not confirmed a TOTP yet gets, for
the right password, a short session that may only enrol (``second_factor`` false); the
enrolment is confirmed by a code, within the same attempts, and rotates the session.
Unknown usernames cost an argon2 verification like known ones; a disabled account is
refused as a wrong password is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.staff import tables as t
from simkeep.staff.accounts import NewStaff, StaffAccount, add_staff, ensure_staff, list_staff
from simkeep.staff.audit import Actor, Target, record
from simkeep.staff.model import (
    BadStaffCredentials,
    BadTotp,
    StaffLimits,
    StaffLockedOut,
    matching_step,
    provisioning_uri,
)
from simkeep.subscribers.model import hash_password, new_token, token_digest, verify_password

__all__ = [
    "NewStaff",
    "StaffAccount",
    "StaffMember",
    "StaffSession",
    "add_staff",
    "authenticate",
    "confirm_totp",
    "enrolment",
    "ensure_staff",
    "find_member",
    "list_staff",
    "login",
    "logout",
]

MAX_PASSWORD = 128


@dataclass(frozen=True, slots=True)
class StaffMember:
    id: int
    username: str
    display_name: str
    role: str
    second_factor: bool  # this session passed the second factor (else it may only enrol)
    agent_id: int | None = None  # an agent's or a clerk's company
    outlet_id: int | None = None  # a clerk's outlet
    seen: int | None = None  # the primary's position after their last write (``replicas``)


@dataclass(frozen=True, slots=True)
class StaffSession:
    token: str
    expires_at: datetime
    second_factor: bool


@dataclass(frozen=True, slots=True)
class _Attempt:
    id: int
    attempts: int
    window_ends_at: datetime
    password_hash: str
    totp_secret: str
    enrolled: bool
    disabled: bool


async def login(
    db: Database, *, username: str, password: str, code: str, limits: StaffLimits, now: datetime
) -> StaffSession:
    """Check password and TOTP code after taking one of the account's attempts."""
    attempt = await _checked_password(db, username, password, limits, now)
    if not attempt.enrolled:
        return await db.transaction(lambda conn: _succeed(conn, attempt.id, False, limits, now))
    step = matching_step(attempt.totp_secret, code, now)
    if step is None:
        raise BadTotp("wrong code from the authenticator app")

    async def succeed(conn: AsyncConnection) -> StaffSession:
        await _take_step(conn, attempt.id, step)
        return await _succeed(conn, attempt.id, True, limits, now)

    return await db.transaction(succeed)


async def confirm_totp(
    db: Database, *, token: str, code: str, actor: Actor, limits: StaffLimits, now: datetime
) -> StaffSession:
    """Confirm the second factor of an enrolling session with a code; the session rotates."""
    member = await authenticate(db, token=token, now=now)
    if member is None or member.second_factor:
        raise BadStaffCredentials("this enrolment has ended: log in again")
    attempt = await _take_attempt(db, member.username, limits, now)
    if attempt is None or attempt.enrolled:
        raise BadStaffCredentials("this enrolment has ended: log in again")
    step = matching_step(attempt.totp_secret, code, now)
    if step is None:
        raise BadTotp("wrong code from the authenticator app")

    async def confirm(conn: AsyncConnection) -> StaffSession:
        await _take_step(conn, member.id, step)
        await conn.execute(
            update(t.members).where(t.members.c.id == member.id).values(totp_confirmed_at=now)
        )
        await _end_session(conn, token, now)
        target = Target("staff", member.id)
        after = {"totp": "confirmed"}
        await record(
            conn,
            actor=actor,
            action="staff.totp_confirmed",
            target=target,
            before={"totp": "unconfirmed"},
            after=after,
            now=now,
        )
        return await _succeed(conn, member.id, True, limits, now)

    return await db.transaction(confirm)


async def enrolment(db: Database, *, staff_id: int) -> tuple[str, str]:
    """The TOTP secret and its ``otpauth://`` URI of a member still enrolling."""

    async def read(conn: AsyncConnection) -> tuple[str, str]:
        query = select(t.members.c.username, t.members.c.totp_secret).where(
            t.members.c.id == staff_id, t.members.c.totp_confirmed_at.is_(None)
        )
        row = (await conn.execute(query)).first()
        if row is None:
            raise BadStaffCredentials("this enrolment has ended: log in again")
        return row.totp_secret, provisioning_uri(row.totp_secret, row.username)

    return await db.read(read)


async def authenticate(db: Database, *, token: str, now: datetime) -> StaffMember | None:
    """The member of staff a live session token belongs to, or None."""
    m, s = t.members.c, t.sessions.c
    query = (
        select(
            *(m.id, m.username, m.display_name, m.role, s.second_factor),
            *(m.agent_id, m.outlet_id, s.seen_lsn),
        )
        .join(t.sessions, s.staff_id == m.id)
        .where(
            s.token_digest == token_digest(token),
            s.ended_at.is_(None),
            s.expires_at > now,
            m.disabled.is_(False),
        )
    )

    async def read(conn: AsyncConnection) -> StaffMember | None:
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        return StaffMember(
            row.id,
            row.username,
            row.display_name,
            row.role,
            bool(row[4]),
            agent_id=row.agent_id,
            outlet_id=row.outlet_id,
            seen=row.seen_lsn,
        )

    return await db.read(read)


async def find_member(
    conn: AsyncConnection,
    *,
    staff_id: int | None = None,
    username: str | None = None,
    disabled_too: bool = False,
) -> StaffMember | None:
    """The enabled member of staff with this id or username (a device's owner), or None;
    ``disabled_too`` finds a disabled one as well (who made a sale long ago)."""
    m = t.members.c
    key = m.id == staff_id if staff_id is not None else m.username == (username or "").lower()
    query = select(m.id, m.username, m.display_name, m.role, m.agent_id, m.outlet_id).where(key)
    if not disabled_too:
        query = query.where(m.disabled.is_(False))
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return StaffMember(
        row.id, row.username, row.display_name, row.role, True, row.agent_id, row.outlet_id
    )


async def logout(db: Database, *, token: str, now: datetime) -> None:
    """End one session."""
    await db.transaction(lambda conn: _end_session(conn, token, now))


async def _checked_password(
    db: Database, username: str, password: str, limits: StaffLimits, now: datetime
) -> _Attempt:
    attempt = await _take_attempt(db, username.strip().lower()[:64], limits, now)
    password_hash = attempt.password_hash if attempt else _dummy_hash()
    verified = len(password) <= MAX_PASSWORD and await asyncio.to_thread(
        verify_password, password_hash, password
    )
    if attempt is None or not verified or attempt.disabled:
        raise BadStaffCredentials("wrong username or password")  # the attempt is the record
    return attempt


async def _take_attempt(
    db: Database, username: str, limits: StaffLimits, now: datetime
) -> _Attempt | None:
    """Count one attempt on the account, before any check; refuse over the limit."""
    m = t.members.c
    live = m.attempts_window_ends_at > now
    statement = (
        update(t.members)
        .where(m.username == username)
        .values(
            failed_attempts=case((live, m.failed_attempts + 1), else_=1),
            attempts_window_ends_at=case(
                (live, m.attempts_window_ends_at), else_=now + limits.lockout
            ),
        )
        .returning(
            m.id,
            m.failed_attempts,
            m.attempts_window_ends_at,
            m.password_hash,
            m.totp_secret,
            m.totp_confirmed_at,
            m.disabled,
        )
    )

    async def take(conn: AsyncConnection) -> _Attempt | None:
        row = (await conn.execute(statement)).first()
        if row is None:
            return None
        return _Attempt(
            id=row.id,
            attempts=row.failed_attempts,
            window_ends_at=row.attempts_window_ends_at,
            password_hash=row.password_hash,
            totp_secret=row.totp_secret,
            enrolled=row.totp_confirmed_at is not None,
            disabled=bool(row.disabled),
        )

    attempt = await db.transaction(take)
    if attempt is not None and attempt.attempts > limits.login_failures:
        raise StaffLockedOut(
            f"too many failed logins: try again after {attempt.window_ends_at:%H:%M} UTC"
        )
    return attempt


async def _take_step(conn: AsyncConnection, staff_id: int, step: int) -> None:
    """Accept the code of ``step`` once: a step at or before the last one taken is refused."""
    taken = await conn.execute(
        update(t.members)
        .where(t.members.c.id == staff_id, t.members.c.totp_last_step < step)
        .values(totp_last_step=step)
    )
    if taken.rowcount != 1:
        raise BadTotp("this code was used already: wait for the next one")


async def _succeed(
    conn: AsyncConnection, staff_id: int, second_factor: bool, limits: StaffLimits, now: datetime
) -> StaffSession:
    """Reset the attempts and open a new session."""
    values: dict[str, object] = {"failed_attempts": 0, "attempts_window_ends_at": None}
    if second_factor:
        values["last_login_at"] = now
    await conn.execute(update(t.members).where(t.members.c.id == staff_id).values(**values))
    token = new_token()
    expires_at = now + (limits.session_ttl if second_factor else limits.enrolment_ttl)
    await conn.execute(
        t.sessions.insert().values(
            token_digest=token_digest(token),
            staff_id=staff_id,
            second_factor=second_factor,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return StaffSession(token, expires_at, second_factor)


async def _end_session(conn: AsyncConnection, token: str, now: datetime) -> None:
    await conn.execute(
        update(t.sessions)
        .where(t.sessions.c.token_digest == token_digest(token), t.sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


@cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown usernames, so they cost the same time."""
    return hash_password("not-a-real-password")
