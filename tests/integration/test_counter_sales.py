"""Sales at the counter on SQLite and PostgreSQL: a top-up is an order credited at once from
the agent's float with the commission booked, once per idempotency key however many retries
race; a float too low writes nothing; the shift and the outlet's currency and services are
required; the receipt number is the order's."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.counter import service as counter
from simkeep.counter import tables as ct
from simkeep.counter.model import CounterError, IdPolicy, Payer, Payment, ShiftState
from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.ledger import chart
from simkeep.ledger import tables as lt
from simkeep.ledger.chart import System
from simkeep.outlets.model import Service
from simkeep.sims import service as sims
from simkeep.sims.model import SimState
from simkeep.topups import service as topups
from simkeep.topups import tables as tt
from simkeep.topups.model import OrderState, validity_days
from tests.counter_world import (
    CASH,
    HERE,
    HOLDER_ID,
    ID_KEY,
    LIMITS,
    POLICY,
    balance,
    open_shift,
    place,
    sim,
    topup,
)

AT_ONCE = 30
EXPENSE = chart.system_code(System.COMMISSION_EXPENSE, "HKD")


async def outcome(call: Awaitable[object]) -> str:
    try:
        await call
    except Refusal as error:
        return error.code
    return "ok"


async def count(db: Database, table: object) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]

    return await db.read(read)


async def test_hk500_cash_takes_the_float_credits_the_sim_and_books_the_commission(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    await open_shift(db, where, now=clock.now())
    float_before = await balance(db, where.float_code)
    cheap = IdPolicy(check_from_minor=100_000)  # no ID check for 500 here

    sale = await counter.top_up(
        db,
        clerk=where.clerk,
        device_id=None,
        request=topup("key-00000001", card.hk_number.e164, 500),
        policy=cheap,
        now=clock.now(),
    )

    assert (sale.amount.minor, sale.commission.minor, sale.payer.payment) == (50_000, 750, "cash")
    assert await balance(db, where.float_code) == float_before - 50_000
    assert await balance(db, chart.sim_balance(card.id, "HKD").code) == 50_000
    assert await balance(db, EXPENSE) == 750
    assert await balance(db, where.commission_code) == 750

    async def order(conn: AsyncConnection) -> tuple[str, str, str, int]:
        found = await topups.get_order(conn, order_no=sale.order_no or "")
        assert found is not None
        return found.state, found.provider, found.receipt_no or "", found.validity_days

    state, provider, receipt_no, days = await db.read(order)
    assert (state, provider) == (OrderState.CREDITED, "outlet")
    assert receipt_no == sale.receipt_no
    assert days == validity_days(50_000) == 365


async def test_retries_of_one_key_at_once_make_one_sale_and_one_journal(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    await open_shift(db, where, now=clock.now())
    request = topup("key-retried-1", card.hk_number.e164, 100)
    journals_before = await count(db, lt.journals)

    sales = await asyncio.gather(
        *(
            counter.top_up(
                db,
                clerk=where.clerk,
                device_id=None,
                request=request,
                policy=POLICY,
                now=clock.now(),
            )
            for _ in range(AT_ONCE)
        )
    )

    assert len({sale.id for sale in sales}) == 1
    assert sum(not sale.replayed for sale in sales) == 1
    assert await count(db, ct.sales) == 1
    assert await count(db, tt.orders) == 1
    assert await count(db, lt.journals) == journals_before + 1
    assert await balance(db, chart.sim_balance(card.id, "HKD").code) == 10_000


async def test_the_same_key_for_another_request_is_refused(db: Database, clock: FixedClock) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    await open_shift(db, where, now=clock.now())
    first = topup("key-twice-01", card.hk_number.e164, 100)
    await counter.top_up(
        db, clerk=where.clerk, device_id=None, request=first, policy=POLICY, now=clock.now()
    )

    other = topup("key-twice-01", card.hk_number.e164, 200)
    refused = await outcome(
        counter.top_up(
            db, clerk=where.clerk, device_id=None, request=other, policy=POLICY, now=clock.now()
        )
    )

    assert refused == "idempotency_conflict"
    assert await count(db, ct.sales) == 1
    found = await counter.find_sale(db, clerk=where.clerk, key="key-twice-01")
    assert found is not None
    assert found.amount.minor == 10_000
    assert await counter.find_sale(db, clerk=where.clerk, key="key-never-01") is None


async def test_a_float_too_low_refuses_the_sale_and_writes_nothing(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now(), float_minor=20_000, credit_limit_minor=5_000)
    card = await sim(db, n=1, now=clock.now())
    await open_shift(db, where, now=clock.now())
    tables = (ct.sales, tt.orders, lt.journals, lt.postings)
    before = [await count(db, table) for table in tables]

    refused = await outcome(
        counter.top_up(
            db,
            clerk=where.clerk,
            device_id=None,
            request=topup("key-too-much", card.hk_number.e164, 260),
            policy=POLICY,
            now=clock.now(),
        )
    )

    assert refused == "float_too_low"
    assert [await count(db, table) for table in tables] == before
    assert await balance(db, where.float_code) == 20_000
    within = topup("key-at-limit", card.hk_number.e164, 250)  # down to the credit limit
    sale = await counter.top_up(
        db, clerk=where.clerk, device_id=None, request=within, policy=POLICY, now=clock.now()
    )
    assert sale.amount.minor == 25_000
    assert await balance(db, where.float_code) == -5_000


async def test_a_sale_needs_an_open_shift_and_what_the_outlet_offers(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now(), services=frozenset({Service.CASH}))
    card = await sim(db, n=1, now=clock.now())
    cny = await sim(db, n=2, now=clock.now(), plan="CN-KEEP")

    async def sell(key: str, number: str, whole: int, payer: Payer = CASH) -> str:
        request = topup(key, number, whole, payer)
        return await outcome(
            counter.top_up(
                db,
                clerk=where.clerk,
                device_id=None,
                request=request,
                policy=POLICY,
                now=clock.now(),
            )
        )

    assert await sell("key-no-shift", card.hk_number.e164, 100) == "no_open_shift"
    await open_shift(db, where, now=clock.now())
    assert await sell("key-card-001", card.hk_number.e164, 100, Payer(Payment.CARD, "T-1")) == (
        "outlet_not_selling"
    )
    assert await sell("key-other-ccy", cny.hk_number.e164, 100) == "wrong_currency"
    assert await sell("key-too-small", card.hk_number.e164, 9) == "invalid_amount"
    assert await sell("key-too-large", card.hk_number.e164, 5_001) == "invalid_amount"
    assert await sell("bad key", card.hk_number.e164, 100) == "invalid_idempotency_key"
    assert await sell("key-unknown-1", "+85251234567", 100) == "unknown_number"
    assert await count(db, ct.sales) == 0


async def test_closing_records_expected_cash_card_and_the_difference(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    shift_id = await open_shift(db, where, now=clock.now(), opening_minor=100_000)
    for key, whole, payer in (
        ("key-close-01", 100, Payer(Payment.CASH)),
        ("key-close-02", 50, Payer(Payment.CASH)),
        ("key-close-03", 300, Payer(Payment.CARD, "VISA-4242")),
    ):
        request = topup(key, card.cn_number.e164, whole, payer)
        await counter.top_up(
            db, clerk=where.clerk, device_id=None, request=request, policy=POLICY, now=clock.now()
        )

    closed = await counter.close_shift(
        db, clerk=where.clerk, shift_id=shift_id, counted_minor=114_000, actor=HERE, now=clock.now()
    )

    assert closed.state is ShiftState.CLOSED
    assert closed.figures is not None
    figures = closed.figures
    assert figures.expected_cash.minor == 100_000 + 15_000
    assert figures.expected_card.minor == 30_000
    assert figures.difference.minor == -1_000
    again = await outcome(
        counter.close_shift(
            db, clerk=where.clerk, shift_id=shift_id, counted_minor=0, actor=HERE, now=clock.now()
        )
    )
    assert again == "shift_closed"
    late = topup("key-close-04", card.hk_number.e164, 100)
    assert (
        await outcome(
            counter.top_up(
                db, clerk=where.clerk, device_id=None, request=late, policy=POLICY, now=clock.now()
            )
        )
        == "no_open_shift"
    )


async def test_one_open_shift_per_clerk_even_when_opened_at_once(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())

    results = await asyncio.gather(
        *(outcome(open_shift(db, where, now=clock.now())) for _ in range(10))
    )

    assert Counter(results) == {"ok": 1, "shift_open": 9}
    shift = await counter.current_shift(db, clerk=where.clerk)
    assert shift is not None
    assert shift.opening_cash.minor == 50_000


async def test_a_suspended_sim_is_topped_up_back_to_active_after_an_id_match(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now(), state=SimState.SUSPENDED)
    await open_shift(db, where, now=clock.now())
    request = topup("key-suspended", card.hk_number.e164, 100)

    with pytest.raises(CounterError) as refused:
        await counter.top_up(
            db, clerk=where.clerk, device_id=None, request=request, policy=POLICY, now=clock.now()
        )
    assert refused.value.code == "id_check_required"

    assert await counter.check_id(
        db,
        clerk=where.clerk,
        number=card.hk_number.e164,
        id_type=HOLDER_ID[0].value,
        id_number=HOLDER_ID[1],
        id_key=ID_KEY,
        limits=LIMITS,
        actor=HERE,
        now=clock.now(),
    )
    await counter.top_up(
        db, clerk=where.clerk, device_id=None, request=request, policy=POLICY, now=clock.now()
    )

    found = await db.read(lambda conn: sims.get_sim(conn, sim_id=card.id))
    assert found is not None
    assert found.state is SimState.ACTIVE
