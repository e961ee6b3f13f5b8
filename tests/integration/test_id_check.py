"""The ID check at the counter on SQLite and PostgreSQL: match or no match only; the policy
(the amount threshold, a suspended SIM always); a match valid for that clerk and SIM for a
while; fifty wrong checks at once compare five; and the number typed is stored and logged
nowhere."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.counter import service as counter
from simkeep.counter import tables as ct
from simkeep.counter.model import IdPolicy
from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.sims.model import IdType, SimState
from simkeep.staff import tables as st
from tests.counter_world import HERE, ID_KEY, LIMITS, Place, open_shift, place, sim, topup

AT_ONCE = 50
WRONG = "B765432(1)"
PASSPORT = "K12345678"


async def outcome(call: Awaitable[object]) -> str:
    try:
        result = await call
    except Refusal as error:
        return error.code
    return "match" if result else "no_match"


def check(
    db: Database,
    where: Place,
    clock: FixedClock,
    number: str,
    id_number: str,
    id_type: IdType = IdType.HKID,
) -> Awaitable[bool]:
    return counter.check_id(
        db,
        clerk=where.clerk,
        number=number,
        id_type=id_type.value,
        id_number=id_number,
        id_key=ID_KEY,
        limits=LIMITS,
        actor=HERE,
        now=clock.now(),
    )


def sell(db: Database, where: Place, clock: FixedClock, key: str, number: str, whole: int):  # type: ignore[no-untyped-def]
    return outcome(
        counter.top_up(
            db,
            clerk=where.clerk,
            device_id=None,
            request=topup(key, number, whole),
            policy=IdPolicy(),
            now=clock.now(),
        )
    )


async def test_the_answer_is_match_or_no_match_and_the_type_counts(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    number = card.hk_number.e164

    assert await outcome(check(db, where, clock, number, "a123456 (3)")) == "match"
    assert await outcome(check(db, where, clock, number, WRONG)) == "no_match"
    assert await outcome(check(db, where, clock, number, PASSPORT, IdType.PASSPORT)) == "no_match"
    assert await outcome(check(db, where, clock, number, "12")) == "invalid_id_document"
    assert await outcome(check(db, where, clock, "+85251234567", WRONG)) == "unknown_number"


async def test_500_or_more_needs_a_recent_match_below_it_does_not(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    number = card.hk_number.e164
    await open_shift(db, where, now=clock.now())

    assert await sell(db, where, clock, "key-small-01", number, 499) == "match"  # went through
    assert await sell(db, where, clock, "key-large-01", number, 500) == "id_check_required"
    assert await outcome(check(db, where, clock, number, WRONG)) == "no_match"
    assert await sell(db, where, clock, "key-large-01", number, 500) == "id_check_required"
    assert await outcome(check(db, where, clock, number, "A123456(3)")) == "match"
    assert await sell(db, where, clock, "key-large-01", number, 500) == "match"

    clock.advance(LIMITS.match_valid + timedelta(seconds=1))
    assert await sell(db, where, clock, "key-large-02", number, 500) == "id_check_required"


async def test_a_match_is_the_clerks_own(db: Database, clock: FixedClock) -> None:
    where = await place(db, now=clock.now())
    other = await place(db, now=clock.now(), code="OTHER", username="clerk.other", books=False)
    card = await sim(db, n=1, now=clock.now())
    number = card.hk_number.e164
    await open_shift(db, other, now=clock.now())

    assert await outcome(check(db, where, clock, number, "A123456(3)")) == "match"

    assert await sell(db, other, clock, "key-other-01", number, 600) == "id_check_required"


async def test_a_suspended_sim_always_needs_the_check(db: Database, clock: FixedClock) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now(), state=SimState.SUSPENDED)
    grace = await sim(db, n=2, now=clock.now(), state=SimState.GRACE)
    await open_shift(db, where, now=clock.now())

    assert await sell(db, where, clock, "key-susp-01", card.hk_number.e164, 10) == (
        "id_check_required"
    )
    assert await sell(db, where, clock, "key-grace-1", grace.hk_number.e164, 10) == "match"
    lookup = await counter.look_up(
        db, clerk=where.clerk, number=card.cn_number.e164, policy=IdPolicy(), now=clock.now()
    )
    assert lookup.always_check
    assert lookup.matched_until is None


async def test_fifty_wrong_checks_at_once_compare_five(db: Database, clock: FixedClock) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    number = card.hk_number.e164

    results = await asyncio.gather(
        *(outcome(check(db, where, clock, number, WRONG)) for _ in range(AT_ONCE))
    )

    assert Counter(results) == {"no_match": LIMITS.per_sim, "too_many_id_checks": 45}
    assert await outcome(check(db, where, clock, number, "A123456(3)")) == "too_many_id_checks"

    async def logged(conn: AsyncConnection) -> tuple[int, int]:
        checks = await conn.execute(select(func.count()).select_from(ct.id_checks))
        audited = await conn.execute(
            select(func.count()).where(st.audit.c.action == "pos.id_check")
        )
        return int(checks.scalar_one()), int(audited.scalar_one())

    assert await db.read(logged) == (LIMITS.per_sim, AT_ONCE + 1)
    clock.advance(LIMITS.window)
    assert await outcome(check(db, where, clock, number, "A123456(3)")) == "match"


async def test_a_clerk_is_limited_across_sims(db: Database, clock: FixedClock) -> None:
    where = await place(db, now=clock.now())
    cards = [await sim(db, n=n, now=clock.now()) for n in range(1, 6)]

    results = [
        await outcome(check(db, where, clock, card.hk_number.e164, WRONG))
        for card in cards
        for _ in range(LIMITS.per_sim - 1)
    ]

    assert Counter(results) == {"no_match": LIMITS.per_clerk}
    assert await outcome(check(db, where, clock, cards[0].cn_number.e164, WRONG)) == (
        "too_many_id_checks"
    )


async def test_a_match_gives_its_attempt_back(db: Database, clock: FixedClock) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    number = card.hk_number.e164

    for _ in range(LIMITS.per_sim - 1):
        assert await outcome(check(db, where, clock, number, WRONG)) == "no_match"
    for _ in range(3):
        assert await outcome(check(db, where, clock, number, "A123456(3)")) == "match"

    assert await outcome(check(db, where, clock, number, WRONG)) == "no_match"
    assert await outcome(check(db, where, clock, number, WRONG)) == "too_many_id_checks"


async def test_the_number_typed_is_stored_and_logged_nowhere(
    db: Database, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    typed = ["Z987654(2)", "A123456(3)", "440301199001011234", "H12345678", "E99887766"]
    kinds = [IdType.HKID, IdType.HKID, IdType.CN_RESIDENT_ID, IdType.HOME_RETURN_PERMIT]
    for id_number, kind in zip(typed, [*kinds, IdType.PASSPORT], strict=True):
        await outcome(check(db, where, clock, card.hk_number.e164, id_number, kind))

    text = await every_text(db)

    for id_number in typed:
        bare = id_number.replace("(", "").replace(")", "")
        for form in (id_number, bare, bare[:-1]):
            assert form not in text
            assert form not in caplog.text
    assert "match" in text  # the audit log holds the results


async def every_text(db: Database) -> str:
    """Every value of every row of every table, as text."""

    async def dump(conn: AsyncConnection) -> str:
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        parts = []
        for table in meta.sorted_tables:
            for row in await conn.execute(select(table)):
                parts.extend(str(value) for value in row)
        return "\n".join(parts)

    return await db.read(dump)
