"""One-time codes sent by SMS: to register, to reset a password, to prove a SIM is in hand
(and by email, to verify an address: ``emails``, with the same pieces).

Design overview
---------------
A code is six digits, kept only as a keyed digest, live for a few minutes, good once, and
allowed a few attempts. Both limits are counted before the check they guard, each by one
conditional statement that commits at once (``statements``): a request takes one of the
number's codes for the hour before a code is made, and a submission takes one of the
code's attempts before the digests are compared; the right code is then marked used by a
conditional update, so two right submissions use it once. The SMS goes out through the
outbox in the transaction that creates the code, in the language of the number's
subscriber if it is registered, else in the language of the person who asked
(``languages.reader_language``), and says what the code is for. A reset asked for an
unknown number says nothing more than for a known one, and costs the number a request all
the same.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.i18n import sms
from simkeep.notifications import service as notifications
from simkeep.phone import parse_number
from simkeep.subscribers import statements as sql
from simkeep.subscribers import tables as t
from simkeep.subscribers.languages import reader_language
from simkeep.subscribers.model import (
    AlreadyRegistered,
    BadCode,
    CodePurpose,
    Counter,
    Limits,
    TooManyRequests,
    code_digest,
    new_code,
)

_HOUR = timedelta(hours=1)
_BAD_CODE = "that code is wrong or has expired: request a new one"
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
    """Send a one-time code by SMS (a few per number and hour); ``language`` is the asker's."""
    e164 = parse_number(phone).e164
    await take_code_request(db, counter=Counter.CODE_REQUEST, phone=e164, limits=limits, now=now)

    async def issue(conn: AsyncConnection) -> None:
        registered = await subscriber_id_of(conn, e164) is not None
        if purpose is CodePurpose.REGISTER and registered:
            raise AlreadyRegistered("this number is registered already: log in instead")
        if purpose is CodePurpose.RESET_PASSWORD and not registered:
            return  # say nothing more than for a registered number
        code = await insert_code(conn, phone=e164, purpose=purpose, key=key, limits=limits, now=now)
        minutes = int(limits.code_ttl.total_seconds() // 60)
        reader = await reader_language(conn, phone=e164, otherwise=language)
        text = sms(reader, CODE_TEXTS[purpose], code=code, minutes=minutes)
        await notifications.queue_sms(conn, to=e164, text=text, now=now)

    await db.transaction(issue)


async def take_code_request(
    db: Database, *, counter: Counter, phone: str, limits: Limits, now: datetime
) -> None:
    """Count one code request on the number's ``counter`` before any code is made;
    ``TooManyRequests`` over ``limits.codes_per_hour``."""
    window = await db.one_statement(
        lambda conn: sql.take_attempt(conn, counter=counter, phone=phone, window=_HOUR, now=now)
    )
    if window.attempts > limits.codes_per_hour:
        raise TooManyRequests(
            f"too many codes for this number: try again after {window.ends_at:%H:%M} UTC"
        )


async def insert_code(
    conn: AsyncConnection,
    *,
    phone: str,
    purpose: CodePurpose,
    key: bytes,
    limits: Limits,
    now: datetime,
    address: str = "",
) -> str:
    """A new code for the number and purpose (bound to ``address`` when it goes by email),
    kept as its digest; returns the code to send."""
    code = new_code()
    await conn.execute(
        t.codes.insert().values(
            phone=phone,
            purpose=purpose.value,
            code_digest=code_digest(key, phone, purpose, code, address),
            created_at=now,
            expires_at=now + limits.code_ttl,
        )
    )
    return code


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
    address: str = "",
) -> None:
    """Accept the newest live code once (one sent to ``address``, if given); every
    submission spends one of its attempts."""
    live = await db.one_statement(
        lambda conn: sql.take_code_attempt(
            conn, phone=phone, purpose=purpose, limit=limits.code_attempts, now=now
        )
    )
    if live is None or not hmac.compare_digest(
        live.digest, code_digest(key, phone, purpose, code.strip(), address)
    ):
        raise BadCode(_BAD_CODE)
    code_id = live.id
    used = await db.one_statement(lambda conn: sql.mark_code_used(conn, code_id=code_id, now=now))
    if not used:  # a concurrent submission of the same code got there first
        raise BadCode(_BAD_CODE)


async def subscriber_id_of(conn: AsyncConnection, phone: str) -> int | None:
    result = await conn.execute(select(t.subscribers.c.id).where(t.subscribers.c.phone == phone))
    value = result.scalar()
    return None if value is None else int(value)
