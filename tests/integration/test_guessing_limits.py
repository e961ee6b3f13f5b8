"""Guessing limits under attempts sent all at once — on SQLite and PostgreSQL.

Each limit is counted before the check it guards, by one statement, so fifty attempts at
once get no more checks than the limit allows, and a check that ends late cannot undo what
the count says (docs/security.md, "Guessing limits").
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.notifications.tables import outbox
from simkeep.sims import service as sims
from simkeep.sims.model import Sim
from simkeep.subscribers import service as subscribers
from simkeep.subscribers import statements
from simkeep.subscribers.model import (
    AuthError,
    BadCode,
    CodePurpose,
    Limits,
    LockedOut,
    auth_key,
    verify_password,
)
from simkeep.subscribers.tables import codes
from tests.factories import issue_sim, last_code

KEY = auth_key("test-secret")
LIMITS = Limits()
PHONE = "+852 9123 4567"
E164 = "+85291234567"
PASSWORD = "correct horse"
AT_ONCE = 50
LANGUAGE = "zh_Hant_HK"


async def outcome(call: Awaitable[object]) -> str:
    """``ok``, or the code of the refusal."""
    try:
        await call
    except AuthError as error:
        return error.code
    return "ok"


async def all_at_once(calls: list[Awaitable[object]]) -> Counter[str]:
    return Counter(await asyncio.gather(*(outcome(call) for call in calls)))


async def connections_open(db: Database, count: int) -> None:
    """Open ``count`` connections first (PostgreSQL), so that submissions sent at once reach
    the database together, as from separate processes, rather than one behind another's
    connection."""
    await asyncio.gather(*(db.read(lambda conn: asyncio.sleep(0.01)) for _ in range(count)))


def login(db: Database, clock: FixedClock, password: str) -> Awaitable[object]:
    return subscribers.login(db, phone=PHONE, password=password, limits=LIMITS, now=clock.now())


def wrong_logins(db: Database, clock: FixedClock, count: int) -> list[Awaitable[object]]:
    return [login(db, clock, f"wrong password {n}") for n in range(count)]


# --- logins --------------------------------------------------------------------------------


@pytest.mark.parametrize("registered", [True, False], ids=["registered", "unknown"])
async def test_fifty_wrong_passwords_at_once_get_five_checks_then_a_lock(
    db: Database, clock: FixedClock, registered: bool
) -> None:
    if registered:
        await subscribers.enroll(
            db, phone=PHONE, password=PASSWORD, language=LANGUAGE, now=clock.now()
        )

    outcomes = await all_at_once(wrong_logins(db, clock, AT_ONCE))

    assert outcomes == {
        "bad_credentials": LIMITS.login_failures,
        "locked_out": AT_ONCE - LIMITS.login_failures,
    }
    with pytest.raises(LockedOut, match="try again after 09:15 UTC"):  # not even checked
        await login(db, clock, PASSWORD)
    clock.advance(LIMITS.lockout - timedelta(seconds=1))
    with pytest.raises(LockedOut):
        await login(db, clock, PASSWORD)
    clock.advance(timedelta(seconds=1))  # the window that began with the first attempt is over
    assert await outcome(login(db, clock, PASSWORD)) == ("ok" if registered else "bad_credentials")


async def test_a_success_resets_the_count(db: Database, clock: FixedClock) -> None:
    await subscribers.enroll(db, phone=PHONE, password=PASSWORD, language=LANGUAGE, now=clock.now())
    for call in wrong_logins(db, clock, LIMITS.login_failures - 1):
        assert await outcome(call) == "bad_credentials"
    await login(db, clock, PASSWORD)

    outcomes = [await outcome(call) for call in wrong_logins(db, clock, LIMITS.login_failures)]

    assert outcomes == ["bad_credentials"] * LIMITS.login_failures
    assert await outcome(login(db, clock, PASSWORD)) == "locked_out"


async def test_guessing_the_current_password_to_change_it_takes_the_same_attempts(
    db: Database, clock: FixedClock
) -> None:
    subscriber_id = await subscribers.enroll(
        db, phone=PHONE, password=PASSWORD, language=LANGUAGE, now=clock.now()
    )

    def change(old: str) -> Awaitable[object]:
        return subscribers.change_password(
            db,
            subscriber_id=subscriber_id,
            old_password=old,
            new_password="a new secret",
            limits=LIMITS,
            now=clock.now(),
        )

    outcomes = await all_at_once([change(f"guess {n}") for n in range(AT_ONCE)])

    assert outcomes == {
        "bad_credentials": LIMITS.login_failures,
        "locked_out": AT_ONCE - LIMITS.login_failures,
    }
    assert await outcome(login(db, clock, PASSWORD)) == "locked_out"  # one limit per number
    assert await outcome(change(PASSWORD)) == "locked_out"
    clock.advance(LIMITS.lockout)
    assert await outcome(change(PASSWORD)) == "ok"  # a new password resets the attempts
    for call in wrong_logins(db, clock, LIMITS.login_failures - 1):
        assert await outcome(call) == "bad_credentials"


class HeldCheck:
    """Holds the password check of one password back until released. argon2 runs in a
    thread, outside any transaction, so the test can choose which check ends last."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.started = threading.Event()
        self.released = threading.Event()

    def verify(self, password_hash: str, password: str) -> bool:
        if password == self.password:
            self.started.set()
            self.released.wait(timeout=10)
        return verify_password(password_hash, password)


