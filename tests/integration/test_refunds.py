"""Refunds as worked examples, on SQLite and PostgreSQL (docs/refunds.md).

Subscriber 陳 tops up HK$100.00 by FPS: to a wrong number, to their own SIM that then spends
some, with a promotion's HK$20.00 bonus, or paid in yuan by Alipay. They ask for the money
back; the rule or staff decide; the provider (a fake at the border, which pays each refund
number once) pays it back. Every step's books, order state, audit entry and SMS are checked,
and the ledger check passes after each story."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.buckets import tables as bt
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.names import Names
from simkeep.notifications.tables import outbox
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import (
    PaymentProviderAdapter,
    ProviderError,
    ProviderRefund,
    RefundRequest,
    RefundStatus,
)
from simkeep.promotions import service as promotions
from simkeep.promotions.model import Benefit, BenefitKind, Conditions
from simkeep.refunds import sending
from simkeep.refunds import service as refunds
from simkeep.refunds.model import (
    AutoRule,
    NothingToRefund,
    NotRefundable,
    Reason,
    RefundDecided,
    RefundOpen,
    RefundState,
    UnknownRefund,
)
from simkeep.refunds.queries import Refund, get_refund
from simkeep.refunds.service import Asking, IdempotencyConflict
from simkeep.sims.model import Sim
from simkeep.staff import audit
from simkeep.staff.audit import Actor
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderRequest, OrderState
from tests.agent_world import operator
from tests.factories import issue_sim, seed_books

HUNDRED = Money(10_000, "HKD")
RULE = AutoRule(max_credit=30_000, within=timedelta(hours=24))
NO_RULE = AutoRule(max_credit=0, within=timedelta(0))


@dataclass
class World:
    db: Database
    clock: FixedClock
    sim: Sim
    payer: int
    support: Actor
    other: Actor
    keys: int = 0

    def asking(self, key: str | None = None) -> Asking:
        return Asking(self.payer, idempotency_key=key)


@dataclass
class FakeProvider:
    """The provider's side of refunds: each refund number pays once, whatever the retries."""

    answers: list[RefundStatus | str] = field(default_factory=list)  # scripted, then paid
    asked: list[str] = field(default_factory=list)
    queried: list[str] = field(default_factory=list)
    paid_out: dict[str, Money] = field(default_factory=dict)

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        self.asked.append(request.out_refund_no)
        return self._answer(request)

    async def query_refund(self, request: RefundRequest) -> ProviderRefund:
        self.queried.append(request.out_refund_no)
        return self._answer(request)

    def _answer(self, request: RefundRequest) -> ProviderRefund:
        script = self.answers.pop(0) if self.answers else RefundStatus.SUCCEEDED
        if script == "error":
            raise ProviderError("connection reset")
        status = RefundStatus(script)
        if status is RefundStatus.SUCCEEDED:
            self.paid_out.setdefault(request.out_refund_no, request.amount)
        reason = "ACQ.TRADE_STATUS_ERROR" if status is RefundStatus.FAILED else None
        return ProviderRefund(request.out_refund_no, status, request.amount, "P1", None, reason)


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> World:
    async def make(conn: AsyncConnection) -> Sim:
        await seed_books(conn, now=clock.now())
        return await issue_sim(conn, n=1, plan="HK-KEEP", now=clock.now())

    sim = await db.transaction(make)
    payer = await subscribers.enroll(
        db, phone="+85291234567", password="correct horse", language="zh_Hant_HK", now=clock.now()
    )
    olive = await operator(db, "olive", now=clock.now())
    fiona = await operator(db, "fiona", now=clock.now())
    return World(db, clock, sim, payer, Actor(olive, "127.0.0.1"), Actor(fiona, "127.0.0.1"))


