"""Money pushed with a reference (FPS), as worked examples, on SQLite and PostgreSQL.

Order T… asks HK$100.00. The bank reports transfers to us with whatever reference the payer's
app carried: HK$100.00 with the order's number credits it once, however often the report
comes; no reference, an unknown one, HK$99.00, or a second HK$100.00 for the paid order each
stay in review with the money held in "payments received, in review" — never guessed. Staff
give a reviewed payment to its order: one decision wins, the order is credited, the books
move the money back out of review, and the audit log says who."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from itertools import count

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments import incoming
from simkeep.payments import tables as pt
from simkeep.payments.incoming import IncomingState, NotInReview, OrderPaidAlready, Reason
from simkeep.payments.model import TradeStatus, VerifiedNotification
from simkeep.staff import audit
from simkeep.staff.audit import Actor
from simkeep.topups import service as topups
from simkeep.topups.crediting import AmountMismatch
from simkeep.topups.model import Order, OrderRequest, OrderState
from tests.agent_world import operator
from tests.factories import issue_sim, seed_books

HUNDRED = Money(10_000, "HKD")
TRANSFERS = count(1)
SUBSCRIBER = 7


async def fps_order(db: Database, clock: FixedClock, *, n: int = 1) -> Order:
    async def place(conn: AsyncConnection) -> Order:
        sim = await issue_sim(conn, n=n, plan="HK-KEEP", now=clock.now())
        number = sim.hk_number.e164
        request = OrderRequest.of(
            subscriber_id=SUBSCRIBER,
            idempotency_key=f"fps-{n}",
            number=number,
            confirm_number=number,
            credit=HUNDRED,
            pay_currency="HKD",
            provider=Provider.FPS,
            channel=Channel.QR,
        )
        return await topups.create_order(conn, request=request, now=clock.now())

    return await db.transaction(place)


@pytest.fixture
async def books(db: Database, clock: FixedClock) -> Database:
    await db.transaction(lambda conn: seed_books(conn, now=clock.now()))
    return db


def transfer(
    reference: str, amount: Money = HUNDRED, *, txn: str | None = None
) -> VerifiedNotification:
    txn = txn or f"FPS{next(TRANSFERS):012d}"
    return VerifiedNotification(
        provider=Provider.FPS,
        notification_id=f"evt-{txn}",
        out_trade_no=reference,
        status=TradeStatus.PAID,
        amount=amount,
        merchant_id="FPS-ID",
        app_id="",
        provider_trade_no=txn,
        paid_at=None,
        raw={},
        payer_account="004:+852-9***1234",
    )


async def take(db: Database, notice: VerifiedNotification, now: datetime) -> str:
    return await db.transaction(lambda conn: incoming.take(conn, notice, now))


async def balance(db: Database, code: str) -> int:
    async def read(conn: AsyncConnection) -> int:
        account = await ledger.get_account_by_code(conn, code=code)
        assert account is not None, code
        return (await ledger.get_balance(conn, account_id=account.id)).money().minor

    return await db.read(read)


async def order_state(db: Database, order_no: str) -> OrderState:
    async def read(conn: AsyncConnection) -> OrderState:
        order = await topups.get_order(conn, order_no=order_no)
        assert order is not None
        return order.state

    return await db.read(read)


CLEARING = chart.provider_clearing_code("fps", "HKD")
IN_REVIEW = chart.system_code(System.UNMATCHED_PAYMENTS, "HKD")


async def test_a_transfer_with_the_order_number_credits_it_once(
    books: Database, clock: FixedClock
) -> None:
    order = await fps_order(books, clock)
    notice = transfer(f" {order.order_no.lower()} ")  # as a payer might type it
    assert await take(books, notice, clock.now()) == "credited"
    assert await take(books, notice, clock.now()) == "duplicate"  # reported again
    assert await order_state(books, order.order_no) is OrderState.CREDITED
    (payment,) = await books.read(lambda conn: incoming.for_order(conn, order_no=order.order_no))
    assert payment.state is IncomingState.MATCHED
    assert payment.payer_account == "004:+852-9***1234"  # what a refund will send back to
    assert await balance(books, CLEARING) == 10_000
    assert await balance(books, IN_REVIEW) == 0


@pytest.mark.parametrize(
    ("reference", "amount", "reason"),
    [
        ("", HUNDRED, Reason.NO_REFERENCE),
        ("T20261130999999999", HUNDRED, Reason.UNKNOWN_ORDER),
        (None, Money(9_900, "HKD"), Reason.AMOUNT_MISMATCH),
    ],
)
async def test_money_that_matches_no_order_waits_for_staff(
    books: Database, clock: FixedClock, reference: str | None, amount: Money, reason: Reason
) -> None:
    order = await fps_order(books, clock)
    notice = transfer(order.order_no if reference is None else reference, amount)
    assert await take(books, notice, clock.now()) == "review"
    assert await take(books, notice, clock.now()) == "duplicate"
    (payment,) = await books.read(lambda conn: incoming.in_review(conn))
    assert (payment.reason, payment.amount) == (reason, amount)
    assert await order_state(books, order.order_no) is OrderState.CREATED  # not paid
    assert await balance(books, IN_REVIEW) == amount.minor  # owed: held for someone
    assert await balance(books, CLEARING) == amount.minor


async def test_a_second_transfer_for_a_paid_order_is_not_taken_as_the_same(
    books: Database, clock: FixedClock
) -> None:
    order = await fps_order(books, clock)
    assert await take(books, transfer(order.order_no), clock.now()) == "credited"
    assert await take(books, transfer(order.order_no), clock.now()) == "review"
    (payment,) = await books.read(lambda conn: incoming.in_review(conn))
    assert payment.reason is Reason.ALREADY_PAID
    assert await balance(books, CLEARING) == 20_000
    assert await balance(books, IN_REVIEW) == 10_000


async def test_the_report_of_a_transfer_polling_credited_first_is_that_transfer(
    books: Database, clock: FixedClock
) -> None:
    order = await fps_order(books, clock)
    await books.transaction(
        lambda conn: topups.credit_paid_order(
            conn,
            order_no=order.order_no,
            paid=HUNDRED,
            provider_trade_no="FPS-POLLED",
            now=clock.now(),
            provider=Provider.FPS,
        )
    )
    assert await take(books, transfer(order.order_no, txn="FPS-POLLED"), clock.now()) == "duplicate"
    assert await books.read(lambda conn: incoming.in_review(conn)) == []
    assert await balance(books, CLEARING) == 10_000


async def test_staff_give_a_reviewed_payment_to_its_order_once(
    books: Database, clock: FixedClock
) -> None:
    order = await fps_order(books, clock)
    await take(books, transfer("wrong ref"), clock.now())
    (payment,) = await books.read(lambda conn: incoming.in_review(conn))
    olive = Actor(await operator(books, "olive", now=clock.now()), "test")

    async def decide() -> str:
        try:
            await books.transaction(
                lambda conn: incoming.assign(
                    conn,
                    payment_id=payment.id,
                    order_no=order.order_no,
                    note="payer called: typo",
                    actor=olive,
                    now=clock.now(),
                )
            )
        except NotInReview:
            return "refused"
        return "assigned"

    answers = Counter(await asyncio.gather(*(decide() for _ in range(20))))
    assert answers == Counter(assigned=1, refused=19)
    assert await order_state(books, order.order_no) is OrderState.CREDITED
    assert await balance(books, IN_REVIEW) == 0
    assert await balance(books, CLEARING) == 10_000
    entries = await books.read(lambda conn: audit.entries(conn, action="incoming_payment.assign"))
    assert len(entries) == 1
    assert entries[0].after["order_no"] == order.order_no


async def test_a_payment_is_not_given_to_an_order_of_another_amount_or_a_paid_one(
    books: Database, clock: FixedClock
) -> None:
    order = await fps_order(books, clock)
    await take(books, transfer("?", Money(5_000, "HKD")), clock.now())
    await take(books, transfer("??"), clock.now())
    short, whole = await books.read(lambda conn: incoming.in_review(conn))
    olive = Actor(await operator(books, "olive", now=clock.now()), "test")

    def assign(payment_id: int) -> object:
        return books.transaction(
            lambda conn: incoming.assign(
                conn,
                payment_id=payment_id,
                order_no=order.order_no,
                note="",
                actor=olive,
                now=clock.now(),
            )
        )

    with pytest.raises(AmountMismatch):
        await assign(short.id)
    assert [p.id for p in await books.read(lambda conn: incoming.in_review(conn))] == [
        short.id,
        whole.id,
    ]  # nothing changed
    await assign(whole.id)
    await take(books, transfer("???"), clock.now())
    still, third = await books.read(lambda conn: incoming.in_review(conn))
    assert still.id == short.id
    with pytest.raises(OrderPaidAlready):
        await assign(third.id)
    kept = await books.read(lambda conn: conn.scalar(select(func.count()).select_from(pt.incoming)))
    assert kept == 3
    assert await balance(books, IN_REVIEW) == 15_000
