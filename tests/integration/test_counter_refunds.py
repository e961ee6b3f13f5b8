"""Refunds of outlet top-ups, as worked examples on SQLite and PostgreSQL (docs/refunds.md,
"Top-ups made at an outlet"; docs/outlets.md, "Refunds at the counter").

An agent on 1.5 % has HK$10,000.00 in its float; its clerk Mandy at the Wan Chai shop tops a
SIM up in cash or by card. The customer brings the receipt back: Mandy refunds it, in cash
from the drawer or back to the card, in one transaction — the books, the order, the shift's
expected cash and its Z-report follow; the commission goes back pro rata. Or the SIM's
holder asks online, staff approve, the refund goes to the agent's float and waits for them
at the agent's counters, where a clerk pays it out once. The ledger check passes after each
story."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock, in_hong_kong
from simkeep.counter import reports
from simkeep.counter import service as counter
from simkeep.counter.model import IdPolicy, Payer, Payment
from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.i18n import translations
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger import tables as lt
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.names import Names
from simkeep.notifications.tables import outbox
from simkeep.outlets import service as outlets
from simkeep.outlets.hours import ALWAYS
from simkeep.outlets.model import NewOutlet, OutletKind, Service
from simkeep.payment_methods import Channel, Provider
from simkeep.receipts.counter_pdf import render_z_report_pdf
from simkeep.refunds import counter as refunds
from simkeep.refunds import counter_papers, sending
from simkeep.refunds import service as refund_service
from simkeep.refunds import tables as refund_tables
from simkeep.refunds.counter import Collect, CounterRefund
from simkeep.refunds.model import AutoRule, Reason, RefundState
from simkeep.refunds.queries import Refund, get_refund, refunds_of_orders
from simkeep.refunds.service import Asking
from simkeep.sims import service as sims
from simkeep.sims.model import Sim
from simkeep.staff import audit
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI, Actor
from simkeep.staff.service import StaffMember
from simkeep.statements import INTEGRITY_ERRORS
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest, OrderState
from tests.agent_world import operator
from tests.counter_world import (
    CASH,
    CLERK_PASSWORD,
    CLERK_SECRET,
    HOLDER_ID,
    ID_KEY,
    LIMITS,
    Place,
    balance,
    open_shift,
    place,
    sim,
    topup,
)
from tests.e2e.test_languages import pdf_text

CHEAP = IdPolicy(check_from_minor=100_000)  # no ID check below HK$1,000 here
NO_RULE = AutoRule(max_credit=0, within=timedelta(0))
CARD = Payer(Payment.CARD, "TERM-0042")
EXPENSE = chart.system_code(System.COMMISSION_EXPENSE, "HKD")
PAYABLE = chart.system_code(System.REFUNDS_PAYABLE, "HKD")
OPENING = 50_000  # HK$500.00 in the drawer
AT_ONCE = 50


@dataclass
class World:
    db: Database
    clock: FixedClock
    where: Place
    shift_id: int
    sim: Sim
    keys: int = 0

    @property
    def clerk(self) -> StaffMember:
        return self.where.clerk

    @property
    def actor(self) -> Actor:
        return Actor(self.where.clerk.id, "127.0.0.1")

    def key(self) -> str:
        self.keys += 1
        return f"refund-key-{self.keys:04d}"


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> World:
    where = await place(db, now=clock.now())
    card = await sim(db, n=1, now=clock.now())
    shift_id = await open_shift(db, where, now=clock.now(), opening_minor=OPENING)
    return World(db, clock, where, shift_id, card)


async def sold(w: World, whole: int, payer: Payer = CASH, policy: IdPolicy = CHEAP) -> Order:
    """A top-up of ``whole`` Hong Kong dollars at Mandy's counter."""
    w.keys += 1
    sale = await counter.top_up(
        w.db,
        clerk=w.clerk,
        device_id=None,
        request=topup(f"sale-key-{w.keys:04d}", w.sim.hk_number.e164, whole, payer),
        policy=policy,
        now=w.clock.now(),
    )
    assert sale.order_no is not None
    return await order_now(w, sale.order_no)


async def order_now(w: World, order_no: str) -> Order:
    found = await w.db.read(lambda conn: topups.get_order(conn, order_no=order_no))
    assert found is not None
    return found


def asked(
    w: World,
    number: str,
    *,
    payer: Payer = CASH,
    key: str | None = None,
    asked_minor: int | None = None,
    reason: Reason = Reason.NOT_NEEDED,
) -> CounterRefund:
    return CounterRefund(
        key=key or w.key(),
        topup=number,
        reason=reason,
        payer=payer,
        asked_minor=asked_minor,
    )


