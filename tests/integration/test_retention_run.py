"""The daily retention run over months of a SIM's life, on both databases: monthly fees
charged on the billing day (the month's last day when it is shorter), a fee the balance
cannot cover owed and the SIM in grace, then suspended, then recycled with its balance
forfeited through the books and its links ended; money held for a refund left alone; a
validity SIM in grace the day after its validity ends; and every run safe to repeat or to
resume after it was killed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.jobs.loop import standard_jobs
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.refunds import books as refund_books
from simkeep.retention import service as retention
from simkeep.retention import tables as rt
from simkeep.retention.model import Line, day_of, lapses_on
from simkeep.sims import tables as st
from simkeep.sims.model import Retention, Sim, SimState
from simkeep.topups import service as topups
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import OrderRequest
from tests.factories import issue_sim, seed_books

ISSUED = datetime(2026, 1, 31, 2, 0, tzinfo=UTC)  # 10:00 on 31 January in Hong Kong


async def funded(
    db: Database, clock: FixedClock, plan: str, credit: int, n: int = 1, **kw: object
) -> Sim:
    """The ``n``-th SIM issued now, topped up with ``credit`` (minor units) through an
    order."""

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        sim = await issue_sim(conn, n=n, plan=plan, now=clock.now(), **kw)  # type: ignore[arg-type]
        number = sim.hk_number.e164
        request = OrderRequest.of(
            subscriber_id=7,
            idempotency_key=f"fund-{n:04d}",
            number=number,
            confirm_number=number,
            credit=Money(credit, sim.home_currency),
            pay_currency=sim.home_currency,
            provider=Provider.ALIPAY,
            channel=Channel.QR,
        )
        order = await topups.create_order(conn, request=request, now=clock.now())
        await topups.credit_paid_order(
            conn, order_no=order.order_no, paid=order.pay, provider_trade_no="t", now=clock.now()
        )
        return sim

    return await db.transaction(setup)


async def sim_row(db: Database, sim_id: int) -> dict[str, object]:
    async def read(conn: AsyncConnection) -> dict[str, object]:
        row = (await conn.execute(select(st.sims).where(st.sims.c.id == sim_id))).one()
        return dict(row._mapping)

    return await db.transaction(read)


async def balance(db: Database, code: str) -> int:
    async def read(conn: AsyncConnection) -> int:
        account = await ledger.get_account_by_code(conn, code=code)
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).posted

    return await db.transaction(read)


async def events(db: Database, sim_id: int) -> list[tuple[str | None, str, str]]:
    async def read(conn: AsyncConnection) -> list[tuple[str | None, str, str]]:
        e = st.events.c
        rows = await conn.execute(
            select(e.from_state, e.to_state, e.reason).where(e.sim_id == sim_id).order_by(e.id)
        )
        return [(r.from_state, r.to_state, r.reason) for r in rows]

    return await db.transaction(read)


async def run_to(db: Database, clock: FixedClock, day: date) -> None:
    """Catch up day by day to ``day``, at ten past midnight in Hong Kong."""
    clock.set(datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=7, minutes=50))
    await retention.run_until(db, day=day, clock=clock)


async def test_a_monthly_fee_sim_pays_then_lapses_then_is_recycled(db: Database) -> None:
    clock = FixedClock(ISSUED)
    sim = await funded(db, clock, "HK-KEEP", 5_000)  # HK$50: six fees of HK$8, HK$2 left
    code = chart.sim_balance(sim.id, "HKD").code
    receipt_validity = await db.transaction(
        lambda conn: conn.scalar(select(topup_tables.orders.c.validity_until))
    )
    assert day_of(receipt_validity) == date(2026, 8, 30)  # the receipt: kept until then
    await retention.run_day(db, day=date(2026, 1, 31), clock=clock)  # the first run: that day

    await run_to(db, clock, date(2026, 2, 27))
    assert await balance(db, code) == 5_000
    await run_to(db, clock, date(2026, 2, 28))  # billed on the 31st: February's last day
    assert await balance(db, code) == 4_200
    await run_to(db, clock, date(2026, 7, 31))
    assert await balance(db, code) == 200
    row = await sim_row(db, sim.id)
    assert (row["state"], row["next_fee_on"], row["arrears_minor"]) == (
        "active",
        date(2026, 8, 31),
        0,
    )

    await run_to(db, clock, date(2026, 8, 31))  # HK$2 does not cover HK$8: owed, in grace
    row = await sim_row(db, sim.id)
    assert (row["state"], row["arrears_minor"]) == ("grace", 800)
    assert await balance(db, code) == 200

    await run_to(db, clock, date(2026, 9, 29))
    assert (await sim_row(db, sim.id))["state"] == "grace"
    await run_to(db, clock, date(2026, 9, 30))  # 30 days in grace, and September's fee owed
    assert (await sim_row(db, sim.id))["state"] == "suspended"
    await run_to(db, clock, date(2026, 11, 28))
    assert (await sim_row(db, sim.id))["state"] == "suspended"
    await run_to(db, clock, date(2026, 11, 29))  # 60 days suspended
    row = await sim_row(db, sim.id)
    assert row["state"] == "recycled"
    assert row["arrears_minor"] == 800 * 3  # August's, September's and October's fees
    assert await balance(db, code) == 0
    assert await balance(db, chart.system_code(System.FORFEITED_BALANCE, "HKD")) == 200
    assert await balance(db, chart.system_code(System.RETENTION_FEE_REVENUE, "HKD")) == 4_800
    assert [e[1] for e in await events(db, sim.id)] == [
        "active",
        "grace",
        "suspended",
        "recycled",
    ]
    report = await db.transaction(ledger.check_books)
    assert report.ok, report.problems
    assert [text for text in await texts(db, sim) if "保號至" in text or "寬限" in text] == [
        "simkeep：+852 9***0037 保號至 2026年8月30日，請於此前增值以保留號碼。",  # 14 days
        "simkeep：+852 9***0037 保號至 2026年8月30日，請於此前增值以保留號碼。",  # 3 days
        "simkeep：+852 9***0037 保號至 2026年8月30日，請於此前增值以保留號碼。",  # the day
        "simkeep：+852 9***0037 已進入寬限期，至 2026年9月29日 只可接聽來電及接收短訊。"
        "增值即可恢復使用。",
    ]
    assert sum("暫停服務" in text for text in await texts(db, sim)) == 1
    assert sum("已被回收" in text for text in await texts(db, sim)) == 1


async def test_money_held_for_a_refund_is_not_the_runs_to_charge(db: Database) -> None:
    """HK$45 of HK$50 held for a refund asked: the HK$8 fee is not covered by the HK$5 the
    SIM can spend, so it is owed and the held money stays where it is."""
    clock = FixedClock(ISSUED)
    sim = await funded(db, clock, "HK-KEEP", 5_000)
    await db.transaction(
        lambda conn: refund_books.hold(
            conn, refund_no="F1", sim_id=sim.id, taken=Money(4_500, "HKD"), now=clock.now()
        )
    )
    await retention.run_day(db, day=date(2026, 1, 31), clock=clock)
    await run_to(db, clock, date(2026, 2, 28))
    row = await sim_row(db, sim.id)
    assert (row["state"], row["arrears_minor"]) == ("grace", 800)
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 5_000
    report = await db.transaction(ledger.check_books)
    assert report.ok, report.problems


async def texts(db: Database, sim: Sim) -> list[str]:
    """The SMS queued to the SIM's Hong Kong number, oldest first."""

    async def read(conn: AsyncConnection) -> list[str]:
        rows = await conn.execute(
            select(outbox.c.body)
            .where(outbox.c.recipient == sim.hk_number.e164)
            .order_by(outbox.c.id)
        )
        return list(rows.scalars())

    return await db.transaction(read)


