"""A subscriber's email address, on SQLite and PostgreSQL: set, verified with the code
emailed to it (read off the simulated mailbox), changed, removed; a malformed address, a
wrong, expired or spent code refused with nothing changed; fifty wrong codes at once never
get more checks than the code's attempts."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.notifications import service as notifications
from simkeep.notifications.tables import outbox
from simkeep.simulators.email import SimulatedMailbox
from simkeep.simulators.sms import SimulatedSmsGateway
from simkeep.subscribers import emails
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.emails import EmailStatus
from simkeep.subscribers.model import (
    AuthError,
    BadCode,
    CodePurpose,
    InvalidEmail,
    Limits,
    TooManyRequests,
    auth_key,
)
from simkeep.subscribers.tables import codes

KEY = auth_key("test-secret")
LIMITS = Limits()
PHONE = "+85291234567"
ADDRESS = "chan.tai-man@example.hk"


async def account(db: Database, clock: FixedClock, language: str = "en") -> int:
    return await subscribers.enroll(
        db, phone=PHONE, password="correct horse", language=language, now=clock.now()
    )


async def send(db: Database, clock: FixedClock, subscriber_id: int, address: str) -> EmailStatus:
    return await emails.set_email(
        db, subscriber_id=subscriber_id, address=address, key=KEY, limits=LIMITS, now=clock.now()
    )


def verify(
    db: Database, clock: FixedClock, subscriber_id: int, code: str
) -> Awaitable[EmailStatus]:
    return emails.verify_email(
        db, subscriber_id=subscriber_id, code=code, key=KEY, limits=LIMITS, now=clock.now()
    )


async def status(db: Database, subscriber_id: int) -> EmailStatus:
    return await db.read(lambda conn: emails.email_status(conn, subscriber_id=subscriber_id))


async def emailed_code(db: Database, clock: FixedClock, address: str) -> tuple[str, str]:
    """Deliver the outbox into the simulated mailbox; the newest email's code and subject."""
    mailbox = SimulatedMailbox(db, clock)
    sms = SimulatedSmsGateway(db, clock)
    await notifications.deliver_due(db, gateway=sms, email=mailbox, now=clock.now())
    newest = (await mailbox.messages(to=address))[0]
    match = re.search(r"\b(\d{6})\b", newest.body)
    assert match, newest
    return match.group(1), newest.subject


async def test_an_address_counts_once_the_code_emailed_to_it_is_typed_back(
    db: Database, clock: FixedClock
) -> None:
    me = await account(db, clock, language="zh_Hans_CN")
    waiting = await send(db, clock, me, " Chan.Tai-Man@Example.HK ")
    assert waiting == EmailStatus(None, None, "Chan.Tai-Man@example.hk")
    code, subject = await emailed_code(db, clock, "Chan.Tai-Man@example.hk")
    assert subject == "simkeep：请确认你的电子邮箱地址"  # the subscriber's language

    known = await verify(db, clock, me, code)

    assert known == EmailStatus("Chan.Tai-Man@example.hk", clock.now(), None)
    assert await status(db, me) == known
    with pytest.raises(BadCode):  # used once
        await verify(db, clock, me, code)


async def test_a_malformed_address_is_refused_and_nothing_changes(
    db: Database, clock: FixedClock
) -> None:
    me = await account(db, clock)
    for address in (
        "",
        "chan",
        "chan@example",
        "a..b@example.hk",
        "陳@例子.香港",
        "a@b.hk\nBcc: x@y.hk",
    ):
        with pytest.raises(InvalidEmail):
            await send(db, clock, me, address)
    with pytest.raises(InvalidEmail, match="254"):
        await send(db, clock, me, "a" * 60 + "@" + "b" * 191 + ".hk")
    assert await status(db, me) == EmailStatus(None, None, None)
    assert await db.read(lambda conn: conn.scalar(select(func.count()).select_from(outbox))) == 0