async def credited(
    w: World, *, provider: Provider = Provider.FPS, pay_currency: str = "HKD"
) -> Order:
    w.keys += 1
    number = w.sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=w.payer,
        idempotency_key=f"k{w.keys}",
        number=number,
        confirm_number=number,
        credit=HUNDRED,
        pay_currency=pay_currency,
        provider=provider,
        channel=Channel.QR,
    )

    async def run(conn: AsyncConnection) -> Order:
        order = await topups.create_order(conn, request=request, now=w.clock.now())
        result = await topups.credit_paid_order(
            conn, order_no=order.order_no, paid=order.pay, provider_trade_no="T1", now=w.clock.now()
        )
        return result.order

    return await w.db.transaction(run)


async def ask(
    w: World,
    order: Order,
    *,
    reason: Reason = Reason.WRONG_NUMBER,
    rule: AutoRule = RULE,
    asked: Money | None = None,
    asking: Asking | None = None,
) -> Refund:
    return await w.db.transaction(
        lambda conn: refunds.request_refund(
            conn,
            order_no=order.order_no,
            asking=asking or w.asking(),
            reason=reason,
            note="typed one digit wrong",
            asked=asked,
            rule=rule,
            now=w.clock.now(),
        )
    )


async def decide(w: World, refund: Refund, *, approve: bool, actor: Actor | None = None) -> Refund:
    act = refunds.approve if approve else refunds.refuse
    who = actor or w.support
    return await w.db.transaction(
        lambda conn: act(conn, refund_no=refund.refund_no, actor=who, note="ok", now=w.clock.now())
    )


async def send(w: World, provider: FakeProvider, kind: Provider = Provider.FPS) -> int:
    adapters: dict[Provider, PaymentProviderAdapter] = {kind: provider}  # type: ignore[dict-item]
    return await sending.send_due(w.db, adapters=adapters, now=w.clock.now())


async def money(w: World, code: str) -> Money:
    async def read(conn: AsyncConnection) -> Money:
        account = await ledger.get_account_by_code(conn, code=code)
        assert account is not None
        return (await ledger.get_balance(conn, account_id=account.id)).available_money()

    return await w.db.read(read)


def sim_code(w: World) -> str:
    return chart.sim_balance(w.sim.id, "HKD").code


async def state_of(w: World, order: Order) -> OrderState:
    found = await w.db.read(lambda conn: topups.get_order(conn, order_no=order.order_no))
    assert found is not None
    return found.state


async def refund_now(w: World, refund: Refund) -> Refund:
    found = await w.db.read(lambda conn: get_refund(conn, refund_no=refund.refund_no))
    assert found is not None
    return found


async def texts_to(w: World, phone: str) -> list[str]:
    rows = await w.db.read(
        lambda conn: conn.execute(select(outbox.c.body).where(outbox.c.recipient == phone))
    )
    return [row.body for row in rows]


async def books_ok(w: World) -> None:
    report = await w.db.transaction(ledger.check_books)
    assert report.ok, report


async def spend(w: World, minor: int, *, from_bonus: int = 0) -> None:
    """Usage of ``minor`` from the balance and ``from_bonus`` from the bonus, as charging
    books it (bonus buckets first)."""

    async def run(conn: AsyncConnection) -> None:
        codes = [
            chart.sim_bonus(w.sim.id, "HKD").code,
            sim_code(w),
            chart.system_code(System.USAGE_REVENUE, "HKD"),
        ]
        ids = await ledger.account_ids(conn, codes=codes)
        postings = rules.usage(
            sim_bonus=ids.get(codes[0], 0),
            sim_balance=ids[codes[1]],
            revenue=ids[codes[2]],
            from_bonus=Money(from_bonus, "HKD"),
            from_balance=Money(minor, "HKD"),
        )
        await ledger.post_journal(
            conn, client_id=f"use:{minor}:{from_bonus}", postings=postings, now=w.clock.now()
        )
        if from_bonus:
            c = bt.buckets.c
            await conn.execute(
                bt.buckets.update()
                .where(c.sim_id == w.sim.id, c.kind == "money")
                .values(remaining=c.remaining - from_bonus)
            )

    await w.db.transaction(run)