async def refund(
    w: World,
    request: CounterRefund,
    *,
    clerk: StaffMember | None = None,
    policy: IdPolicy = CHEAP,
) -> Refund:
    who = clerk or w.clerk
    return await refunds.refund(
        w.db,
        clerk=who,
        actor=Actor(who.id, "127.0.0.1"),
        request=request,
        policy=policy,
        now=w.clock.now(),
    )


async def outcome(call: Awaitable[object]) -> str:
    try:
        await call
    except Refusal as error:
        return error.code
    return "ok"


async def books_ok(w: World) -> None:
    report = await w.db.transaction(ledger.check_books)
    assert report.ok, report


async def texts_to(w: World, phone: str) -> list[str]:
    rows = await w.db.read(
        lambda conn: conn.execute(select(outbox.c.body).where(outbox.c.recipient == phone))
    )
    return [row.body for row in rows]


async def journals(w: World) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(lt.journals))).scalar_one())

    return await w.db.read(read)


async def refund_now(w: World, refund_no: str) -> Refund:
    found = await w.db.read(lambda conn: get_refund(conn, refund_no=refund_no))
    assert found is not None
    return found


async def colleague(w: World, username: str, code: str) -> StaffMember:
    """Another clerk of the same agent, at another of its outlets, with a shift open."""
    outlet = await outlets.add_outlet(
        w.db,
        outlet=NewOutlet(
            code=code,
            agent_id=w.where.agent_id,
            kind=OutletKind.CONVENIENCE_STORE,
            names=Names("銅鑼灣店", "铜锣湾店", "Causeway Bay shop"),
            addresses=Names("銅鑼灣軒尼詩道 500 號", "铜锣湾轩尼诗道 500 号", "500 Hennessy Road"),
            district="wan-chai",
            lat_e6=22_279_800,
            lon_e6=114_183_600,
            hours=ALWAYS,
            services=frozenset(Service),
        ),
        now=w.clock.now(),
    )
    clerk_id = await staff.ensure_staff(
        w.db,
        username=username,
        display_name="Cathy Clerk",
        role="clerk",
        password=CLERK_PASSWORD,
        totp_secret=CLERK_SECRET,
        actor=CLI,
        now=w.clock.now(),
        agent_id=w.where.agent_id,
        outlet_id=outlet.id,
    )
    member = await w.db.read(lambda conn: staff.find_member(conn, staff_id=clerk_id))
    assert member is not None
    await counter.open_shift(
        w.db, clerk=member, opening_minor=100_000, actor=CLI, now=w.clock.now()
    )
    return member


async def test_a_cash_top_up_comes_back_in_cash_from_the_drawer(world: World) -> None:
    w = world
    float_before = await balance(w.db, w.where.float_code)
    order = await sold(w, 100)  # HK$100.00 in cash: commission HK$1.50
    assert await balance(w.db, w.where.commission_code) == 150

    made = await refund(w, asked(w, order.receipt_no or ""))

    assert (made.state, made.payout, made.pay) == (RefundState.PAID, "cash", Money(10_000, "HKD"))
    assert (made.shift_id, made.clerk_id, made.outlet_id) == (
        w.shift_id,
        w.clerk.id,
        w.where.outlet_id,
    )
    assert made.decided_by == f"staff:{w.clerk.id}"
    assert made.commission_back == Money(150, "HKD")
    assert (await order_now(w, order.order_no)).state is OrderState.REFUNDED
    # the SIM gives it back, the float has its value again, the commission is undone
    assert await balance(w.db, chart.sim_balance(w.sim.id, "HKD").code) == 0
    assert await balance(w.db, w.where.float_code) == float_before
    assert await balance(w.db, w.where.commission_code) == 0
    assert await balance(w.db, EXPENSE) == 0
    assert await balance(w.db, PAYABLE) == 0

    report = await counter.shift_report(w.db, shift_id=w.shift_id, viewer=w.clerk)
    assert report is not None
    assert report.expected_cash == Money(OPENING, "HKD")  # 500 + 100 sold − 100 paid back
    assert [(line.payment, line.count, line.total.minor) for line in report.refund_lines] == [
        ("cash", 1, 10_000),
        ("card", 0, 0),
    ]
    assert report.commission == Money(0, "HKD")
    printed = pdf_text(render_z_report_pdf(report, language="en", translations=translations("en")))
    assert "Refunds·Cash(1)-HK$100.00" in printed
    assert f"{made.refund_no}-HK$100.00" in printed  # the refund among the shift's lines
    assert "Commissiongivenbackonrefunds" in printed
    day = in_hong_kong(w.clock.now()).date()
    (totals,) = await w.db.read(
        lambda conn: reports.totals_of_day(conn, agent_id=w.where.agent_id, day=day)
    )
    assert (totals.topups, totals.refunds) == (1, 1)  # the agent's day: the sale, paid back
    assert [totals.amount(key).minor for key in ("topup", "refund", "cash", "total")] == [
        10_000,
        10_000,
        0,
        0,
    ]
    assert totals.amount("commission").minor == 0  # earned, then taken back

    async def logged(conn: AsyncConnection) -> list[tuple[str, int | None]]:
        found = await audit.entries(conn, limit=10)
        return [
            (entry.action, entry.staff_id) for entry in found if entry.action.startswith("refund")
        ]

    assert set(await w.db.read(logged)) == {
        ("refund.approve", w.clerk.id),
        ("refund.pay_out", w.clerk.id),
    }
    texts = await texts_to(w, w.sim.hk_number.e164)
    assert any(made.refund_no in text and "已在灣仔店退回" in text for text in texts), texts
    await books_ok(w)