async def test_a_validity_sim_lapses_the_day_after_its_validity_ends(db: Database) -> None:
    clock = FixedClock(ISSUED)
    ends = datetime(2026, 2, 10, 7, 0, tzinfo=UTC)  # 15:00 on 10 February in Hong Kong
    sim = await funded(db, clock, "HK-VALID", 5_000, validity_until=ends)
    valid_until = (await sim_row(db, sim.id))["validity_until"]
    assert isinstance(valid_until, datetime)
    await retention.run_day(db, day=date(2026, 1, 31), clock=clock)

    await run_to(db, clock, day_of(valid_until))
    assert (await sim_row(db, sim.id))["state"] == "active"
    await run_to(db, clock, day_of(valid_until) + timedelta(days=1))

    assert (await sim_row(db, sim.id))["state"] == "grace"
    assert (await events(db, sim.id))[-1] == ("active", "grace", "validity_ended")
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 5_000  # no fee


async def test_a_run_repeated_or_resumed_does_nothing_twice(db: Database) -> None:
    clock = FixedClock(ISSUED)

    async def setup(conn: AsyncConnection) -> list[Sim]:
        await seed_books(conn, now=clock.now())
        return [await issue_sim(conn, n=n, plan="CN-KEEP", now=clock.now()) for n in (1, 2, 3)]

    sims = await db.transaction(setup)
    day = date(2026, 2, 28)
    clock.set(datetime(2026, 2, 27, 16, 10, tzinfo=UTC))
    batches = 0

    def killed_after_one_batch(seen: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 1:
            raise KeyboardInterrupt  # the process dies between two batches

    with pytest.raises(KeyboardInterrupt):
        await retention.run_day(db, day=day, clock=clock, batch=1, progress=killed_after_one_batch)
    resumed = await retention.run_day(db, day=day, clock=clock, batch=1)
    again = await retention.run_day(db, day=day, clock=clock, batch=1)

    assert resumed.sims == 2  # the first SIM was done before the kill
    assert again.sims == 0
    for sim in sims:  # no balance: each owes one fee, once
        row = await sim_row(db, sim.id)
        assert (row["state"], row["arrears_minor"]) == ("grace", 800)

    async def marks(conn: AsyncConnection) -> int:
        marked = select(func.count()).where(st.sims.c.run_on == day)
        return int((await conn.execute(marked)).scalar_one())

    assert await db.transaction(marks) == 3


def test_lapses_on_counts_the_fees_the_balance_covers() -> None:
    line = Line(
        sim_id=1,
        state=SimState.ACTIVE,
        state_since=date(2026, 1, 31),
        retention=Retention.MONTHLY_FEE,
        fee=800,
        grace_days=30,
        suspension_days=60,
        balance=2_000,
        arrears=0,
        validity_until=None,
        billing_day=31,
        next_fee_on=date(2026, 2, 28),
    )
    assert lapses_on(line) == date(2026, 4, 30)
    assert lapses_on(replace(line, balance=0)) == date(2026, 2, 28)
    assert lapses_on(replace(line, balance=800 * 11)) == date(2027, 1, 31)
    assert lapses_on(replace(line, state=SimState.GRACE)) is None


async def grace_with_arrears(db: Database, clock: FixedClock, arrears: int) -> Sim:
    """A monthly-fee SIM with no balance that owes ``arrears`` and is in grace."""

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        sim = await issue_sim(conn, n=1, plan="HK-KEEP", now=clock.now())
        await conn.execute(
            update(st.sims)
            .where(st.sims.c.id == sim.id)
            .values(state="grace", arrears_minor=arrears, state_since=clock.now())
        )
        return sim

    return await db.transaction(setup)


async def top_up(db: Database, clock: FixedClock, sim: Sim, credit: int, key: str) -> None:
    async def credit_it(conn: AsyncConnection) -> None:
        number = sim.hk_number.e164
        request = OrderRequest.of(
            subscriber_id=7,
            idempotency_key=key,
            number=number,
            confirm_number=number,
            credit=Money(credit, "HKD"),
            pay_currency="HKD",
            provider=Provider.ALIPAY,
            channel=Channel.QR,
        )
        order = await topups.create_order(conn, request=request, now=clock.now())
        await topups.credit_paid_order(
            conn, order_no=order.order_no, paid=order.pay, provider_trade_no="t", now=clock.now()
        )

    await db.transaction(credit_it)


async def test_a_top_up_pays_the_arrears_first_and_reactivates(db: Database) -> None:
    clock = FixedClock(ISSUED)
    sim = await grace_with_arrears(db, clock, 1_600)

    await top_up(db, clock, sim, 5_000, "pay-0001")

    row = await sim_row(db, sim.id)
    assert (row["state"], row["arrears_minor"]) == ("active", 0)
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 3_400
    assert await balance(db, chart.system_code(System.RETENTION_FEE_REVENUE, "HKD")) == 1_600
    assert (await events(db, sim.id))[-1] == ("grace", "active", "top-up")


async def test_a_top_up_that_does_not_cover_the_arrears_leaves_the_sim_lapsed(
    db: Database,
) -> None:
    clock = FixedClock(ISSUED)
    sim = await grace_with_arrears(db, clock, 9_000)

    await top_up(db, clock, sim, 5_000, "pay-0001")

    row = await sim_row(db, sim.id)
    assert (row["state"], row["arrears_minor"]) == ("grace", 9_000)
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 5_000  # nothing taken
    await top_up(db, clock, sim, 5_000, "pay-0002")  # now HK$100 covers HK$90
    row = await sim_row(db, sim.id)
    assert (row["state"], row["arrears_minor"]) == ("active", 0)
    assert await balance(db, chart.sim_balance(sim.id, "HKD").code) == 1_000


async def test_the_job_loop_runs_each_day_once_from_its_set_time(db: Database) -> None:
    clock = FixedClock(ISSUED)
    await db.transaction(lambda conn: seed_books(conn, now=clock.now()))
    jobs = standard_jobs(db=db, sms=None, adapters={}, retention_at=time(0, 10))  # type: ignore[arg-type]
    keep_numbers = jobs["retention_run"]

    before = datetime(2026, 2, 27, 16, 5, tzinfo=UTC)  # 28 February, 00:05 in Hong Kong
    assert await keep_numbers(before) == 1  # the first run ever: 27 February
    assert await keep_numbers(before + timedelta(minutes=1)) == 0
    assert await keep_numbers(before + timedelta(minutes=5)) == 1  # 00:10: 28 February
    assert await keep_numbers(before + timedelta(hours=3)) == 0
    assert await keep_numbers(before + timedelta(days=3, minutes=5)) == 3  # days missed

    async def days(conn: AsyncConnection) -> list[date]:
        return list((await conn.execute(select(rt.runs.c.day).order_by(rt.runs.c.day))).scalars())

    assert await db.transaction(days) == [date(2026, 2, 27) + timedelta(n) for n in range(5)]
    assert "retention_run" not in standard_jobs(db=db, sms=None, adapters={})  # type: ignore[arg-type]


async def test_a_day_with_nothing_to_do_counts_its_sims_and_marks_none(db: Database) -> None:
    clock = FixedClock(ISSUED)

    async def setup(conn: AsyncConnection) -> list[Sim]:
        await seed_books(conn, now=clock.now())
        return [await issue_sim(conn, n=n, plan="CN-KEEP", now=clock.now()) for n in (1, 2)]

    await db.transaction(setup)
    day = date(2026, 2, 10)  # no fee due, nothing lapses, no reminder
    first = await retention.run_day(db, day=day, clock=clock)
    again = await retention.run_day(db, day=day, clock=clock)

    async def recorded(conn: AsyncConnection) -> tuple[int, int]:
        runs = (await conn.execute(select(rt.runs.c.sims).where(rt.runs.c.day == day))).one()
        marked = select(func.count()).where(st.sims.c.run_on == day)
        return runs[0], int((await conn.execute(marked)).scalar_one())

    assert (first.sims, again.sims) == (2, 2)  # looked at again: nothing was done to them
    assert await db.transaction(recorded) == (4, 0)
