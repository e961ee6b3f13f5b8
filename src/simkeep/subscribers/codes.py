"""One-time codes sent by SMS: to register, to reset a password, to prove a SIM is in hand.

Design overview
---------------
A code is six digits, kept only as a keyed digest, live for a few minutes, good once, and
allowed a few wrong guesses (each one counted and committed even though the call refuses).
Codes per number and hour are limited, and the limit lives in the database, so it holds
across restarts and processes. The SMS goes out through the outbox in the transaction that
creates the code, in the language of the number's subscriber if it is registered, else in
the language of the person who asked (``languages.reader_language``), and says what the code
is for. A reset asked for an unknown number says nothing more than for a known one.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.i18n import sms
from simkeep.notifications import service as notifications
from simkeep.phone import parse_number
from simkeep.subscribers import tables as t
from simkeep.subscribers.languages import reader_language
from simkeep.subscribers.model import (
    AlreadyRegistered,
    BadCode,
    CodePurpose,
    Limits,
    TooManyRequests,
    code_digest,
    new_code,
)

_HOUR = timedelta(hours=1)
CODE_TEXTS = {  # the SMS of each purpose: message ids of sms.po
    CodePurpose.REGISTER: (
        "simkeep registration code: %(code)s (valid for %(minutes)s minutes). Do not share it."
    ),
    CodePurpose.RESET_PASSWORD: (
        "simkeep code to reset your password: %(code)s (valid for %(minutes)s minutes)."
        " Do not share it."
    ),
    CodePurpose.LINK_SIM: (
        "simkeep code to link this SIM to an account: %(code)s (valid for %(minutes)s"
        " minutes). Whoever has it can see this SIM's balance and top-ups."
    ),
}


async def request_code(
    db: Database,
    *,
    phone: str,
    purpose: CodePurpose,
    language: str,
    key: bytes,
    limits: Limits,
    now: datetime,
) -> None:
    """Send a one-time code by SMS (rate-limited per number); ``language`` is the asker's."""
    e164 = parse_number(phone).e164
    code = new_code()

    async def issue(conn: AsyncConnection) -> None:
        since = now - _HOUR
        recent = (
            await conn.execute(
                select(func.count())
                .select_from(t.codes)
                .where(t.codes.c.phone == e164, t.codes.c.created_at > since)
            )
        ).scalar_one()
        if recent >= limits.codes_per_hour:
            raise TooManyRequests("too many codes for this number: try again in an hour")
        registered = await subscriber_id_of(conn, e164) is not None
        if purpose is CodePurpose.REGISTER and registered:
            raise AlreadyRegistered("this number is registered already: log in instead")
        if purpose is CodePurpose.RESET_PASSWORD and not registered:
            return  # say nothing more than for a registered number
        await conn.execute(
            t.codes.insert().values(
                phone=e164,
                purpose=purpose.value,
                code_digest=code_digest(key, e164, purpose, code),
                created_at=now,
                expires_at=now + limits.code_ttl,
            )
        )
        minutes = int(limits.code_ttl.total_seconds() // 60)
        reader = await reader_language(conn, phone=e164, otherwise=language)
        text = sms(reader, CODE_TEXTS[purpose], code=code, minutes=minutes)
        await notifications.queue_sms(conn, to=e164, text=text, now=now)

    await db.transaction(issue)


async def confirm_code(
    db: Database,
    *,
    phone: str,
    purpose: CodePurpose,
    code: str,
    key: bytes,
    limits: Limits,
    now: datetime,
) -> None:
    """Accept a one-time code sent to ``phone`` for ``purpose``, once; ``BadCode`` otherwise."""
    await use_code(db, parse_number(phone).e164, purpose, code, key, limits, now)


async def use_code(
    db: Database,
    phone: str,
    purpose: CodePurpose,
    code: str,
    key: bytes,
    limits: Limits,
    now: datetime,
) -> None:
    """Accept the newest live code once; a wrong guess is counted (and committed)."""

    async def check(conn: AsyncConnection) -> bool:
        row = (
            await conn.execute(
                select(t.codes.c.id, t.codes.c.code_digest, t.codes.c.attempts)
                .where(
                    t.codes.c.phone == phone,
                    t.codes.c.purpose == purpose.value,
                    t.codes.c.used_at.is_(None),
                    t.codes.c.expires_at > now,
                )
                .order_by(t.codes.c.id.desc())
                .limit(1)
                .with_for_update()
            )
        ).first()
        if row is None or row.attempts >= limits.code_attempts:
            return False
        if not hmac.compare_digest(row.code_digest, code_digest(key, phone, purpose, code.strip())):
            await conn.execute(
                update(t.codes)
                .where(t.codes.c.id == row.id)
                .values(attempts=t.codes.c.attempts + 1)
            )
            return False
        await conn.execute(update(t.codes).where(t.codes.c.id == row.id).values(used_at=now))
        return True

    if not await db.transaction(check):
        raise BadCode("that code is wrong or has expired: request a new one")


async def subscriber_id_of(conn: AsyncConnection, phone: str) -> int | None:
    result = await conn.execute(select(t.subscribers.c.id).where(t.subscribers.c.phone == phone))
    value = result.scalar()
    return None if value is None else int(value)