async def test_a_failure_checked_after_a_success_adds_nothing(
    db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await subscribers.enroll(db, phone=PHONE, password=PASSWORD, language=LANGUAGE, now=clock.now())
    for call in wrong_logins(db, clock, LIMITS.login_failures - 2):
        assert await outcome(call) == "bad_credentials"
    held = HeldCheck("a late wrong password")
    monkeypatch.setattr(subscribers, "verify_password", held.verify)
    late = asyncio.create_task(outcome(login(db, clock, held.password)))
    assert await asyncio.to_thread(held.started.wait, 10)  # its attempt is taken and counted

    await login(db, clock, PASSWORD)  # the last attempt of the window: a success resets
    held.released.set()
    assert await late == "bad_credentials"

    outcomes = [await outcome(call) for call in wrong_logins(db, clock, LIMITS.login_failures)]
    assert outcomes == ["bad_credentials"] * LIMITS.login_failures  # a whole window's worth
    assert await outcome(login(db, clock, PASSWORD)) == "locked_out"


# --- one-time codes ------------------------------------------------------------------------


async def register_code(db: Database, clock: FixedClock) -> str:
    await subscribers.request_code(
        db,
        phone=PHONE,
        purpose=CodePurpose.REGISTER,
        language=LANGUAGE,
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )
    return await last_code(db, E164)


def confirm(db: Database, clock: FixedClock, code: str) -> Awaitable[None]:
    return subscribers.confirm_code(
        db,
        phone=PHONE,
        purpose=CodePurpose.REGISTER,
        code=code,
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )


def wrong_codes(right: str, count: int) -> list[str]:
    return [f"{(int(right) + n) % 1_000_000:06d}" for n in range(1, count + 1)]


async def code_attempts(db: Database) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(codes.c.attempts))).scalar_one())

    return await db.read(read)


async def test_fifty_wrong_codes_at_once_spend_the_code(db: Database, clock: FixedClock) -> None:
    right = await register_code(db, clock)

    outcomes = await all_at_once([confirm(db, clock, code) for code in wrong_codes(right, 50)])

    assert outcomes == {"bad_code": AT_ONCE}
    with pytest.raises(BadCode):  # its attempts are used up
        await confirm(db, clock, right)
    assert await code_attempts(db) == LIMITS.code_attempts  # counted up to the limit, no further


async def test_a_code_accepts_the_right_digits_at_its_last_attempt(
    db: Database, clock: FixedClock
) -> None:
    right = await register_code(db, clock)
    for code in wrong_codes(right, LIMITS.code_attempts - 1):
        assert await outcome(confirm(db, clock, code)) == "bad_code"

    await confirm(db, clock, right)

    with pytest.raises(BadCode):  # good once
        await confirm(db, clock, right)


async def test_two_right_submissions_at_once_use_the_code_once(
    db: Database, clock: FixedClock
) -> None:
    right = await register_code(db, clock)
    await connections_open(db, 2)

    outcomes = await all_at_once([confirm(db, clock, right), confirm(db, clock, right)])

    assert outcomes == {"ok": 1, "bad_code": 1}


