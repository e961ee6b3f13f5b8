"""Agents' floats in the books, as worked examples, on SQLite and PostgreSQL.

Golden Gate Agency pays HK$10,000 into its float: olive enters it, fiona approves it, and
the float reads HK$10,000.00 — once, however often or however concurrently it is approved;
olive can never approve her own. A credit limit lets a float go below zero, and is refused
when a float is already below the new floor."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from itertools import count

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.ledger.model import InsufficientFunds
from simkeep.ledger.tables import journals
from simkeep.money import Money
from simkeep.outlets import floats
from simkeep.outlets import tables as ot
from simkeep.outlets.float_model import (
    DepositNotPending,
    DepositState,
    FloatBelowLimit,
    InvalidDeposit,
    MakerCannotCheck,
    ReferenceUsed,
)
from simkeep.outlets.model import UnknownAgent
from simkeep.staff import audit
from simkeep.staff.audit import Actor
from simkeep.statements import INTEGRITY_ERRORS
from tests.agent_world import Agency, agency, operator

HK = "HKD"
SALES = count(1)


def hkd(text: str) -> Money:
    return Money.parse(text, HK)


async def balance(db: Database, code: str) -> Money:
    async def read(conn: AsyncConnection) -> Money:
        account = await ledger.get_account_by_code(conn, code=code)
        assert account is not None, code
        return (await ledger.get_balance(conn, account_id=account.id)).money()

    return await db.read(read)


async def journal_count(db: Database) -> int:
    async def read(conn: AsyncConnection) -> int:
        query = select(func.count()).select_from(journals)
        return int((await conn.execute(query)).scalar_one())

    return await db.read(read)


async def sell_voucher(db: Database, a: Agency, amount: Money, now: datetime) -> None:
    """An outlet sells a voucher of ``amount``: the float pays for it, as a sale does."""

    async def sell(conn: AsyncConnection) -> None:
        accounts = await floats.float_accounts(
            conn, agent_id=a.agent_id, currency=amount.currency, now=now
        )
        codes = [
            chart.system_code(System.VOUCHERS_OUTSTANDING, amount.currency),
            chart.system_code(System.COMMISSION_EXPENSE, amount.currency),
        ]
        ids = await ledger.account_ids(conn, codes=codes)
        await ledger.post_journal(
            conn,
            client_id=f"sale:{next(SALES)}",
            postings=rules.voucher_sale(
                agent_float=accounts.float_id,
                vouchers_outstanding=ids[codes[0]],
                commission_expense=ids[codes[1]],
                commission_payable=accounts.commission_id,
                face_value=amount,
                commission=floats.commission_for(amount, 150),
            ),
            now=now,
        )

    await db.transaction(sell)


async def funded(db: Database, clock: FixedClock, amount: str = "10000.00") -> Agency:
    a = await agency(db, now=clock.now())
    deposit = await floats.enter_deposit(
        db,
        agent_id=a.agent_id,
        amount=hkd(amount),
        reference="HSBC-0001",
        actor=a.maker,
        now=clock.now(),
    )
    await floats.approve_deposit(db, deposit_id=deposit.id, actor=a.checker, now=clock.now())
    return a


async def test_a_deposit_of_ten_thousand_makes_a_float_of_ten_thousand(
    db: Database, clock: FixedClock
) -> None:
    a = await agency(db, now=clock.now())
    entered = await floats.enter_deposit(
        db,
        agent_id=a.agent_id,
        amount=hkd("10000.00"),
        reference=" HSBC-0001 ",
        actor=a.maker,
        now=clock.now(),
    )
    assert entered.state is DepositState.PENDING
    assert entered.reference == "HSBC-0001"
    assert entered.journal_id is None
    journals_before = await journal_count(db)

    approved = await floats.approve_deposit(
        db, deposit_id=entered.id, actor=a.checker, now=clock.now()
    )

    assert approved.state is DepositState.APPROVED
    assert approved.checked_by == a.checker.staff_id
    assert await balance(db, f"agent:{a.agent_id}:float:HKD") == hkd("10000.00")
    assert await balance(db, f"agent:{a.agent_id}:commission:HKD") == hkd("0")
    assert await balance(db, "bank:HKD") == hkd("10000.00")
    assert await journal_count(db) == journals_before + 1

    async def check(conn: AsyncConnection) -> None:
        journal = await ledger.get_journal_by_client_id(
            conn, client_id=f"float_deposit:{entered.id}"
        )
        assert journal is not None
        assert journal.id == approved.journal_id
        log = await audit.entries(conn)
        assert [(e.action, e.staff_id) for e in log[:2]] == [
            ("float_deposit.approve", a.checker.staff_id),
            ("float_deposit.enter", a.maker.staff_id),
        ]
        assert log[0].before["state"] == "pending"
        assert log[0].after["state"] == "approved"
        assert log[0].after["journal_id"] == journal.id
        assert (await ledger.check_books(conn)).ok

    await db.read(check)


async def test_approving_twice_books_once(db: Database, clock: FixedClock) -> None:
    a = await funded(db, clock)
    (deposit,) = await db.read(lambda conn: floats.deposits(conn, agent_id=a.agent_id))
    journals_before = await journal_count(db)

    with pytest.raises(DepositNotPending):
        await floats.approve_deposit(db, deposit_id=deposit.id, actor=a.checker, now=clock.now())
    with pytest.raises(DepositNotPending):
        await floats.reject_deposit(
            db, deposit_id=deposit.id, reason="late", actor=a.checker, now=clock.now()
        )

    assert await journal_count(db) == journals_before
    assert await balance(db, f"agent:{a.agent_id}:float:HKD") == hkd("10000.00")


async def test_the_maker_cannot_approve_or_reject_her_own(db: Database, clock: FixedClock) -> None:
    a = await agency(db, now=clock.now())
    deposit = await floats.enter_deposit(
        db, agent_id=a.agent_id, amount=hkd("500"), reference="R1", actor=a.maker, now=clock.now()
    )
    audited = len(await db.read(lambda conn: audit.entries(conn)))

    with pytest.raises(MakerCannotCheck):
        await floats.approve_deposit(db, deposit_id=deposit.id, actor=a.maker, now=clock.now())
    with pytest.raises(MakerCannotCheck):
        await floats.reject_deposit(
            db, deposit_id=deposit.id, reason="oops", actor=a.maker, now=clock.now()
        )

    (still,) = await db.read(lambda conn: floats.deposits(conn, agent_id=a.agent_id))
    assert still.state is DepositState.PENDING
    assert len(await db.read(lambda conn: audit.entries(conn))) == audited

    async def as_maker(conn: AsyncConnection) -> None:  # the table refuses it as well
        await conn.execute(
            update(ot.float_deposits)
            .where(ot.float_deposits.c.id == deposit.id)
            .values(state="approved", checked_by=a.maker.staff_id, checked_at=clock.now())
        )

    with pytest.raises(INTEGRITY_ERRORS):
        await db.transaction(as_maker)


async def test_fifty_concurrent_approvals_book_once(db: Database, clock: FixedClock) -> None:
    a = await agency(db, now=clock.now())
    checkers = [a.checker, Actor(await operator(db, "carl", now=clock.now()), "test")]
    deposit = await floats.enter_deposit(
        db,
        agent_id=a.agent_id,
        amount=hkd("10000"),
        reference="HSBC-0002",
        actor=a.maker,
        now=clock.now(),
    )

    async def approve(n: int) -> str:
        try:
            await floats.approve_deposit(
                db, deposit_id=deposit.id, actor=checkers[n % 2], now=clock.now()
            )
        except DepositNotPending:
            return "refused"
        return "approved"

    outcomes = Counter(await asyncio.gather(*(approve(n) for n in range(50))))

    assert outcomes == {"approved": 1, "refused": 49}
    assert await balance(db, f"agent:{a.agent_id}:float:HKD") == hkd("10000.00")
    assert await balance(db, "bank:HKD") == hkd("10000.00")

    async def approvals(conn: AsyncConnection) -> int:
        return len(await audit.entries(conn, action="float_deposit.approve"))

    assert await db.read(approvals) == 1


async def test_a_rejected_deposit_books_nothing_and_frees_its_reference(
    db: Database, clock: FixedClock
) -> None:
    a = await agency(db, now=clock.now())
    first = await floats.enter_deposit(
        db,
        agent_id=a.agent_id,
        amount=hkd("800"),
        reference="BOC-77",
        actor=a.maker,
        now=clock.now(),
    )
    with pytest.raises(ReferenceUsed):
        await floats.enter_deposit(
            db,
            agent_id=a.agent_id,
            amount=hkd("800"),
            reference="BOC-77",
            actor=a.maker,
            now=clock.now(),
        )
    with pytest.raises(InvalidDeposit):
        await floats.reject_deposit(
            db, deposit_id=first.id, reason="  ", actor=a.checker, now=clock.now()
        )
    journals_before = await journal_count(db)

    rejected = await floats.reject_deposit(
        db, deposit_id=first.id, reason="no such transfer", actor=a.checker, now=clock.now()
    )

    assert rejected.state is DepositState.REJECTED
    assert rejected.reason == "no such transfer"
    assert await journal_count(db) == journals_before
    again = await floats.enter_deposit(
        db,
        agent_id=a.agent_id,
        amount=hkd("80"),
        reference="BOC-77",
        actor=a.maker,
        now=clock.now(),
    )
    assert again.state is DepositState.PENDING
    pending = await db.read(
        lambda conn: floats.deposits(conn, state=DepositState.PENDING, agent_id=a.agent_id)
    )
    assert [d.id for d in pending] == [again.id]


async def test_a_deposit_for_no_agent_or_out_of_bounds_is_refused(
    db: Database, clock: FixedClock
) -> None:
    a = await agency(db, now=clock.now())
    with pytest.raises(UnknownAgent):
        await floats.enter_deposit(
            db, agent_id=999, amount=hkd("100"), reference="X", actor=a.maker, now=clock.now()
        )
    with pytest.raises(InvalidDeposit):
        await floats.enter_deposit(
            db,
            agent_id=a.agent_id,
            amount=hkd("10000000.01"),
            reference="X",
            actor=a.maker,
            now=clock.now(),
        )
    assert await db.read(lambda conn: floats.deposits(conn)) == []


async def test_a_sale_draws_the_float_down_to_zero_and_no_further(
    db: Database, clock: FixedClock
) -> None:
    a = await funded(db, clock, "100.00")

    await sell_voucher(db, a, hkd("100.00"), clock.now())

    assert await balance(db, f"agent:{a.agent_id}:float:HKD") == hkd("0")
    assert await balance(db, f"agent:{a.agent_id}:commission:HKD") == hkd("1.50")
    with pytest.raises(InsufficientFunds):
        await sell_voucher(db, a, hkd("50.00"), clock.now())


async def test_a_credit_limit_lowers_every_floor_and_is_refused_below_a_float(
    db: Database, clock: FixedClock
) -> None:
    a = await funded(db, clock, "100.00")
    await db.transaction(  # a CNY float too, opened before the limit changes
        lambda conn: floats.float_accounts(
            conn, agent_id=a.agent_id, currency="CNY", now=clock.now()
        )
    )
    await floats.set_credit_limit(
        db, agent_id=a.agent_id, credit_limit_minor=50_000, actor=a.checker, now=clock.now()
    )
    await sell_voucher(db, a, hkd("400.00"), clock.now())  # HK$100 - HK$400
    assert await balance(db, f"agent:{a.agent_id}:float:HKD") == hkd("-300.00")
    audited = len(await db.read(lambda conn: audit.entries(conn)))

    with pytest.raises(FloatBelowLimit, match="HKD"):
        await floats.set_credit_limit(
            db, agent_id=a.agent_id, credit_limit_minor=20_000, actor=a.checker, now=clock.now()
        )

    async def floors(conn: AsyncConnection) -> dict[str, Money]:
        found = await floats.agent_books(conn, agent_id=a.agent_id)
        return {book.currency: book.floor for book in found}

    assert await db.read(floors) == {"HKD": hkd("-500.00"), "CNY": Money(-50_000, "CNY")}
    assert len(await db.read(lambda conn: audit.entries(conn))) == audited
    await floats.set_credit_limit(
        db, agent_id=a.agent_id, credit_limit_minor=30_000, actor=a.checker, now=clock.now()
    )
    assert await db.read(floors) == {"HKD": hkd("-300.00"), "CNY": Money(-30_000, "CNY")}
    (entry,) = await db.read(lambda conn: audit.entries(conn, action="agent.credit_limit", limit=1))
    assert (entry.before, entry.after) == (
        {"credit_limit_minor": 50_000},
        {"credit_limit_minor": 30_000},
    )


async def test_float_accounts_open_once_with_the_agents_floor(
    db: Database, clock: FixedClock
) -> None:
    a = await agency(db, now=clock.now())
    await floats.set_credit_limit(
        db, agent_id=a.agent_id, credit_limit_minor=20_000, actor=a.checker, now=clock.now()
    )

    async def open_twice(conn: AsyncConnection) -> tuple[floats.FloatAccounts, ...]:
        first = await floats.float_accounts(conn, agent_id=a.agent_id, currency=HK, now=clock.now())
        again = await floats.float_accounts(conn, agent_id=a.agent_id, currency=HK, now=clock.now())
        return first, again

    first, again = await db.transaction(open_twice)
    assert first == again
    assert first.float_id != first.commission_id

    async def floor(conn: AsyncConnection) -> int | None:
        return (await ledger.get_balance(conn, account_id=first.float_id)).min_balance

    assert await db.read(floor) == -20_000
    with pytest.raises(UnknownAgent):
        await db.transaction(
            lambda conn: floats.float_accounts(conn, agent_id=999, currency=HK, now=clock.now())
        )
    with pytest.raises(InvalidDeposit):
        await db.transaction(
            lambda conn: floats.float_accounts(
                conn, agent_id=a.agent_id, currency="USD", now=clock.now()
            )
        )


async def test_books_show_each_currency_sold_in_with_commission(
    db: Database, clock: FixedClock
) -> None:
    a = await funded(db, clock, "1000.00")
    await sell_voucher(db, a, hkd("200.00"), clock.now())

    found = await db.read(lambda conn: floats.agent_books(conn, agent_id=a.agent_id))

    assert found == [
        floats.AgentBook("HKD", hkd("800.00"), hkd("0"), hkd("3.00")),
        floats.AgentBook("CNY", Money(0, "CNY"), Money(0, "CNY"), Money(0, "CNY")),
    ]
    (summary,) = await db.read(floats.overview)
    assert summary.agent.code == "GOLDEN"
    assert summary.outlets == 2
    assert summary.books == found