async def test_a_card_top_up_goes_back_to_the_card_and_off_the_card_takings(world: World) -> None:
    w = world
    order = await sold(w, 300, CARD)

    in_cash = await outcome(refund(w, asked(w, order.order_no)))
    made = await refund(w, asked(w, order.order_no, payer=Payer(Payment.CARD, "TERM-R-77")))

    assert in_cash == "invalid_payment"
    assert (made.payout, made.terminal_ref, made.pay.minor) == ("card", "TERM-R-77", 30_000)
    closed = await counter.close_shift(
        w.db,
        clerk=w.clerk,
        shift_id=w.shift_id,
        counted_minor=OPENING,
        actor=w.actor,
        now=w.clock.now(),
    )
    assert closed.figures is not None
    assert closed.figures.expected_card == Money(0, "HKD")  # 300 by card, 300 back to it
    assert closed.figures.expected_cash == Money(OPENING, "HKD")
    assert closed.figures.difference == Money(0, "HKD")
    await books_ok(w)


async def test_partial_refunds_take_the_commission_back_pro_rata_rounded_down(
    world: World,
) -> None:
    w = world
    order = await sold(w, 33)  # HK$33.00: 1.5 % is 49.5 cents, so 49
    assert await balance(w.db, w.where.commission_code) == 49

    first = await refund(w, asked(w, order.order_no, asked_minor=1_000))
    assert (await order_now(w, order.order_no)).state is OrderState.PARTIALLY_REFUNDED
    second = await refund(w, asked(w, order.order_no))

    assert first.commission_back == Money(14, "HKD")  # 49 × 10 / 33 = 14.8, rounded down
    assert second.pay == Money(2_300, "HKD")
    assert second.commission_back == Money(35, "HKD")  # all of it back once all is back
    assert await balance(w.db, w.where.commission_code) == 0
    assert (await order_now(w, order.order_no)).state is OrderState.REFUNDED

    counted = OPENING + 3_300 - 3_300 - 200  # HK$2.00 short
    closed = await counter.close_shift(
        w.db,
        clerk=w.clerk,
        shift_id=w.shift_id,
        counted_minor=counted,
        actor=w.actor,
        now=w.clock.now(),
    )
    assert closed.figures is not None
    assert closed.figures.expected_cash == Money(OPENING, "HKD")
    assert closed.figures.difference == Money(-200, "HKD")
    report = await counter.shift_report(w.db, shift_id=w.shift_id, viewer=w.clerk)
    assert report is not None
    assert [refund.refund_no for refund in report.refunds] == [first.refund_no, second.refund_no]
    assert report.refund_lines[0].count == 2
    assert report.commission_back == Money(49, "HKD")
    await books_ok(w)


async def test_only_the_unused_part_goes_back_and_what_the_page_showed_is_held_to(
    world: World,
) -> None:
    w = world
    order = await sold(w, 100)
    found = await refunds.preview(
        w.db, clerk=w.clerk, topup=order.order_no, policy=CHEAP, now=w.clock.now()
    )
    assert found.amounts.pay == Money(10_000, "HKD")
    await spend(w, 3_000)  # the SIM uses HK$30.00 meanwhile

    changed = await outcome(refund(w, asked(w, order.order_no, asked_minor=10_000)))
    made = await refund(w, asked(w, order.order_no))

    assert changed == "above_refundable"
    assert made.pay == Money(7_000, "HKD")
    assert (await order_now(w, order.order_no)).state is OrderState.PARTIALLY_REFUNDED
    await books_ok(w)