async def test_a_wrong_number_top_up_untouched_comes_back_by_the_rule(world: World) -> None:
    w = world
    order = await credited(w)
    refund = await ask(w, order)
    assert refund.state is RefundState.APPROVED
    assert refund.decided_by == "rule:wrong_number_unused"
    assert (refund.taken, refund.pay, refund.full) == (HUNDRED, HUNDRED, True)
    assert await money(w, sim_code(w)) == Money(0, "HKD")
    payable = chart.system_code(System.REFUNDS_PAYABLE, "HKD")
    assert await money(w, payable) == HUNDRED
    assert await state_of(w, order) is OrderState.REFUND_REQUESTED
    logged = await w.db.read(lambda conn: audit.entries(conn, action="refund.approve"))
    assert [entry.origin for entry in logged] == ["rule:wrong_number_unused"]

    provider = FakeProvider()
    assert await send(w, provider) == 1
    assert provider.paid_out == {refund.refund_no: HUNDRED}
    assert (await refund_now(w, refund)).state is RefundState.PAID
    assert await state_of(w, order) is OrderState.REFUNDED
    assert await money(w, payable) == Money(0, "HKD")
    clearing = chart.provider_clearing_code("fps", "HKD")
    assert await money(w, clearing) == Money(0, "HKD")  # in with the top-up, out with this
    texts = await texts_to(w, "+85291234567")
    assert any(refund.refund_no in text and "退款" in text for text in texts), texts
    assert await send(w, provider) == 0  # nothing due any more
    await books_ok(w)


async def test_a_used_balance_gives_back_the_rest_after_staff_approve(world: World) -> None:
    w = world
    order = await credited(w)
    await spend(w, 3_000)
    refund = await ask(w, order, reason=Reason.NOT_NEEDED)
    assert refund.state is RefundState.REQUESTED  # not the rule's: staff decide
    assert refund.pay == Money(7_000, "HKD")
    assert await money(w, sim_code(w)) == Money(0, "HKD")  # held while staff decide
    approved = await decide(w, refund, approve=True)
    assert approved.state is RefundState.APPROVED
    with pytest.raises(RefundDecided):
        await decide(w, refund, approve=False, actor=w.other)
    assert await send(w, FakeProvider()) == 1
    assert await state_of(w, order) is OrderState.PARTIALLY_REFUNDED
    with pytest.raises(NothingToRefund):
        await ask(w, order)
    await books_ok(w)


async def test_refused_releases_the_hold_and_puts_the_order_back(world: World) -> None:
    w = world
    order = await credited(w)
    refund = await ask(w, order, rule=NO_RULE)
    assert await money(w, sim_code(w)) == Money(0, "HKD")
    refused = await decide(w, refund, approve=False)
    assert refused.state is RefundState.REFUSED
    assert refused.decision_note == "ok"
    assert await money(w, sim_code(w)) == HUNDRED
    assert await state_of(w, order) is OrderState.CREDITED
    logged = await w.db.read(lambda conn: audit.entries(conn, action="refund.refuse"))
    assert [(e.staff_id, e.after["state"]) for e in logged] == [(w.support.staff_id, "refused")]  # type: ignore[index]
    assert await send(w, FakeProvider()) == 0  # a refused refund is never sent
    again = await ask(w, order, rule=NO_RULE)  # asked again, a new refund
    assert again.refund_no != refund.refund_no
    await books_ok(w)