async def test_a_wrong_or_expired_code_is_refused_and_the_address_still_waits(
    db: Database, clock: FixedClock
) -> None:
    me = await account(db, clock)
    await send(db, clock, me, ADDRESS)
    code, _ = await emailed_code(db, clock, ADDRESS)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(BadCode):
        await verify(db, clock, me, wrong)
    clock.advance(LIMITS.code_ttl + timedelta(seconds=1))
    with pytest.raises(BadCode):
        await verify(db, clock, me, code)  # right, but expired
    assert await status(db, me) == EmailStatus(None, None, ADDRESS)

    await send(db, clock, me, ADDRESS)  # a new code
    fresh, _ = await emailed_code(db, clock, ADDRESS)
    assert (await verify(db, clock, me, fresh)).email == ADDRESS


async def test_after_five_wrong_codes_even_the_right_one_is_refused(
    db: Database, clock: FixedClock
) -> None:
    me = await account(db, clock)
    await send(db, clock, me, ADDRESS)
    code, _ = await emailed_code(db, clock, ADDRESS)
    for n in range(LIMITS.code_attempts):
        with pytest.raises(BadCode):
            await verify(db, clock, me, f"{(int(code) + 1 + n) % 1_000_000:06d}")
    with pytest.raises(BadCode):
        await verify(db, clock, me, code)
    assert (await status(db, me)).email is None


async def test_fifty_wrong_codes_at_once_get_no_more_checks_than_the_attempts(
    db: Database, clock: FixedClock
) -> None:
    me = await account(db, clock)
    await send(db, clock, me, ADDRESS)
    code, _ = await emailed_code(db, clock, ADDRESS)
    await asyncio.gather(*(db.read(lambda conn: asyncio.sleep(0.01)) for _ in range(10)))
    wrong = [f"{(int(code) + 1 + n) % 1_000_000:06d}" for n in range(50)]

    async def outcome(guess: str) -> str:
        try:
            await verify(db, clock, me, guess)
        except AuthError as error:
            return error.code
        return "ok"

    outcomes = Counter(await asyncio.gather(*(outcome(guess) for guess in wrong)))

    assert outcomes == Counter({"bad_code": 50})
    attempts = await db.read(
        lambda conn: conn.scalar(
            select(codes.c.attempts).where(codes.c.purpose == CodePurpose.VERIFY_EMAIL.value)
        )
    )
    assert attempts == LIMITS.code_attempts  # counted before each check, never past the limit
    with pytest.raises(BadCode):
        await verify(db, clock, me, code)


async def test_a_code_verifies_only_the_address_it_was_sent_to(
    db: Database, clock: FixedClock
) -> None:
    me = await account(db, clock)
    await send(db, clock, me, ADDRESS)
    first, _ = await emailed_code(db, clock, ADDRESS)
    await verify(db, clock, me, first)
    await send(db, clock, me, "other@example.hk")
    other, _ = await emailed_code(db, clock, "other@example.hk")
    assert await status(db, me) == EmailStatus(ADDRESS, clock.now(), "other@example.hk")

    await send(db, clock, me, "third@example.hk")  # changed again before typing the code
    with pytest.raises(BadCode):
        await verify(db, clock, me, other)
    assert (await status(db, me)).email == ADDRESS  # the verified one still receives


async def test_removing_forgets_both_addresses(db: Database, clock: FixedClock) -> None:
    me = await account(db, clock)
    await send(db, clock, me, ADDRESS)
    code, _ = await emailed_code(db, clock, ADDRESS)
    await verify(db, clock, me, code)
    await send(db, clock, me, "other@example.hk")

    await emails.remove_email(db, subscriber_id=me)

    assert await status(db, me) == EmailStatus(None, None, None)
    with pytest.raises(BadCode):
        await verify(db, clock, me, code)


async def test_codes_per_hour_are_counted_before_a_code_is_made(
    db: Database, clock: FixedClock
) -> None:
    me = await account(db, clock)
    for _ in range(LIMITS.codes_per_hour):
        await send(db, clock, me, ADDRESS)
    with pytest.raises(TooManyRequests):
        await send(db, clock, me, "other@example.hk")
    assert (await status(db, me)).pending == ADDRESS

    async def emailed(conn: AsyncConnection) -> int | None:
        return await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.kind == "email")
        )

    assert await db.read(emailed) == LIMITS.codes_per_hour
