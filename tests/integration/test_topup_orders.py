"""Placing an order: one read, then one insert, outside a transaction on PostgreSQL. A twin
request with the same ``Idempotency-Key`` that slips in between gets the order that was
written first — the same number and the same way to pay — and no second order exists.

(SQLite has one writer and holds its lock from the read to the insert: no twin can slip in
there, and the replay tests of the API cover it.)

On both databases, a replay after the facts changed — a new rate, a suspended or recycled
SIM — returns the first order unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.settings import load_settings
from simkeep.sims.model import Sim, SimState
from simkeep.topups import service as topups
from simkeep.topups import tables as t
from simkeep.topups.model import Order, OrderRequest, OrderState
from tests.conftest import empty_database
from tests.factories import issue_sim, seed_books, set_sim_state

KEY = "twin-key-0001"


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


async def place(
    db: Database, sim: Sim, clock: FixedClock, before_insert: Callable[[], Awaitable[None]] | None
) -> Order:
    """Order HK$50 for ``sim`` by Alipay WAP; ``before_insert`` runs once the order's number
    is drawn and before it is written."""

    request = OrderRequest.of(
        subscriber_id=7,
        idempotency_key=KEY,
        number=sim.hk_number.e164,
        confirm_number=sim.hk_number.e164,
        credit=Money(5_000, "HKD"),
        pay_currency="HKD",
        provider=Provider.ALIPAY,
        channel=Channel.WAP,
    )

    async def create(conn: AsyncConnection) -> Order:
        prepared = await topups.prepare_order(conn, request=request, now=clock.now())
        assert isinstance(prepared, topups.Draft)
        if before_insert is not None:
            await before_insert()
        url = f"https://cashier.example/{prepared.order.order_no}"
        started = prepared.started(pay_url=url, pay_qr=None)
        return await topups.place_order(conn, draft=started, now=clock.now())

    return await db.one_statement(create)


async def test_a_twin_between_the_read_and_the_insert_gets_the_first_order(
    pg: Database, clock: FixedClock
) -> None:
    await pg.transaction(lambda conn: seed_books(conn, now=clock.now()))
    sim = await pg.transaction(lambda conn: issue_sim(conn, n=1, plan="HK-VALID", now=clock.now()))
    twins: list[Order] = []

    async def twin_slips_in() -> None:
        twins.append(await place(pg, sim, clock, before_insert=None))

    first = await place(pg, sim, clock, before_insert=twin_slips_in)

    (twin,) = twins
    assert first == twin
    assert first.state is OrderState.AWAITING_PAYMENT
    assert first.pay_url == f"https://cashier.example/{first.order_no}"
    count = await pg.transaction(
        lambda conn: conn.scalar(select(func.count()).select_from(t.orders))
    )
    assert count == 1


async def test_a_replay_after_the_facts_changed_returns_the_first_order(
    db: Database, clock: FixedClock
) -> None:
    sim = await db.transaction(lambda conn: _seeded_sim(conn, clock))
    number = sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=7,
        idempotency_key="replay-facts-0001",
        number=number,
        confirm_number=number,
        credit=Money(10_000, "HKD"),
        pay_currency="CNY",
        provider=Provider.WECHATPAY,
        channel=Channel.QR,
        expected_pay=Money(9_200, "CNY"),  # the price shown: HK$100 at 0.92
    )

    async def order(conn: AsyncConnection) -> Order:
        return await topups.create_order(conn, request=request, now=clock.now())

    first = await db.transaction(order)
    changes: list[Callable[[AsyncConnection], Awaitable[None]]] = [
        lambda conn: topups.set_fx_rate(
            conn,
            base="HKD",
            quote_currency="CNY",
            rate=Decimal("0.95"),
            source="operator",
            now=clock.now(),
        ),
        lambda conn: set_sim_state(conn, sim_id=sim.id, state=SimState.SUSPENDED),
        lambda conn: set_sim_state(conn, sim_id=sim.id, state=SimState.RECYCLED),
    ]
    for change in changes:
        await db.transaction(change)
        assert await db.transaction(order) == first
    assert first.pay == Money(9_200, "CNY")


async def _seeded_sim(conn: AsyncConnection, clock: FixedClock) -> Sim:
    await seed_books(conn, now=clock.now())
    return await issue_sim(conn, n=1, plan="HK-VALID", now=clock.now())