async def spend(w: World, minor: int) -> None:
    """The SIM's balance pays a retention fee of ``minor``, as the daily run books it."""

    async def run(conn: AsyncConnection) -> None:
        codes = [
            chart.sim_balance(w.sim.id, "HKD").code,
            chart.system_code(System.RETENTION_FEE_REVENUE, "HKD"),
        ]
        ids = await ledger.account_ids(conn, codes=codes)
        await ledger.post_journal(
            conn,
            client_id=f"fee:test:{minor}",
            postings=rules.retention_fee(
                sim_balance=ids[codes[0]], revenue=ids[codes[1]], fee=Money(minor, "HKD")
            ),
            now=w.clock.now(),
        )

    await w.db.transaction(run)


async def test_a_top_up_of_another_agents_counter_is_refused_and_nothing_moves(
    world: World,
) -> None:
    w = world
    order = await sold(w, 100)
    other = await place(w.db, now=w.clock.now(), code="QUIK", username="clerk.qk", books=False)
    await open_shift(w.db, other, now=w.clock.now())
    before = await journals(w)

    refused = await outcome(refund(w, asked(w, order.order_no), clerk=other.clerk))
    preview = await outcome(
        refunds.preview(
            w.db, clerk=other.clerk, topup=order.order_no, policy=CHEAP, now=w.clock.now()
        )
    )

    assert (refused, preview) == ("other_agent", "other_agent")
    assert await journals(w) == before
    assert (await order_now(w, order.order_no)).state is OrderState.CREDITED


async def test_a_top_up_not_made_at_a_counter_is_refused_at_the_counter(world: World) -> None:
    w = world
    payer = await subscribers.enroll(
        w.db, phone="+85291234567", password="correct horse", language="en", now=w.clock.now()
    )
    number = w.sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=payer,
        idempotency_key="online-1",
        number=number,
        confirm_number=number,
        credit=Money(10_000, "HKD"),
        pay_currency="HKD",
        provider=Provider.FPS,
        channel=Channel.QR,
    )

    async def online(conn: AsyncConnection) -> Order:
        order = await topups.create_order(conn, request=request, now=w.clock.now())
        credited = await topups.credit_paid_order(
            conn, order_no=order.order_no, paid=order.pay, provider_trade_no="T1", now=w.clock.now()
        )
        return credited.order

    order = await w.db.transaction(online)

    refused = await outcome(refund(w, asked(w, order.order_no)))
    unknown = await outcome(refund(w, asked(w, "T202611259999999999")))
    mistyped = await outcome(refund(w, asked(w, "R12")))

    assert (refused, unknown, mistyped) == (
        "not_outlet_topup",
        "unknown_topup",
        "invalid_topup_number",
    )
    assert (await order_now(w, order.order_no)).state is OrderState.CREDITED


async def test_fifty_refunds_of_one_top_up_at_once_make_one(world: World) -> None:
    w = world
    order = await sold(w, 100)
    before = await journals(w)

    outcomes = await asyncio.gather(
        *(outcome(refund(w, asked(w, order.order_no))) for _ in range(AT_ONCE))
    )

    assert Counter(outcomes)["ok"] == 1
    assert set(outcomes) <= {"ok", "not_refundable", "refund_open"}

    made = await w.db.read(lambda conn: refunds_of_orders(conn, order_nos=[order.order_no]))
    assert len(made[order.order_no]) == 1
    # the hold (released when approved), the refund, its payment to the float
    assert await journals(w) == before + 3
    report = await counter.shift_report(w.db, shift_id=w.shift_id, viewer=w.clerk)
    assert report is not None
    assert report.expected_cash == Money(OPENING, "HKD")
    await books_ok(w)


