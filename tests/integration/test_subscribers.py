"""Registering, logging in and out, codes and lockouts — on SQLite and PostgreSQL.

One-time codes travel the real way: the outbox, the worker's delivery, the simulated SMS
gateway; the test reads them off the simulated phone.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.notifications import service as notifications
from simkeep.simulators.sms import SimulatedSmsGateway
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import (
    AlreadyRegistered,
    BadCode,
    BadCredentials,
    CodePurpose,
    Limits,
    LockedOut,
    TooManyRequests,
    WeakPassword,
    auth_key,
)

KEY = auth_key("test-secret")
LIMITS = Limits()
PHONE = "+852 9123 4567"
E164 = "+85291234567"


async def code_for(db: Database, clock: FixedClock, phone: str = E164) -> str:
    gateway = SimulatedSmsGateway(db, clock)
    await notifications.deliver_due(db, gateway=gateway, now=clock.now())
    messages = await gateway.messages(to=phone)
    match = re.search(r"\b(\d{6})\b", messages[0].body)
    assert match, messages
    return match.group(1)


async def sign_up(db: Database, clock: FixedClock, password: str = "correct horse") -> str:
    await subscribers.request_code(
        db,
        phone=PHONE,
        purpose=CodePurpose.REGISTER,
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    code = await code_for(db, clock)
    session = await subscribers.register(
        db,
        phone=PHONE,
        code=code,
        password=password,
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    return session.token


async def test_register_with_an_sms_code_then_log_in_and_out(
    db: Database, clock: FixedClock
) -> None:
    token = await sign_up(db, clock)
    me = await subscribers.authenticate(db, token=token, now=clock.now())
    assert me is not None
    assert me.phone == E164

    session = await subscribers.login(
        db, phone="91234567", password="correct horse", limits=LIMITS, now=clock.now()
    )
    assert session.token != token  # a new session at every login
    await subscribers.logout(db, token=session.token, now=clock.now())
    assert await subscribers.authenticate(db, token=session.token, now=clock.now()) is None
    assert await subscribers.authenticate(db, token=token, now=clock.now()) is not None


async def test_a_wrong_or_used_code_registers_nothing(db: Database, clock: FixedClock) -> None:
    await subscribers.request_code(
        db,
        phone=PHONE,
        purpose=CodePurpose.REGISTER,
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    code = await code_for(db, clock)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(BadCode):
        await subscribers.register(
            db,
            phone=PHONE,
            code=wrong,
            password="correct horse",
            language="en",
            key=KEY,
            limits=LIMITS,
            now=clock.now(),
        )
    await subscribers.register(
        db,
        phone=PHONE,
        code=code,
        password="correct horse",
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    with pytest.raises((BadCode, AlreadyRegistered)):
        await subscribers.register(
            db,
            phone=PHONE,
            code=code,
            password="correct horse",
            language="en",
            key=KEY,
            limits=LIMITS,
            now=clock.now(),
        )


async def test_codes_expire_and_allow_few_guesses(db: Database, clock: FixedClock) -> None:
    await subscribers.request_code(
        db,
        phone=PHONE,
        purpose=CodePurpose.REGISTER,
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    code = await code_for(db, clock)
    for _ in range(LIMITS.code_attempts):
        with pytest.raises(BadCode):
            await subscribers.register(
                db,
                phone=PHONE,
                code="000000" if code != "000000" else "111111",
                password="correct horse",
                language="en",
                key=KEY,
                limits=LIMITS,
                now=clock.now(),
            )
    with pytest.raises(BadCode):  # the right code, too late: the guesses are spent
        await subscribers.register(
            db,
            phone=PHONE,
            code=code,
            password="correct horse",
            language="en",
            key=KEY,
            limits=LIMITS,
            now=clock.now(),
        )
    clock.advance(timedelta(minutes=1))
    await subscribers.request_code(
        db,
        phone=PHONE,
        purpose=CodePurpose.REGISTER,
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    fresh = await code_for(db, clock)
    clock.advance(LIMITS.code_ttl + timedelta(seconds=1))
    with pytest.raises(BadCode):
        await subscribers.register(
            db,
            phone=PHONE,
            code=fresh,
            password="correct horse",
            language="en",
            key=KEY,
            limits=LIMITS,
            now=clock.now(),
        )


async def test_codes_per_hour_are_limited(db: Database, clock: FixedClock) -> None:
    for _ in range(LIMITS.codes_per_hour):
        await subscribers.request_code(
            db,
            phone=PHONE,
            purpose=CodePurpose.REGISTER,
            language="en",
            key=KEY,
            limits=LIMITS,
            now=clock.now(),
        )
    with pytest.raises(TooManyRequests):
        await subscribers.request_code(
            db,
            phone=PHONE,
            purpose=CodePurpose.REGISTER,
            language="en",
            key=KEY,
            limits=LIMITS,
            now=clock.now(),
        )
    clock.advance(timedelta(hours=1, seconds=1))
    await subscribers.request_code(
        db,
        phone=PHONE,
        purpose=CodePurpose.REGISTER,
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )


async def test_failed_logins_lock_the_number_for_a_while(db: Database, clock: FixedClock) -> None:
    await sign_up(db, clock)
    for _ in range(LIMITS.login_failures):
        with pytest.raises(BadCredentials):
            await subscribers.login(
                db, phone=PHONE, password="wrong password", limits=LIMITS, now=clock.now()
            )
    with pytest.raises(LockedOut):  # even with the right password
        await subscribers.login(
            db, phone=PHONE, password="correct horse", limits=LIMITS, now=clock.now()
        )
    clock.advance(LIMITS.lockout + timedelta(seconds=1))
    await subscribers.login(
        db, phone=PHONE, password="correct horse", limits=LIMITS, now=clock.now()
    )


async def test_password_change_ends_every_session(db: Database, clock: FixedClock) -> None:
    first = await sign_up(db, clock)
    me = await subscribers.authenticate(db, token=first, now=clock.now())
    assert me is not None
    with pytest.raises(WeakPassword):
        await subscribers.change_password(
            db,
            subscriber_id=me.id,
            old_password="correct horse",
            new_password="short",
            limits=LIMITS,
            now=clock.now(),
        )
    fresh = await subscribers.change_password(
        db,
        subscriber_id=me.id,
        old_password="correct horse",
        new_password="battery staple",
        limits=LIMITS,
        now=clock.now(),
    )
    assert await subscribers.authenticate(db, token=first, now=clock.now()) is None
    assert await subscribers.authenticate(db, token=fresh.token, now=clock.now()) is not None
    with pytest.raises(BadCredentials):
        await subscribers.login(
            db, phone=PHONE, password="correct horse", limits=LIMITS, now=clock.now()
        )


async def test_reset_password_by_sms(db: Database, clock: FixedClock) -> None:
    await sign_up(db, clock)
    clock.advance(timedelta(minutes=1))
    await subscribers.request_code(
        db,
        phone=PHONE,
        purpose=CodePurpose.RESET_PASSWORD,
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    code = await code_for(db, clock)
    await subscribers.reset_password(
        db,
        phone=PHONE,
        code=code,
        new_password="a new secret",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    await subscribers.login(
        db, phone=PHONE, password="a new secret", limits=LIMITS, now=clock.now()
    )


async def test_unknown_numbers_get_no_reset_code(db: Database, clock: FixedClock) -> None:
    await subscribers.request_code(
        db,
        phone="+86 138 1234 5678",
        purpose=CodePurpose.RESET_PASSWORD,
        language="en",
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    gateway = SimulatedSmsGateway(db, clock)
    assert await notifications.deliver_due(db, gateway=gateway, now=clock.now()) == 0


async def test_an_unknown_number_cannot_log_in(db: Database, clock: FixedClock) -> None:
    with pytest.raises(BadCredentials):
        await subscribers.login(
            db,
            phone="+86 138 1234 5678",
            password="whatever it is",
            limits=LIMITS,
            now=clock.now(),
        )