async def test_the_bonus_is_taken_back_and_its_used_part_deducted(world: World) -> None:
    w = world
    await w.db.transaction(
        lambda conn: promotions.create_promotion(
            conn,
            code="BONUS20",
            names=Names("BONUS20 繁", "BONUS20 简", "BONUS20 en"),
            priority=10,
            stackable=False,
            conditions=Conditions(currency="HKD"),
            benefits=(Benefit(BenefitKind.MONEY, 2_000, None, 90),),
            budget=None,
            per_sim_cap=None,
            now=w.clock.now(),
        )
    )
    order = await credited(w)
    bonus = chart.sim_bonus(w.sim.id, "HKD").code
    assert await money(w, bonus) == Money(2_000, "HKD")
    await spend(w, 0, from_bonus=600)
    refund = await ask(w, order, rule=NO_RULE)
    assert (refund.deducted, refund.pay) == (Money(600, "HKD"), Money(9_400, "HKD"))
    await spend(w, 0, from_bonus=400)  # more of the bonus used while staff decide
    approved = await decide(w, refund, approve=True)
    assert (approved.deducted, approved.bonus_back, approved.pay) == (
        Money(1_000, "HKD"),
        Money(1_000, "HKD"),
        Money(9_000, "HKD"),
    )
    assert await money(w, bonus) == Money(0, "HKD")
    assert await money(w, sim_code(w)) == Money(0, "HKD")
    await books_ok(w)


async def test_paid_in_yuan_goes_back_in_yuan_through_fx(world: World) -> None:
    w = world
    order = await credited(w, provider=Provider.ALIPAY, pay_currency="CNY")
    refund = await ask(w, order)
    assert refund.pay == order.pay
    provider = FakeProvider()
    assert await send(w, provider, Provider.ALIPAY) == 1
    assert provider.paid_out == {refund.refund_no: order.pay}
    clearing = chart.provider_clearing_code("alipay", "CNY")
    assert await money(w, clearing) == Money(0, "CNY")
    await books_ok(w)


async def test_retries_and_a_crash_after_the_answer_pay_once(world: World) -> None:
    w = world
    order = await credited(w)
    refund = await ask(w, order)
    provider = FakeProvider(answers=["error", RefundStatus.PROCESSING])
    assert await send(w, provider) == 0  # no answer: later
    assert (await refund_now(w, refund)).last_error == "connection reset"
    w.clock.advance(timedelta(minutes=2))
    assert await send(w, provider) == 0  # taken, processing
    assert (await refund_now(w, refund)).state is RefundState.PROCESSING
    w.clock.advance(timedelta(minutes=2))
    # The provider paid; the worker died before the books knew: nothing recorded.
    request = RefundRequest(order.order_no, refund.refund_no, HUNDRED, HUNDRED, "x")
    await provider.query_refund(request)
    w.clock.advance(timedelta(minutes=2))
    assert await send(w, provider) == 1
    assert set(provider.asked) == set(provider.queried) == {refund.refund_no}
    assert provider.paid_out == {refund.refund_no: HUNDRED}
    assert (await refund_now(w, refund)).state is RefundState.PAID
    await books_ok(w)


async def test_a_refund_the_provider_refuses_puts_the_money_back(world: World) -> None:
    w = world
    order = await credited(w)
    refund = await ask(w, order)
    assert await send(w, FakeProvider(answers=[RefundStatus.FAILED])) == 0
    failed = await refund_now(w, refund)
    assert failed.state is RefundState.FAILED
    assert failed.last_error == "ACQ.TRADE_STATUS_ERROR"
    assert await money(w, sim_code(w)) == HUNDRED
    assert await state_of(w, order) is OrderState.CREDITED
    payable = chart.system_code(System.REFUNDS_PAYABLE, "HKD")
    assert await money(w, payable) == Money(0, "HKD")
    assert any(refund.refund_no in text for text in await texts_to(w, "+85291234567"))
    await books_ok(w)