async def test_the_same_key_answers_the_same_refund_and_another_body_is_refused(
    world: World,
) -> None:
    w = world
    order = await sold(w, 100)
    request = asked(w, order.receipt_no or "", key="refund-key-same")

    answers = await asyncio.gather(*(refund(w, request) for _ in range(20)))
    before = await journals(w)
    again = await refund(w, request)
    other = await outcome(refund(w, asked(w, order.order_no, key="refund-key-same")))

    assert len({answer.refund_no for answer in answers}) == 1
    assert sum(not answer.replayed for answer in answers) == 1
    assert (again.refund_no, again.replayed) == (answers[0].refund_no, True)
    assert other == "idempotency_conflict"
    assert await journals(w) == before
    found = await counter_papers.refund_by_key(w.db, clerk=w.clerk, key="refund-key-same")
    assert found is not None
    assert found.refund_no == again.refund_no
    await books_ok(w)


async def test_a_refund_of_a_top_up_that_needed_the_id_needs_it_too(world: World) -> None:
    w = world
    policy = IdPolicy()  # HK$500.00 and more needs the holder's ID
    await checked(w, w.sim.hk_number.e164)
    order = await sold(w, 600, policy=policy)
    w.clock.advance(timedelta(minutes=20))  # the match of the sale no longer counts

    refused = await outcome(refund(w, asked(w, order.order_no), policy=policy))
    matched = await refunds.check_holder_id(
        w.db,
        clerk=w.clerk,
        topup=order.receipt_no or "",
        id_type=HOLDER_ID[0].value,
        id_number=HOLDER_ID[1],
        id_key=ID_KEY,
        limits=LIMITS,
        actor=w.actor,
        now=w.clock.now(),
    )
    made = await refund(w, asked(w, order.order_no), policy=policy)

    assert (refused, matched, made.state) == ("id_check_required", True, RefundState.PAID)
    small = await sold(w, 100, policy=policy)
    assert await outcome(refund(w, asked(w, small.order_no), policy=policy)) == "ok"


async def checked(w: World, number: str) -> None:
    matched = await counter.check_id(
        w.db,
        clerk=w.clerk,
        number=number,
        id_type=HOLDER_ID[0].value,
        id_number=HOLDER_ID[1],
        id_key=ID_KEY,
        limits=LIMITS,
        actor=w.actor,
        now=w.clock.now(),
    )
    assert matched


async def test_a_refund_is_made_only_in_an_open_shift(world: World) -> None:
    w = world
    order = await sold(w, 100)
    await counter.close_shift(
        w.db,
        clerk=w.clerk,
        shift_id=w.shift_id,
        counted_minor=OPENING + 10_000,
        actor=w.actor,
        now=w.clock.now(),
    )

    assert await outcome(refund(w, asked(w, order.order_no))) == "no_open_shift"
    assert (await order_now(w, order.order_no)).state is OrderState.CREDITED


async def test_asked_online_approved_paid_to_the_float_then_paid_out_once_at_a_counter(
    world: World,
) -> None:
    w = world
    order = await sold(w, 200)  # HK$200.00 in cash: commission HK$3.00
    holder = await subscribers.enroll(
        w.db,
        phone="+85261234567",
        password="correct horse",
        language="zh_Hant_HK",
        now=w.clock.now(),
    )
    stranger = await subscribers.enroll(
        w.db, phone="+85261234568", password="correct horse", language="en", now=w.clock.now()
    )
    await w.db.transaction(
        lambda conn: sims.assign_sim(conn, subscriber_id=holder, sim_id=w.sim.id, now=w.clock.now())
    )
    olive = Actor(await operator(w.db, "olive", now=w.clock.now()), "127.0.0.1")
    float_before = await balance(w.db, w.where.float_code)

    not_theirs = await outcome(ask_online(w, order, Asking(stranger, idempotency_key="k-1")))
    asked_for = await ask_online(w, order, Asking(holder, idempotency_key="k-2"))
    assert not_theirs == "unknown_refund"
    assert (asked_for.state, asked_for.agent_id) == (RefundState.REQUESTED, w.where.agent_id)

    approved = await w.db.transaction(
        lambda conn: refund_service.approve(
            conn, refund_no=asked_for.refund_no, actor=olive, note="ok", now=w.clock.now()
        )
    )
    assert (approved.state, approved.payout) == (RefundState.PAID, None)
    assert await sending.send_due(w.db, adapters={}, now=w.clock.now()) == 0
    assert await balance(w.db, w.where.float_code) == float_before + 20_000
    assert await balance(w.db, w.where.commission_code) == 0
    assert await balance(w.db, PAYABLE) == 0
    assert (await order_now(w, order.order_no)).state is OrderState.REFUNDED
    texts = await texts_to(w, "+85261234567")
    assert any(asked_for.refund_no in text and "領取" in text for text in texts), texts

    cathy = await colleague(w, "clerk.cwb", "HANDY-2")
    waiting = await counter_papers.waiting_here(w.db, clerk=cathy)
    assert [found.refund_no for found in waiting] == [asked_for.refund_no]
    collect = Collect(key="payout-key-1", refund_no=asked_for.refund_no, payer=CASH)
    paid_out = await refunds.pay_out(
        w.db,
        clerk=cathy,
        actor=Actor(cathy.id, "127.0.0.1"),
        request=collect,
        policy=CHEAP,
        now=w.clock.now(),
    )
    replayed = await refunds.pay_out(
        w.db,
        clerk=cathy,
        actor=Actor(cathy.id, "127.0.0.1"),
        request=collect,
        policy=CHEAP,
        now=w.clock.now(),
    )
    twice = await outcome(
        refunds.pay_out(
            w.db,
            clerk=w.clerk,
            actor=w.actor,
            request=Collect(key="payout-key-2", refund_no=asked_for.refund_no, payer=CASH),
            policy=CHEAP,
            now=w.clock.now(),
        )
    )

    assert (paid_out.payout, paid_out.clerk_id, replayed.replayed) == ("cash", cathy.id, True)
    assert twice == "refund_paid_out"
    assert await counter_papers.waiting_here(w.db, clerk=w.clerk) == []
    assert await balance(w.db, w.where.float_code) == float_before + 20_000  # no money twice
    shift = await counter.current_shift(w.db, clerk=cathy)
    assert shift is not None
    report = await counter.shift_report(w.db, shift_id=shift.id, viewer=cathy)
    assert report is not None
    assert report.expected_cash == Money(80_000, "HKD")  # HK$1,000 less the HK$200 paid out
    await books_ok(w)


