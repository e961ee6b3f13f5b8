"""``simkeep demo seed`` prints demo logins that work, and every figure the demo subscribers
see has its history: each balance is the sum of the credited top-ups of that SIM in their
history, each credited top-up has its receipt, its journal and the notification that
credited it, and the books hold no other journal but the retention run's, the demo
promotions' (each SIM's bonus money is what its money buckets hold) and the demo refunds'
(``test_demo_refunds``). The history spans weeks, both providers, payments in the other
currency, an order that expired, one refunded and one whose refund waits for staff. Seeding
again changes nothing."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.buckets import tables as bucket_tables
from simkeep.clock import FixedClock, in_hong_kong
from simkeep.db import Database
from simkeep.demo.service import DEMO_SUBSCRIBERS
from simkeep.ledger import tables as ledger_tables
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.payments import tables as payment_tables
from simkeep.receipts.service import ReceiptSigning, receipt_for_order
from simkeep.retention import accounts as retention
from simkeep.sims import service as sims
from simkeep.sims.model import SimAccount
from simkeep.subscribers import service as subscribers
from simkeep.subscribers.model import Limits
from simkeep.topups import service as topups
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import Order, OrderState
from tests.integration.test_ledger_check import simkeep

SIGNING = ReceiptSigning(b"dev-only-secret-change-me", "http://127.0.0.1:8000")


async def seed(database_url: str, keys_dir: Path) -> str:
    code, output = await asyncio.to_thread(simkeep, database_url, "demo", "seed", keys_dir=keys_dir)
    assert code == 0, output
    return output


@dataclass(frozen=True)
class Seen:
    """What one demo subscriber sees: their SIMs and their whole history."""

    subscriber_id: int
    sims: list[SimAccount]
    orders: list[Order]


async def seen(db: Database, clock: FixedClock, phone: str, password: str) -> Seen:
    session = await subscribers.login(
        db, phone=phone, password=password, limits=Limits(), now=clock.now()
    )
    who = session.subscriber_id

    async def read(conn: AsyncConnection) -> Seen:
        held = await sims.held_sims(conn, subscriber_id=who)
        where = topups.HistoryFilter(limit=100)
        page = await topups.order_history(conn, subscriber_id=who, where=where)
        assert page.next_before is None
        return Seen(who, held, page.orders)

    return await db.transaction(read)


async def test_printed_demo_logins_work(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    output = await seed(database_url, tmp_path)
    for person in DEMO_SUBSCRIBERS:
        row = re.search(rf"{re.escape(person.phone)}\s*│\s*(\S+)", output)
        assert row, output
        mine = await seen(db, clock, person.phone, row.group(1))
        assert sorted(f"+852{number}" for number in person.hk_numbers) == sorted(
            account.sim.hk_number.e164 for account in mine.sims
        )

    async def rate(conn: AsyncConnection) -> object:
        return await topups.current_fx(conn, base="HKD", quote_currency="CNY")

    assert await db.transaction(rate) is not None


async def test_every_demo_figure_has_its_history(
    database_url: str, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    await seed(database_url, tmp_path)
    everyone = [await seen(db, clock, p.phone, p.password) for p in DEMO_SUBSCRIBERS]

    for person in everyone:
        credited = [order for order in person.orders if order.state is OrderState.CREDITED]
        for account in person.sims:
            zero = Money(0, account.sim.home_currency)
            topped_up = [order.credit for order in credited if order.sim_id == account.sim.id]
            kept = await db.transaction(
                lambda conn: retention.history(
                    conn,
                    sim_id=account.sim.id,  # noqa: B023 - awaited here
                    currency=account.sim.home_currency,  # noqa: B023
                )
            )
            taken = [entry.amount for entry in kept if entry.amount is not None]
            assert account.balance == sum(topped_up, zero) - sum(taken, zero)
            assert account.bonus.minor == await bonus_in_buckets(db, account.sim.id)
        for order in credited:
            receipt = await receipt_for_order(
                db, order_no=order.order_no, subscriber_id=person.subscriber_id, signing=SIGNING
            )
            assert receipt is not None, order.order_no
    assert any(account.balance.minor > 0 for person in everyone for account in person.sims)
    assert any(account.bonus.minor > 0 for person in everyone for account in person.sims)

    orders = [order for person in everyone for order in person.orders]
    credited_nos = {order.order_no for order in orders if order.credited_at is not None}
    assert {order.state for order in orders} == {
        OrderState.CREDITED,
        OrderState.EXPIRED,
        OrderState.REFUNDED,  # the wrong-number top-up (demo.refunds)
        OrderState.REFUND_REQUESTED,  # its refund waits for staff
    }
    assert {order.provider for order in orders if order.order_no in credited_nos} == {
        Provider.ALIPAY,
        Provider.WECHATPAY,
        Provider.FPS,
        Provider.UNIONPAY,
        Provider.ALIPAYHK,
        Provider.WECHATPAY_HK,
    }
    card = {order.pay.currency for order in orders if order.provider is Provider.UNIONPAY}
    assert card == {"HKD", "CNY"}  # a card charges either
    assert any(order.pay.currency != order.credit.currency for order in orders)
    assert any(order.pay.currency == order.credit.currency for order in orders)
    days = {in_hong_kong(order.created_at).date() for order in orders}
    assert max(days) - min(days) >= timedelta(weeks=4)
    journals, inbox = await books(db)
    topped = {client_id for client_id in journals if client_id.startswith("topup:")}
    at_counter = await counter_orders(db)  # topped up at the demo counter (demo.counter)
    assert at_counter
    assert topped == {f"topup:{order_no}" for order_no in credited_nos | at_counter}
    assert {client_id.split(":")[0] for client_id in journals - topped} <= {
        "fee",
        "arrears",
        "forfeit",
        "promotion",  # bonus money granted by the demo promotions
        "bucket-expiry",  # and expired unused
        "voucher_sale",  # demo vouchers sold at a demo counter (demo.vouchers)
        "float_deposit",  # the agents' floats, paid in (demo.agents)
        "refund-hold",  # the demo refunds, asked for (demo.refunds)
        "refund",  # approved by the automatic rule
        "refund-paid",  # and paid back by the provider
    }
    assert inbox == {(order_no, "credited", "notification") for order_no in credited_nos}

    before = await books(db), sorted(o.order_no for o in orders)
    await seed(database_url, tmp_path)
    again = [await seen(db, clock, p.phone, p.password) for p in DEMO_SUBSCRIBERS]
    assert again == everyone
    assert (await books(db), sorted(o.order_no for o in orders)) == before
    fees = [
        entry
        for person in everyone
        for account in person.sims
        for entry in await db.transaction(
            lambda conn: retention.history(
                conn,
                sim_id=account.sim.id,  # noqa: B023 - awaited here
                currency=account.sim.home_currency,  # noqa: B023
            )
        )
    ]
    assert {entry.kind for entry in fees} >= {"fee", "state"}  # the daily runs' history
    states = {account.sim.state.value for person in everyone for account in person.sims}
    assert states == {"active", "grace", "suspended"}  # reached by the daily runs


async def bonus_in_buckets(db: Database, sim_id: int) -> int:
    """The bonus money a SIM's money buckets hold."""
    c = bucket_tables.buckets.c
    held = select(func.coalesce(func.sum(c.remaining), 0)).where(
        c.sim_id == sim_id, c.kind == "money"
    )
    return int(await db.transaction(lambda conn: conn.scalar(held)) or 0)


async def counter_orders(db: Database) -> set[str]:
    """The orders of the top-ups made at a counter."""

    async def read(conn: AsyncConnection) -> set[str]:
        orders = topup_tables.orders.c
        query = select(orders.order_no).where(orders.provider == Provider.OUTLET.value)
        return set((await conn.execute(query)).scalars())

    return await db.read(read)


async def books(db: Database) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Every journal's client id, and every row of the payments inbox."""

    async def read(conn: AsyncConnection) -> tuple[set[str], set[tuple[str, str, str]]]:
        journals = await conn.execute(select(ledger_tables.journals.c.client_id))
        inbox = payment_tables.inbox.c
        kept = await conn.execute(select(inbox.order_no, inbox.status, inbox.source))
        return set(journals.scalars()), {(row[0], row[1], row[2]) for row in kept}

    return await db.transaction(read)