async def test_a_processing_refund_unknown_to_the_provider_is_asked_again(world: World) -> None:
    w = world
    order = await credited(w)
    refund = await ask(w, order)
    await send(w, FakeProvider(answers=[RefundStatus.PROCESSING]))
    w.clock.advance(timedelta(minutes=2))

    class Forgot(FakeProvider):
        async def query_refund(self, request: RefundRequest) -> ProviderRefund:
            self.queried.append(request.out_refund_no)
            return ProviderRefund(request.out_refund_no, RefundStatus.FAILED, reason="unknown")

    forgot = Forgot()
    assert await send(w, forgot) == 0
    assert (await refund_now(w, refund)).state is RefundState.APPROVED
    assert await send(w, forgot) == 1  # asked again, with the same number
    assert forgot.asked == [refund.refund_no]
    await books_ok(w)


async def test_fifty_requests_at_once_open_one_refund(world: World) -> None:
    w = world
    order = await credited(w)
    outcomes = await asyncio.gather(
        *(ask(w, order, rule=NO_RULE) for _ in range(50)), return_exceptions=True
    )
    made = [o for o in outcomes if isinstance(o, Refund)]
    assert len(made) == 1, outcomes
    assert all(isinstance(o, RefundOpen | Refund) for o in outcomes), outcomes
    assert await money(w, sim_code(w)) == Money(0, "HKD")
    approvals = await asyncio.gather(
        *(decide(w, made[0], approve=True, actor=(w.support, w.other)[n % 2]) for n in range(50)),
        return_exceptions=True,
    )
    assert sum(isinstance(a, Refund) for a in approvals) == 1, approvals
    assert all(isinstance(a, RefundDecided | Refund) for a in approvals), approvals
    await books_ok(w)


async def test_an_idempotency_key_replays_and_refuses_another_request(world: World) -> None:
    w = world
    order = await credited(w)
    first = await ask(w, order, rule=NO_RULE, asking=w.asking("key-1"))
    again = await ask(w, order, rule=NO_RULE, asking=w.asking("key-1"))
    assert again.refund_no == first.refund_no
    with pytest.raises(IdempotencyConflict):
        await ask(w, order, rule=NO_RULE, asking=w.asking("key-1"), asked=Money(100, "HKD"))


async def test_only_the_payer_asks_and_only_a_credited_online_top_up(world: World) -> None:
    w = world
    order = await credited(w)
    with pytest.raises(UnknownRefund):
        await ask(w, order, asking=Asking(w.payer + 1))
    staff = await ask(w, order, rule=NO_RULE, asking=Asking(None, staff=w.support))
    assert staff.requested_by == f"staff:{w.support.staff_id}"
    with pytest.raises(RefundOpen):
        await ask(w, order)


async def test_an_unpaid_top_up_is_not_refundable(world: World) -> None:
    w = world
    w.keys += 1
    number = w.sim.hk_number.e164
    request = OrderRequest.of(
        subscriber_id=w.payer,
        idempotency_key="unpaid",
        number=number,
        confirm_number=number,
        credit=HUNDRED,
        pay_currency="HKD",
        provider=Provider.FPS,
        channel=Channel.QR,
    )
    order = await w.db.transaction(
        lambda conn: topups.create_order(conn, request=request, now=w.clock.now())
    )
    with pytest.raises(NotRefundable):
        await ask(w, order)


async def test_a_success_told_twice_pays_once(world: World) -> None:
    """A notification and a query racing with the same answer: one payment, one SMS."""
    w = world
    order = await credited(w)
    refund = await ask(w, order)
    due = sending.Due(refund.refund_no, RefundState.APPROVED, 0)
    told = ProviderRefund(refund.refund_no, RefundStatus.SUCCEEDED, HUNDRED)
    first = await w.db.transaction(lambda conn: sending.record(conn, due, told, now=w.clock.now()))
    again = await w.db.transaction(lambda conn: sending.record(conn, due, told, now=w.clock.now()))
    assert (first, again) == (1, 0)
    texts = [t for t in await texts_to(w, "+85291234567") if refund.refund_no in t]
    assert len(texts) == 1, texts
    await books_ok(w)