async def test_a_code_reserved_by_two_submissions_is_used_by_one(
    db: Database, clock: FixedClock
) -> None:
    """Two right submissions both inside the code's attempts, as from two processes: both
    take an attempt before either marks the code used, and the mark decides."""
    await register_code(db, clock)

    async def submit(conn: AsyncConnection) -> statements.LiveCode | None:
        return await statements.take_code_attempt(
            conn,
            phone=E164,
            purpose=CodePurpose.REGISTER,
            limit=LIMITS.code_attempts,
            now=clock.now(),
        )

    first, second = [await db.one_statement(submit) for _ in range(2)]
    assert first is not None
    assert second == first

    async def use(conn: AsyncConnection) -> bool:
        return await statements.mark_code_used(conn, code_id=first.id, now=clock.now())

    assert [await db.one_statement(use) for _ in range(2)] == [True, False]
    assert await db.one_statement(submit) is None  # a used code takes no more attempts


async def test_fifty_code_requests_at_once_queue_the_hourly_limit_of_sms(
    db: Database, clock: FixedClock
) -> None:
    requests = [
        subscribers.request_code(
            db,
            phone=PHONE,
            purpose=purpose,
            language=LANGUAGE,
            key=KEY,
            limits=LIMITS,
            now=clock.now(),
        )
        for purpose in [CodePurpose.REGISTER, CodePurpose.LINK_SIM] * (AT_ONCE // 2)
    ]

    outcomes = await all_at_once(requests)

    assert outcomes == {
        "ok": LIMITS.codes_per_hour,
        "too_many_requests": AT_ONCE - LIMITS.codes_per_hour,
    }

    async def queued(conn: AsyncConnection) -> int:
        count = select(func.count()).select_from(outbox).where(outbox.c.recipient == E164)
        return int((await conn.execute(count)).scalar_one())

    assert await db.read(queued) == LIMITS.codes_per_hour


# --- SIM link codes ------------------------------------------------------------------------


async def sim_and_subscriber(db: Database, clock: FixedClock) -> tuple[Sim, int]:
    async def setup(conn: AsyncConnection) -> Sim:
        await sims.ensure_plans(conn)
        return await issue_sim(conn, n=1, plan="HK-KEEP", now=clock.now())

    sim = await db.transaction(setup)
    subscriber_id = await subscribers.enroll(
        db, phone=PHONE, password=PASSWORD, language=LANGUAGE, now=clock.now()
    )
    await sims.request_link_code(
        db, number=sim.hk_number.e164, language=LANGUAGE, key=KEY, limits=LIMITS, now=clock.now()
    )
    return sim, subscriber_id


def link(
    db: Database, clock: FixedClock, sim: Sim, subscriber_id: int, code: str
) -> Awaitable[Sim]:
    return sims.link_sim(
        db,
        subscriber_id=subscriber_id,
        number=sim.hk_number.e164,
        language=LANGUAGE,
        code=code,
        key=KEY,
        limits=LIMITS,
        now=clock.now(),
    )


async def linked(db: Database, subscriber_id: int) -> list[int]:
    async def read(conn: AsyncConnection) -> list[int]:
        return [held.sim.id for held in await sims.held_sims(conn, subscriber_id=subscriber_id)]

    return await db.transaction(read)


async def test_fifty_wrong_link_codes_at_once_spend_the_code(
    db: Database, clock: FixedClock
) -> None:
    sim, subscriber_id = await sim_and_subscriber(db, clock)
    right = await last_code(db, sim.hk_number.e164)

    outcomes = await all_at_once(
        [link(db, clock, sim, subscriber_id, code) for code in wrong_codes(right, AT_ONCE)]
    )

    assert outcomes == {"bad_code": AT_ONCE}
    with pytest.raises(BadCode):
        await link(db, clock, sim, subscriber_id, right)
    assert await code_attempts(db) == LIMITS.code_attempts
    assert await linked(db, subscriber_id) == []


async def test_a_link_code_sent_twice_at_its_last_attempts_links_once(
    db: Database, clock: FixedClock
) -> None:
    sim, subscriber_id = await sim_and_subscriber(db, clock)
    right = await last_code(db, sim.hk_number.e164)
    for code in wrong_codes(right, LIMITS.code_attempts - 2):
        assert await outcome(link(db, clock, sim, subscriber_id, code)) == "bad_code"
    await connections_open(db, 2)

    outcomes = await all_at_once(
        [link(db, clock, sim, subscriber_id, right), link(db, clock, sim, subscriber_id, right)]
    )

    assert outcomes == {"ok": 1, "bad_code": 1}  # both within the attempts: one uses the code
    assert await linked(db, subscriber_id) == [sim.id]
