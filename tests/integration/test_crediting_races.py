"""Two top-ups of the same SIM credited at the same time, on PostgreSQL: the second waits for
the first and builds on what it left — the validity moves on by both, a SIM in grace is
woken once. (SQLite has one writer: two credits never overlap there.)

Found by the webhook storm (tests/e2e/test_webhook_storm.py): crediting read the SIM's state
and validity without a lock, so a credit that overlapped another of the same SIM wrote its
validity over the other's — 90 or 180 days lost — and both recorded the SIM's wake-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock, in_hong_kong
from simkeep.db import Database, TransactionFn
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.retention import service as retention
from simkeep.settings import load_settings
from simkeep.sims import service as sims
from simkeep.sims import tables as sim_tables
from simkeep.sims.model import Sim, SimState
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest
from tests.conftest import empty_database
from tests.factories import issue_sim, seed_books

SUBSCRIBER = 7
WAITING_FOR_A_LOCK = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE NOT l.granted AND a.datname = current_database()"
)


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    empty_database(postgres_url)
    return postgres_url


@pytest_asyncio.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    database = Database.from_settings(load_settings(database_url=pg_url))
    try:
        yield database
    finally:
        await database.dispose()


async def order(db: Database, sim: Sim, credit: int, key: str, clock: FixedClock) -> Order:
    number = sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=SUBSCRIBER,
        idempotency_key=key,
        number=number,
        confirm_number=number,
        credit=Money(credit, "HKD"),
        pay_currency="HKD",
        provider=Provider.ALIPAY,
        channel=Channel.QR,
    )
    return await db.transaction(
        lambda conn: topups.create_order(conn, request=request, now=clock.now())
    )


async def someone_waits_for_a_lock(db: Database) -> None:
    for _ in range(1_000):
        if await db.read(lambda conn: conn.scalar(WAITING_FOR_A_LOCK)):
            return
        await asyncio.sleep(0.01)
    pytest.fail("the second credit never waited for the first")


@pytest.mark.parametrize("state", [SimState.ACTIVE, SimState.GRACE])
async def test_two_credits_of_one_sim_at_once_both_extend_its_validity(
    pg: Database, clock: FixedClock, state: SimState
) -> None:
    valid_until = clock.now() + timedelta(days=5)

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        return await issue_sim(
            conn, n=1, plan="HK-VALID", now=clock.now(), state=state, validity_until=valid_until
        )

    sim = await pg.transaction(setup)
    fifty = await order(pg, sim, 5_000, "race-0001", clock)  # 90 days
    hundred = await order(pg, sim, 10_000, "race-0002", clock)  # 180 days

    def credit(paid: Order) -> TransactionFn[object]:
        async def run(conn: AsyncConnection) -> object:
            return await topups.credit_paid_order(
                conn, order_no=paid.order_no, paid=paid.pay, provider_trade_no="t", now=clock.now()
            )

        return run

    async def first_then_second(conn: AsyncConnection) -> asyncio.Task[object]:
        await credit(fifty)(conn)
        second = asyncio.create_task(pg.transaction(credit(hundred)))
        await someone_waits_for_a_lock(pg)  # the second has begun; the first commits now
        return second

    second = await pg.transaction(first_then_second)
    await second

    async def after(conn: AsyncConnection) -> tuple[Sim | None, int]:
        events = sim_tables.events.c
        woken = select(func.count()).where(events.sim_id == sim.id, events.reason == "top-up")
        return await sims.get_sim(conn, sim_id=sim.id), int(await conn.scalar(woken) or 0)

    now, woken = await pg.transaction(after)
    assert now is not None
    assert now.validity_until == valid_until + timedelta(days=90 + 180)
    assert now.state is SimState.ACTIVE
    assert woken == (1 if state is SimState.GRACE else 0)


async def test_a_retention_run_meeting_a_top_up_in_flight_waits_and_sees_it(
    pg: Database, clock: FixedClock
) -> None:
    """A SIM in grace long enough to be suspended today is paid for at the moment the run
    reaches it: the run waits for the credit, sees the SIM active and leaves it so."""

    async def setup(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        sim = await issue_sim(conn, n=1, plan="HK-KEEP", now=clock.now())
        await conn.execute(
            update(sim_tables.sims)
            .where(sim_tables.sims.c.id == sim.id)
            .values(state="grace", arrears_minor=800, state_since=clock.now() - timedelta(days=40))
        )
        return sim

    sim = await pg.transaction(setup)
    paid = await order(pg, sim, 5_000, "race-0003", clock)
    today = in_hong_kong(clock.now()).date()

    async def credit_while_the_run_starts(conn: AsyncConnection) -> asyncio.Task[object]:
        await topups.credit_paid_order(
            conn, order_no=paid.order_no, paid=paid.pay, provider_trade_no="t", now=clock.now()
        )
        run = asyncio.create_task(retention.run_day(pg, day=today, clock=clock))
        await someone_waits_for_a_lock(pg)  # the run reached the SIM; the credit commits now
        return run

    run = await pg.transaction(credit_while_the_run_starts)
    await run

    async def state(conn: AsyncConnection) -> tuple[str, int]:
        row = (
            await conn.execute(
                select(sim_tables.sims.c.state, sim_tables.sims.c.arrears_minor).where(
                    sim_tables.sims.c.id == sim.id
                )
            )
        ).one()
        return row.state, row.arrears_minor

    assert await pg.transaction(state) == ("active", 0)