async def ask_online(w: World, order: Order, asking: Asking) -> Refund:
    return await w.db.transaction(
        lambda conn: refund_service.request_refund(
            conn,
            order_no=order.order_no,
            asking=asking,
            reason=Reason.NOT_NEEDED,
            note="",
            asked=None,
            rule=NO_RULE,
            now=w.clock.now(),
        )
    )


async def test_the_database_refuses_a_payout_the_rules_do_not_allow(world: World) -> None:
    w = world
    order = await sold(w, 100, CARD)
    made = await refund(w, asked(w, order.order_no, payer=Payer(Payment.CARD, "TERM-R-1")))
    c = refund_tables.refunds.c

    async def change(**values: object) -> str:
        async def run(conn: AsyncConnection) -> None:
            await conn.execute(
                refund_tables.refunds.update().where(c.refund_no == made.refund_no).values(**values)
            )

        try:
            await w.db.transaction(run)
        except INTEGRITY_ERRORS:
            return "refused"
        return "changed"

    assert await change(terminal_ref=None) == "refused"  # a card payout names its reference
    assert await change(shift_id=None) == "refused"  # paid out in a shift
    assert await change(state="requested") == "refused"  # only a paid refund is paid out
    assert await change(commission_back_minor=-1) == "refused"
    assert (
        await change(
            payout=None,
            paid_out_at=None,
            shift_id=None,
            clerk_id=None,
            outlet_id=None,
            terminal_ref=None,
        )
        == "changed"
    )


async def test_payouts_of_one_refund_at_once_at_two_counters_pay_it_out_once(
    world: World,
) -> None:
    w = world
    order = await sold(w, 100)
    olive = Actor(await operator(w.db, "olive", now=w.clock.now()), "127.0.0.1")
    asked_for = await ask_online(w, order, Asking(None, staff=olive))
    await w.db.transaction(
        lambda conn: refund_service.approve(
            conn, refund_no=asked_for.refund_no, actor=olive, note="", now=w.clock.now()
        )
    )
    cathy = await colleague(w, "clerk.cwb", "HANDY-2")

    def payout(clerk: StaffMember, n: int) -> Awaitable[object]:
        collect = Collect(key=f"payout-{clerk.id}-{n}", refund_no=asked_for.refund_no, payer=CASH)
        return refunds.pay_out(
            w.db,
            clerk=clerk,
            actor=Actor(clerk.id, "127.0.0.1"),
            request=collect,
            policy=CHEAP,
            now=w.clock.now(),
        )

    outcomes = await asyncio.gather(
        *(outcome(payout(clerk, n)) for n in range(10) for clerk in (w.clerk, cathy))
    )

    assert Counter(outcomes) == {"ok": 1, "refund_paid_out": 19}
    paid_out = await refund_now(w, asked_for.refund_no)
    assert paid_out.payout == "cash"
