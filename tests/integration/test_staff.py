"""Staff accounts on SQLite and PostgreSQL: login with password and TOTP (a wrong code, a
replayed code, one step of clock drift), enrolment, the lockout counted before the check
under fifty attempts at once, and the audit log written with the change and never edited."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.staff import audit
from simkeep.staff import service as staff
from simkeep.staff import tables as t
from simkeep.staff.audit import CLI, Actor, Target
from simkeep.staff.model import StaffError, StaffLimits, code_at, time_step

LIMITS = StaffLimits()
PASSWORD = "operator password"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
AT_ONCE = 50


async def outcome(call: Awaitable[object]) -> str:
    try:
        await call
    except StaffError as error:
        return error.code
    return "ok"


async def enrolled(db: Database, clock: FixedClock, username: str = "olive") -> int:
    """An operator whose TOTP is confirmed, its last step well behind now."""
    new = await staff.add_staff(
        db,
        username=username,
        display_name="Olive Operator",
        role="operator",
        password=PASSWORD,
        actor=CLI,
        now=clock.now(),
        totp_secret=SECRET,
    )

    async def confirm(conn: AsyncConnection) -> None:
        await conn.execute(
            update(t.members).where(t.members.c.id == new.id).values(totp_confirmed_at=clock.now())
        )

    await db.transaction(confirm)
    return new.id


def login(db: Database, clock: FixedClock, password: str, code: str) -> Awaitable[object]:
    return staff.login(
        db, username="olive", password=password, code=code, limits=LIMITS, now=clock.now()
    )


def now_code(clock: FixedClock, offset: int = 0) -> str:
    return code_at(SECRET, time_step(clock.now()) + offset)


async def test_login_with_the_current_code_opens_a_full_session(
    db: Database, clock: FixedClock
) -> None:
    staff_id = await enrolled(db, clock)

    session = await staff.login(
        db,
        username="Olive",
        password=PASSWORD,
        code=now_code(clock),
        limits=LIMITS,
        now=clock.now(),
    )

    member = await staff.authenticate(db, token=session.token, now=clock.now())
    assert member is not None
    assert member.id == staff_id
    assert member.second_factor
    assert member.role == "operator"
    await staff.logout(db, token=session.token, now=clock.now())
    assert await staff.authenticate(db, token=session.token, now=clock.now()) is None


async def test_a_wrong_code_or_password_is_refused(db: Database, clock: FixedClock) -> None:
    await enrolled(db, clock)
    wrong = f"{(int(now_code(clock)) + 1) % 1_000_000:06d}"

    assert await outcome(login(db, clock, PASSWORD, wrong)) == "bad_totp"
    assert await outcome(login(db, clock, PASSWORD, "")) == "bad_totp"
    assert await outcome(login(db, clock, "not it at all", now_code(clock))) == "bad_credentials"
    assert await outcome(login(db, clock, PASSWORD, now_code(clock, +2))) == "bad_totp"


async def test_a_code_is_accepted_once(db: Database, clock: FixedClock) -> None:
    await enrolled(db, clock)
    code = now_code(clock)
    assert await outcome(login(db, clock, PASSWORD, code)) == "ok"

    assert await outcome(login(db, clock, PASSWORD, code)) == "bad_totp"
    clock.advance(timedelta(seconds=30))  # the same code, one step late: still within drift
    assert await outcome(login(db, clock, PASSWORD, code)) == "bad_totp"
    assert await outcome(login(db, clock, PASSWORD, now_code(clock))) == "ok"


async def test_one_code_sent_twice_at_once_opens_one_session(
    db: Database, clock: FixedClock
) -> None:
    await enrolled(db, clock)
    code = now_code(clock)

    outcomes = Counter(
        await asyncio.gather(*(outcome(login(db, clock, PASSWORD, code)) for _ in range(5)))
    )

    assert outcomes == {"ok": 1, "bad_totp": 4}


@pytest.mark.parametrize("offset", [-1, +1])
async def test_one_step_of_clock_drift_either_way(
    db: Database, clock: FixedClock, offset: int
) -> None:
    await enrolled(db, clock)

    assert await outcome(login(db, clock, PASSWORD, now_code(clock, offset))) == "ok"


async def test_an_older_code_after_a_newer_one_is_refused(db: Database, clock: FixedClock) -> None:
    await enrolled(db, clock)
    assert await outcome(login(db, clock, PASSWORD, now_code(clock, +1))) == "ok"

    assert await outcome(login(db, clock, PASSWORD, now_code(clock))) == "bad_totp"


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
async def test_fifty_wrong_attempts_at_once_get_five_checks_then_a_lock(
    db: Database, clock: FixedClock, known: bool
) -> None:
    await enrolled(db, clock, "olive" if known else "someone")
    calls = [login(db, clock, f"wrong {n}", now_code(clock)) for n in range(AT_ONCE)]

    outcomes = Counter(await asyncio.gather(*(outcome(call) for call in calls)))

    if not known:  # nothing to lock: every attempt is checked, and fails alike
        assert outcomes == {"bad_credentials": AT_ONCE}
        return
    assert outcomes == {
        "bad_credentials": LIMITS.login_failures,
        "locked_out": AT_ONCE - LIMITS.login_failures,
    }
    assert await outcome(login(db, clock, PASSWORD, now_code(clock))) == "locked_out"
    clock.advance(LIMITS.lockout)
    assert await outcome(login(db, clock, PASSWORD, now_code(clock))) == "ok"


async def test_a_success_resets_the_attempts(db: Database, clock: FixedClock) -> None:
    await enrolled(db, clock)
    for n in range(LIMITS.login_failures - 1):
        assert await outcome(login(db, clock, f"wrong {n}", "")) == "bad_credentials"
    assert await outcome(login(db, clock, PASSWORD, now_code(clock))) == "ok"

    outcomes = [await outcome(login(db, clock, "wrong", "")) for _ in range(LIMITS.login_failures)]

    assert outcomes == ["bad_credentials"] * LIMITS.login_failures


async def test_a_disabled_member_cannot_log_in(db: Database, clock: FixedClock) -> None:
    staff_id = await enrolled(db, clock)

    async def disable(conn: AsyncConnection) -> None:
        await conn.execute(
            update(t.members).where(t.members.c.id == staff_id).values(disabled=True)
        )

    await db.transaction(disable)

    assert await outcome(login(db, clock, PASSWORD, now_code(clock))) == "bad_credentials"


async def test_enrolment_first_then_a_confirmed_code(db: Database, clock: FixedClock) -> None:
    new = await staff.add_staff(
        db,
        username="ada",
        display_name="Ada Auditor",
        role="auditor",
        password=PASSWORD,
        actor=CLI,
        now=clock.now(),
    )
    assert new.totp_uri.startswith("otpauth://totp/simkeep:ada?secret=")

    enrolling = await staff.login(
        db, username="ada", password=PASSWORD, code="", limits=LIMITS, now=clock.now()
    )
    member = await staff.authenticate(db, token=enrolling.token, now=clock.now())
    assert member is not None
    assert not member.second_factor
    assert await staff.enrolment(db, staff_id=new.id) == (new.totp_secret, new.totp_uri)

    actor = Actor(new.id, "192.0.2.1")
    with pytest.raises(StaffError, match="wrong code"):
        await staff.confirm_totp(
            db, token=enrolling.token, code="000000", actor=actor, limits=LIMITS, now=clock.now()
        )
    code = code_at(new.totp_secret, time_step(clock.now()))
    full = await staff.confirm_totp(
        db, token=enrolling.token, code=code, actor=actor, limits=LIMITS, now=clock.now()
    )

    assert full.second_factor
    assert full.token != enrolling.token
    assert await staff.authenticate(db, token=enrolling.token, now=clock.now()) is None
    accounts = {account.username: account for account in await staff.list_staff(db)}
    assert accounts["ada"].enrolled
    with pytest.raises(StaffError):  # the code that confirmed is spent
        await staff.login(
            db, username="ada", password=PASSWORD, code=code, limits=LIMITS, now=clock.now()
        )
    entries = await db.read(lambda conn: audit.entries(conn, staff_id=new.id))
    assert [(e.action, e.origin, e.after) for e in entries] == [
        ("staff.totp_confirmed", "192.0.2.1", {"totp": "confirmed"})
    ]


async def test_adding_staff_is_audited_and_a_username_is_taken_once(
    db: Database, clock: FixedClock
) -> None:
    await enrolled(db, clock)

    with pytest.raises(StaffError, match="taken"):
        await enrolled(db, clock)
    with pytest.raises(StaffError, match="role"):
        await staff.add_staff(
            db,
            username="x1",
            display_name="X",
            role="root",
            password=PASSWORD,
            actor=CLI,
            now=clock.now(),
        )

    entries = await db.read(lambda conn: audit.entries(conn, action="staff.add"))
    assert [(e.action, e.origin, e.staff_id, e.before, e.after) for e in entries] == [
        (
            "staff.add",
            "cli",
            None,
            None,
            {"username": "olive", "display_name": "Olive Operator", "role": "operator"},
        )
    ]


async def test_the_audit_log_refuses_edits_and_deletions(db: Database, clock: FixedClock) -> None:
    async def write(conn: AsyncConnection) -> None:
        await audit.record(
            conn,
            actor=CLI,
            action="test.thing",
            target=Target("thing", 1),
            before={"a": 1},
            after={"a": 2},
            now=clock.now(),
        )

    await db.transaction(write)

    async def edit(conn: AsyncConnection) -> None:
        await conn.execute(update(t.audit).values(action="forged"))

    async def erase(conn: AsyncConnection) -> None:
        await conn.execute(delete(t.audit))

    for change in (edit, erase):
        with pytest.raises(Exception, match="append-only"):
            await db.transaction(change)
    rows = await db.read(lambda conn: conn.execute(select(t.audit.c.action)))
    assert list(rows.scalars()) == ["test.thing"]
