"""Manual balance adjustments as worked examples, on SQLite and PostgreSQL (docs/staff.md).

Fiona (finance) enters adjustments of an HKD SIM's balance; Olive (finance) or Carl
(operator) decides them. The maker never decides their own (the service refuses it, and the
database too); fifty approvals at once post one journal; a debit never takes the SIM below
zero; a rejection moves nothing; entering and deciding are in the audit log with the
change; the same form sent twice is one adjustment. The ledger check passes after each."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.adjustments import service as adjustments
from simkeep.adjustments import tables as at
from simkeep.adjustments.model import (
    Adjustment,
    AdjustmentDecided,
    AdjustmentState,
    BelowZero,
    InvalidAdjustment,
    OwnAdjustment,
    SimRecycled,
)
from simkeep.adjustments.queries import get_adjustment
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.tables import journals as ledger_journals
from simkeep.money import Money
from simkeep.sims.model import Sim, SimState
from simkeep.staff import tables as staff_tables
from simkeep.staff.audit import Actor
from simkeep.statements import INTEGRITY_ERRORS
from tests.agent_world import operator
from tests.factories import issue_sim, seed_books


@dataclass
class World:
    db: Database
    clock: FixedClock
    sim: Sim
    maker: Actor  # fiona, finance
    checker: Actor  # olive, finance
    operator: Actor  # carl
    keys: int = 0


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> World:
    async def make(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        return await issue_sim(conn, n=1, plan="HK-KEEP", now=clock.now())

    sim = await db.transaction(make)
    fiona = await operator(db, "fiona", now=clock.now(), role="finance")
    olive = await operator(db, "olive", now=clock.now(), role="finance")
    carl = await operator(db, "carl", now=clock.now())
    origin = "127.0.0.1"
    return World(db, clock, sim, Actor(fiona, origin), Actor(olive, origin), Actor(carl, origin))


async def enter(
    w: World, amount: str, *, reason: str = "goodwill: a dropped call", key: str | None = None
) -> Adjustment:
    w.keys += 1
    return await adjustments.enter_adjustment(
        w.db,
        sim_id=w.sim.id,
        amount=amount,
        reason=reason,
        key=key or f"form-key-{w.keys:08d}",
        actor=w.maker,
        now=w.clock.now(),
    )


async def decide(
    w: World, adjustment: Adjustment, *, approve: bool = True, actor: Actor | None = None
) -> Adjustment:
    act = adjustments.approve if approve else adjustments.reject
    who = actor or w.checker
    return await w.db.transaction(
        lambda conn: act(
            conn, adjustment_id=adjustment.id, actor=who, note="checked", now=w.clock.now()
        )
    )


async def balance(w: World) -> Money:
    return await w.db.read(
        lambda conn: adjustments.spendable(conn, sim_id=w.sim.id, currency="HKD")
    )


async def journals(w: World) -> int:
    async def read(conn: AsyncConnection) -> int:
        found = await conn.scalar(
            select(func.count()).where(ledger_journals.c.client_id.like("adjustment:%"))
        )
        return int(found or 0)

    return await w.db.read(read)


async def audit_actions(w: World) -> list[str]:
    async def read(conn: AsyncConnection) -> list[str]:
        a = staff_tables.audit.c
        rows = await conn.execute(
            select(a.action).where(a.target_type == "adjustment").order_by(a.id)
        )
        return [row.action for row in rows]

    return await w.db.read(read)


async def books_ok(w: World) -> None:
    report = await w.db.transaction(ledger.check_books)
    assert report.ok, report


async def test_a_credit_waits_for_the_checker_then_moves_the_balance(world: World) -> None:
    w = world
    entered = await enter(w, "+50.00")
    assert entered.state is AdjustmentState.PENDING
    assert entered.amount == Money(5_000, "HKD")
    assert await balance(w) == Money(0, "HKD")  # nothing moves until someone else approves
    assert await journals(w) == 0

    approved = await decide(w, entered)

    assert approved.state is AdjustmentState.APPROVED
    assert approved.decided_by == w.checker.staff_id
    assert await balance(w) == Money(5_000, "HKD")
    journal = await w.db.read(
        lambda conn: ledger.get_journal_by_client_id(conn, client_id=f"adjustment:{entered.id}")
    )
    assert journal is not None
    assert journal.id == approved.journal_id
    expense = await w.db.read(
        lambda conn: ledger.account_ids(conn, codes=[chart.system_code(System.ADJUSTMENTS, "HKD")])
    )
    by_account = {posting.account_id: posting.amount for posting in journal.postings}
    assert by_account[next(iter(expense.values()))] == 5_000  # Dr adjustments (expense)
    assert sorted(by_account.values()) == [-5_000, 5_000]  # Cr the SIM's balance
    assert await audit_actions(w) == ["adjustment.enter", "adjustment.approve"]
    await books_ok(w)


async def test_the_maker_can_never_decide_their_own(world: World) -> None:
    w = world
    entered = await enter(w, "+20.00")
    for approve in (True, False):
        with pytest.raises(OwnAdjustment, match="another member of staff"):
            await decide(w, entered, approve=approve, actor=w.maker)
    assert (await decide(w, entered, actor=w.operator)).state is AdjustmentState.APPROVED
    assert await audit_actions(w) == ["adjustment.enter", "adjustment.approve"]


async def test_the_database_refuses_a_decision_by_the_maker(world: World) -> None:
    w = world
    entered = await enter(w, "+20.00")
    c = at.adjustments.c
    with pytest.raises(INTEGRITY_ERRORS):
        await w.db.transaction(
            lambda conn: conn.execute(
                update(at.adjustments)
                .where(c.id == entered.id)
                .values(state="rejected", decided_by=w.maker.staff_id, decided_at=w.clock.now())
            )
        )


async def test_fifty_approvals_at_once_post_one_journal(world: World) -> None:
    w = world
    entered = await enter(w, "+30.00")
    outcomes = await asyncio.gather(
        *(decide(w, entered, actor=(w.checker, w.operator)[n % 2]) for n in range(50)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, Adjustment) for o in outcomes) == 1, outcomes
    assert all(isinstance(o, Adjustment | AdjustmentDecided) for o in outcomes), outcomes
    assert await journals(w) == 1
    assert await balance(w) == Money(3_000, "HKD")
    assert await audit_actions(w) == ["adjustment.enter", "adjustment.approve"]
    await books_ok(w)


async def test_a_second_decision_is_told_it_was_decided(world: World) -> None:
    w = world
    entered = await enter(w, "+30.00")
    await decide(w, entered, approve=False)
    with pytest.raises(AdjustmentDecided, match="decided already"):
        await decide(w, entered, actor=w.operator)
    assert await balance(w) == Money(0, "HKD")


async def test_a_debit_never_takes_the_sim_below_zero(world: World) -> None:
    w = world
    await decide(w, await enter(w, "+50.00"))
    with pytest.raises(BelowZero):  # refused as it is entered: the balance holds 50
        await enter(w, "-80.00")
    first, second = await enter(w, "-40.00"), await enter(w, "-30.00")
    await decide(w, first)
    assert await balance(w) == Money(1_000, "HKD")

    with pytest.raises(BelowZero):  # 10 left: the ledger's floor refuses it at approval
        await decide(w, second)

    still = await w.db.read(lambda conn: get_adjustment(conn, adjustment_id=second.id))
    assert still is not None
    assert still.state is AdjustmentState.PENDING
    assert still.journal_id is None
    assert await balance(w) == Money(1_000, "HKD")
    assert await journals(w) == 2
    assert (await audit_actions(w)).count("adjustment.approve") == 2
    await books_ok(w)


async def test_a_rejection_changes_nothing_but_its_own_state(world: World) -> None:
    w = world
    entered = await enter(w, "+75.00")
    rejected = await decide(w, entered, approve=False)
    assert rejected.state is AdjustmentState.REJECTED
    assert rejected.decision_note == "checked"
    assert rejected.journal_id is None
    assert await balance(w) == Money(0, "HKD")
    assert await journals(w) == 0
    assert await audit_actions(w) == ["adjustment.enter", "adjustment.reject"]


async def test_the_same_form_sent_twice_is_one_adjustment(world: World) -> None:
    w = world
    once = await enter(w, "+10.00", key="the-same-form-key-1")
    again = await enter(w, "+10.00", key="the-same-form-key-1")
    assert again.id == once.id
    raced = await asyncio.gather(*(enter(w, "+10.00", key="the-same-form-key-2") for _ in range(5)))
    assert len({adjustment.id for adjustment in raced}) == 1
    assert await audit_actions(w) == ["adjustment.enter", "adjustment.enter"]


@pytest.mark.parametrize(
    ("amount", "reason", "code"),
    [
        ("0.00", "why", "zero_amount"),
        ("12.345", "why", "invalid_amount"),
        ("1e3", "why", "invalid_amount"),
        ("+100000.01", "why", "amount_too_large"),
        ("+10.00", "   ", "reason_missing"),
        ("+10.00", "x" * 501, "reason_too_long"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_entered(
    world: World, amount: str, reason: str, code: str
) -> None:
    w = world
    with pytest.raises(InvalidAdjustment) as refused:
        await enter(w, amount, reason=reason)
    assert refused.value.code == code
    assert await audit_actions(w) == []


async def test_a_recycled_sim_is_not_adjusted(db: Database, world: World) -> None:
    w = world
    recycled = await db.transaction(
        lambda conn: issue_sim(
            conn, n=2, plan="HK-KEEP", now=w.clock.now(), state=SimState.RECYCLED
        )
    )
    with pytest.raises(SimRecycled):
        await adjustments.enter_adjustment(
            db,
            sim_id=recycled.id,
            amount="+5.00",
            reason="why",
            key="recycled-sim-form-1",
            actor=w.maker,
            now=w.clock.now(),
        )
