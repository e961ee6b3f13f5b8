"""Reconciliation as worked examples, on SQLite and PostgreSQL (docs/reconciliation.md).

AlipayHK's 25 November 2026: HK$100.00 top-ups paid and credited, one whose notification was
lost, one the payer never paid, refunds paid or still on their way; the bill is built row by
row with every kind of difference planted. Each story checks the classes counted, what was
done about each row (credited once, asked about, carried, flagged), the fees in the books,
and that running the day again changes nothing."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.ledger import chart
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.payments.model import ProviderTrade, RefundStatus
from simkeep.reconciliation import daily, queries
from simkeep.reconciliation import service as reconciliation
from simkeep.reconciliation.bill import Bill, BillNotReady, BillRefused, BillRow, RowKind
from simkeep.reconciliation.model import (
    Action,
    AlreadyResolved,
    Counts,
    DayNotOver,
    InvalidNote,
    NotResolvable,
    OtherBill,
    RowClass,
    RunState,
    Side,
    Stage,
    UnknownDifference,
)
from simkeep.reconciliation.queries import Difference, Reconciliation
from simkeep.reconciliation.sources import BillSource
from simkeep.refunds.model import RefundState
from simkeep.refunds.queries import get_refund
from simkeep.staff import audit
from simkeep.staff.audit import Actor
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderState
from tests.agent_world import operator
from tests.integration.reconciliation_world import (
    CARRY,
    DAY,
    HUNDRED,
    PROVIDER,
    World,
    hk,
    make_world,
    paid,
    paid_back,
    stranger,
)

NEXT = DAY + timedelta(days=1)
FEES = chart.system_code(System.PROVIDER_FEES, "HKD")
CLEARING = chart.provider_clearing_code(PROVIDER.value, "HKD")


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> World:
    return await make_world(db, clock)


async def run(
    w: World,
    day: date = DAY,
    *,
    source: BillSource | None = None,
    by: str = "cli",
) -> Reconciliation:
    """Reconcile ``day`` the morning after, as the command line does."""
    w.clock.set(hk(day + timedelta(days=1), 10))
    return await reconciliation.reconcile(
        w.db,
        provider=PROVIDER,
        day=day,
        source=source or w.provider,
        adapter=w.provider.adapter,
        by=by,
        clock=w.clock,
        carry=CARRY,
    )


async def rows_of(w: World, day: date = DAY) -> list[Difference]:
    async def read(conn: AsyncConnection) -> list[Difference]:
        found = await queries.get_reconciliation(conn, provider=PROVIDER, day=day)
        assert found is not None
        return await queries.differences(conn, reconciliation_id=found.id)

    return await w.db.read(read)


def by_number(rows: list[Difference]) -> dict[str, Difference]:
    return {row.refund_no or row.order_no: row for row in rows}


async def day_of(w: World, day: date = DAY) -> Reconciliation:
    found = await w.db.read(
        lambda conn: queries.get_reconciliation(conn, provider=PROVIDER, day=day)
    )
    assert found is not None
    return found


async def state_of(w: World, order: Order) -> OrderState:
    found = await w.db.read(lambda conn: topups.get_order(conn, order_no=order.order_no))
    assert found is not None
    return found.state


async def test_every_kind_of_difference_in_one_bill(world: World) -> None:
    w = world
    matched = await w.order(hk(DAY, 9))
    short = await w.order(hk(DAY, 10))
    lost = await w.order(hk(DAY, 11), credit=False)  # the notification never came
    w.provider.paid[lost.order_no] = lost.pay
    unpaid = await w.order(hk(DAY, 11, 30), credit=False)  # the bill says paid, the query not
    missing = await w.order(hk(DAY, 15))
    late = await w.order(hk(DAY, 23, 55))
    refunded = await w.refund(await w.order(hk(DAY, 8)), hk(DAY, 16), answer=RefundStatus.SUCCEEDED)
    on_its_way = await w.refund(
        await w.order(hk(DAY, 8, 30)), hk(DAY, 16, 30), answer=RefundStatus.PROCESSING
    )
    assert on_its_way.state is RefundState.PROCESSING
    before = await w.sim_balance()
    w.bill(
        DAY,
        paid(matched, at=hk(DAY, 9), fee=60),
        paid(short, at=hk(DAY, 10), fee=54, amount=Money(9_000, "HKD")),
        paid(lost, at=hk(DAY, 11), fee=60),
        paid(unpaid, at=hk(DAY, 11, 30), fee=60),
        stranger("T9999NOPE", at=hk(DAY, 12)),
        paid_back(refunded, at=hk(DAY, 16), fee_back=60),
        paid_back(on_its_way, at=hk(DAY, 16, 30), fee_back=60),
    )

    done = await run(w)

    assert done.state is RunState.DONE
    assert done.bill_rows == 7
    assert done.counts == Counts(
        matched=1 + 1,  # the payment, and the refund paid
        amount_mismatch=1,
        paid_not_credited=3,  # lost, unpaid, the refund on its way
        provider_only=1,
        local_only=3,  # missing, and the two refunded orders' payments (on earlier bills)
        carried=1,
    )
    rows = by_number(await rows_of(w))
    assert matched.order_no not in rows
    assert refunded.refund_no not in rows
    assert (rows[short.order_no].row_class, rows[short.order_no].action) == (
        RowClass.AMOUNT_MISMATCH,
        Action.NONE,
    )
    assert rows[short.order_no].billed == Money(9_000, "HKD")
    assert rows[short.order_no].local == HUNDRED
    assert (rows[lost.order_no].row_class, rows[lost.order_no].action) == (
        RowClass.PAID_NOT_CREDITED,
        Action.CREDITED,
    )
    assert rows[lost.order_no].acted_by == "cli"
    assert await state_of(w, lost) is OrderState.CREDITED
    assert await w.sim_balance() == before + HUNDRED  # the lost one, credited once
    assert (rows[unpaid.order_no].action, rows[unpaid.order_no].answer) == (
        Action.QUERY_UNPAID,
        "unpaid",
    )
    assert await state_of(w, unpaid) is OrderState.CREATED
    assert rows["T9999NOPE"].row_class is RowClass.PROVIDER_ONLY
    assert rows["T9999NOPE"].local is None
    assert (rows[missing.order_no].side, rows[missing.order_no].row_class) == (
        Side.LOCAL,
        RowClass.LOCAL_ONLY,
    )
    assert (rows[late.order_no].row_class, rows[late.order_no].action) == (
        RowClass.CARRIED,
        Action.CARRIED,
    )
    assert (rows[on_its_way.refund_no].row_class, rows[on_its_way.refund_no].action) == (
        RowClass.PAID_NOT_CREDITED,
        Action.CREDITED,
    )
    now_paid = await w.db.read(lambda conn: get_refund(conn, refund_no=on_its_way.refund_no))
    assert now_paid is not None
    assert now_paid.state is RefundState.PAID
    assert w.provider.asked.count(lost.order_no) == 1
    # Fees: 60 + 54 + 60 + 60 kept on payments, 60 + 60 given back on refunds.
    assert await w.balance(FEES) == Money(114, "HKD")
    assert await w.journals("reconcile-fees:") == 1
    (totals,) = done.totals
    assert (totals.payments, totals.refunds, totals.net_fee) == (5, 2, Money(114, "HKD"))
    assert (totals.paid, totals.paid_back) == (Money(49_000, "HKD"), HUNDRED * 2)
    await w.books_ok()


async def test_running_a_day_again_changes_nothing(world: World) -> None:
    w = world
    lost = await w.order(hk(DAY, 11), credit=False)
    w.provider.paid[lost.order_no] = lost.pay
    missing = await w.order(hk(DAY, 15))
    w.bill(DAY, paid(lost, at=hk(DAY, 11), fee=60), stranger("T9999NOPE", at=hk(DAY, 12)))
    first = await run(w)
    balance = await w.sim_balance()
    staff = await operator(w.db, "olive", now=w.clock.now())
    rows = await rows_of(w)
    await w.db.transaction(
        lambda conn: reconciliation.resolve(
            conn,
            provider=PROVIDER,
            day=DAY,
            item_id=by_number(rows)[missing.order_no].id,
            actor=Actor(staff, "127.0.0.1"),
            note="a test payment, refunded by hand",
            now=w.clock.now(),
        )
    )
    resolved = await rows_of(w)

    again = await run(w)

    assert again.counts == first.counts
    assert await rows_of(w) == resolved  # the resolution kept, nothing added
    assert await w.sim_balance() == balance  # credited once
    assert w.provider.asked.count(lost.order_no) == 1  # nothing left to ask
    assert await w.journals("reconcile-fees:") == 1
    assert await w.journals(f"topup:{lost.order_no}") == 1
    await w.books_ok()


async def test_a_bill_that_does_not_add_up_is_refused_and_changes_nothing(world: World) -> None:
    w = world
    lost = await w.order(hk(DAY, 11), credit=False)
    w.provider.paid[lost.order_no] = lost.pay
    before = await w.sim_balance()

    class Refusing:
        async def bill(self, day: date) -> Bill:
            raise BillRefused("the summary says 2 payments, the rows are 1")

    with pytest.raises(BillRefused):
        await run(w, source=Refusing())

    found = await day_of(w)
    assert found.state is RunState.REFUSED
    assert found.reason == "the summary says 2 payments, the rows are 1"
    assert found.digest is None
    assert await rows_of(w) == []
    assert await w.sim_balance() == before
    assert await state_of(w, lost) is OrderState.CREATED
    assert w.provider.asked == []
    assert await w.journals("reconcile-fees:") == 0

    w.bill(DAY, paid(lost, at=hk(DAY, 11), fee=60))
    done = await run(w)  # the provider's bill, fetched again, adds up
    assert done.state is RunState.DONE
    assert done.reason is None
    with pytest.raises(BillRefused):
        await run(w, source=Refusing())
    assert (await day_of(w)).state is RunState.DONE  # a refusal never overwrites a matched day


async def test_a_bill_not_out_yet_leaves_the_day_waiting(world: World) -> None:
    w = world
    with pytest.raises(BillNotReady):
        await run(w)
    waiting = await day_of(w)
    assert waiting.state is RunState.WAITING
    assert waiting.next_try_at == hk(NEXT, 10, 30)


async def test_another_bill_for_a_matched_day_is_refused(world: World) -> None:
    w = world
    order = await w.order(hk(DAY, 9))
    w.bill(DAY, paid(order, at=hk(DAY, 9), fee=60))
    first = await run(w)
    w.bill(DAY, paid(order, at=hk(DAY, 9), fee=61))
    with pytest.raises(OtherBill):
        await run(w)
    assert await day_of(w) == first
    assert await w.balance(FEES) == Money(60, "HKD")


async def test_a_day_not_over_has_no_bill(world: World) -> None:
    w = world
    w.clock.set(hk(DAY, 23, 59))
    with pytest.raises(DayNotOver):
        await reconciliation.reconcile(
            w.db,
            provider=PROVIDER,
            day=DAY,
            source=w.provider,
            adapter=w.provider.adapter,
            by="cli",
            clock=w.clock,
            carry=CARRY,
        )


async def test_midnight_carry_over_matched_the_next_day_or_flagged(world: World) -> None:
    w = world
    found_later = await w.order(hk(DAY, 23, 55))  # booked by the provider after midnight
    never = await w.order(hk(DAY, 23, 58))  # in no bill at all
    after_midnight = await w.order(hk(NEXT, 0, 0, 2))  # paid 23:59:59, credited 00:00:02
    w.bill(DAY, paid(after_midnight, at=hk(DAY, 23, 59, 59)))
    w.bill(NEXT, paid(found_later, at=hk(NEXT, 0, 1)))

    first = await run(w)
    assert (first.counts.carried, first.counts.matched, first.counts.local_only) == (2, 1, 0)
    rows = by_number(await rows_of(w))
    assert rows[after_midnight.order_no].row_class is RowClass.MATCHED  # simkeep's next day
    assert rows[after_midnight.order_no].local_at == hk(NEXT, 0, 0, 2)

    second = await run(w, NEXT)
    assert second.counts == Counts(matched=1)  # the carried one; 00:00:02 is D's already
    assert await rows_of(w, NEXT) == [
        row for row in await rows_of(w, NEXT) if row.side is Side.BILL
    ]
    rows = by_number(await rows_of(w))
    assert (rows[found_later.order_no].row_class, rows[found_later.order_no].action) == (
        RowClass.MATCHED,
        Action.CARRIED,
    )
    assert rows[found_later.order_no].other_day == NEXT
    assert (rows[never.order_no].row_class, rows[never.order_no].action) == (
        RowClass.LOCAL_ONLY,
        Action.NONE,
    )
    assert rows[never.order_no].other_day == NEXT
    day = await day_of(w)
    assert (day.counts.matched, day.counts.carried, day.counts.local_only) == (2, 0, 1)
    assert day.open == 1

    await run(w, NEXT)  # again: nothing is carried twice
    assert by_number(await rows_of(w)) == rows


async def test_days_matched_out_of_order_come_to_the_same(world: World) -> None:
    w = world
    found_later = await w.order(hk(DAY, 23, 55))
    never = await w.order(hk(DAY, 23, 58))
    after_midnight = await w.order(hk(NEXT, 0, 0, 2))
    w.bill(DAY, paid(after_midnight, at=hk(DAY, 23, 59, 59)))
    w.bill(NEXT, paid(found_later, at=hk(NEXT, 0, 1)))

    await run(w, NEXT)
    next_day = await day_of(w, NEXT)
    assert next_day.counts.local_only == 1  # 00:00:02, its bill not matched yet
    await run(w, DAY)

    rows = by_number(await rows_of(w))
    assert rows[never.order_no].row_class is RowClass.LOCAL_ONLY  # the next day lacked it
    assert found_later.order_no not in rows  # the next day's bill had it: not missing here
    next_rows = by_number(await rows_of(w, NEXT))
    assert next_rows[after_midnight.order_no].row_class is RowClass.MATCHED
    assert next_rows[after_midnight.order_no].other_day == DAY
    assert (await day_of(w, NEXT)).counts.local_only == 0


async def test_two_runs_at_once_credit_a_lost_payment_once(world: World) -> None:
    w = world
    lost = await w.order(hk(DAY, 11), credit=False)
    w.provider.paid[lost.order_no] = lost.pay
    w.bill(DAY, paid(lost, at=hk(DAY, 11), fee=60))
    before = await w.sim_balance()

    await asyncio.gather(run(w), run(w))

    assert await w.sim_balance() == before + HUNDRED
    assert await w.journals(f"topup:{lost.order_no}") == 1
    assert await w.journals("reconcile-fees:") == 1
    assert (await day_of(w)).counts.paid_not_credited == 1
    (row,) = await rows_of(w)
    assert row.action is Action.CREDITED
    await w.books_ok()


async def test_a_notification_credits_while_the_provider_is_asked(world: World) -> None:
    w = world
    lost = await w.order(hk(DAY, 11), credit=False)
    w.provider.paid[lost.order_no] = lost.pay
    w.bill(DAY, paid(lost, at=hk(DAY, 11)))
    before = await w.sim_balance()
    answer = w.provider.query

    async def notified_meanwhile(out_trade_no: str) -> ProviderTrade:
        await w.db.transaction(
            lambda conn: topups.credit_paid_order(
                conn,
                order_no=lost.order_no,
                paid=lost.pay,
                provider_trade_no=f"P{lost.order_no}",
                now=w.clock.now(),
                provider=PROVIDER,
            )
        )
        return await answer(out_trade_no)

    w.provider.query = notified_meanwhile  # type: ignore[method-assign]
    await run(w)

    assert await w.sim_balance() == before + HUNDRED
    assert await w.journals(f"topup:{lost.order_no}") == 1
    await w.books_ok()


async def test_a_run_stopped_half_way_is_run_again_whole(world: World) -> None:
    w = world
    lost = await w.order(hk(DAY, 11), credit=False)
    w.provider.paid[lost.order_no] = lost.pay
    w.bill(DAY, paid(lost, at=hk(DAY, 11), fee=60), stranger("T9999NOPE", at=hk(DAY, 12)))
    before = await w.sim_balance()

    def stop(stage: Stage, done: int, total: int) -> None:
        raise RuntimeError("killed")

    w.clock.set(hk(NEXT, 10))
    with pytest.raises(RuntimeError):
        await reconciliation.reconcile(
            w.db,
            provider=PROVIDER,
            day=DAY,
            source=w.provider,
            adapter=w.provider.adapter,
            by="cli",
            clock=w.clock,
            carry=CARRY,
            progress=stop,
        )
    assert (await day_of(w)).state is RunState.RUNNING
    assert await rows_of(w) == []
    assert await w.journals("reconcile-fees:") == 0

    w.provider.down = True  # matched, then the provider does not answer
    asked = await run(w)
    assert asked.state is RunState.QUERYING
    assert asked.next_try_at == hk(NEXT, 10, 15)
    (row,) = [row for row in await rows_of(w) if row.order_no == lost.order_no]
    assert (row.action, row.answer) == (Action.NONE, "connection reset")
    assert await w.sim_balance() == before

    w.provider.down = False
    done = await run(w)
    assert done.state is RunState.DONE
    assert await w.sim_balance() == before + HUNDRED
    assert await w.journals("reconcile-fees:") == 1
    await w.books_ok()


async def test_staff_resolve_a_difference_once_and_the_log_says_so(world: World) -> None:
    w = world
    missing = await w.order(hk(DAY, 15))
    late = await w.order(hk(DAY, 23, 55))
    w.bill(DAY)
    await run(w)
    rows = by_number(await rows_of(w))
    olive = Actor(await operator(w.db, "olive", now=w.clock.now()), "127.0.0.1")
    fiona = Actor(await operator(w.db, "fiona", now=w.clock.now()), "127.0.0.1")

    async def resolve(item_id: int, actor: Actor, note: str) -> Difference:
        return await w.db.transaction(
            lambda conn: reconciliation.resolve(
                conn,
                provider=PROVIDER,
                day=DAY,
                item_id=item_id,
                actor=actor,
                note=note,
                now=w.clock.now(),
            )
        )

    with pytest.raises(InvalidNote):
        await resolve(rows[missing.order_no].id, olive, "  ")
    done = await resolve(rows[missing.order_no].id, olive, "a test top-up, refunded by hand")
    assert (done.action, done.note) == (Action.RESOLVED, "a test top-up, refunded by hand")
    assert done.acted_by == f"staff:{olive.staff_id}"
    with pytest.raises(AlreadyResolved):
        await resolve(rows[missing.order_no].id, fiona, "me too")
    with pytest.raises(NotResolvable):
        await resolve(rows[late.order_no].id, fiona, "carried: the next day decides")
    with pytest.raises(UnknownDifference):
        await resolve(rows[late.order_no].id + 1000, fiona, "no such row")
    (entry,) = await w.db.read(lambda conn: audit.entries(conn, action="reconciliation.resolve"))
    assert entry.staff_id == olive.staff_id
    assert entry.target.id == str(rows[missing.order_no].id)
    assert entry.before["action"] == "none"  # type: ignore[index]
    assert entry.after["action"] == "resolved"  # type: ignore[index]
    assert (await day_of(w)).open == 0


async def test_the_job_reconciles_yesterday_once_the_bills_are_out(world: World) -> None:
    w = world
    order = await w.order(hk(DAY, 9))
    adapters = {PROVIDER: w.provider.adapter}

    async def tick(at: datetime) -> int:
        w.clock.set(at)
        return await daily.reconcile_due(
            w.db, adapters=adapters, clock=w.clock, at=time(10), carry=CARRY
        )

    assert await tick(hk(NEXT, 9, 59)) == 0  # before the set time
    assert await tick(hk(NEXT, 10)) == 1  # no bill yet: waiting
    assert (await day_of(w)).state is RunState.WAITING
    assert await tick(hk(NEXT, 10, 1)) == 0  # not asked again at once
    w.bill(DAY, paid(order, at=hk(DAY, 9), fee=60))
    assert await tick(hk(NEXT, 10, 30)) == 1
    done = await day_of(w)
    assert (done.state, done.run_by, done.counts.matched) == (RunState.DONE, "job", 1)
    assert await tick(hk(NEXT, 11)) == 0  # done: left alone
    assert await w.journals("reconcile-fees:") == 1


async def test_the_job_leaves_a_refused_bill_and_takes_over_a_stopped_run(
    world: World,
) -> None:
    w = world
    lost = await w.order(hk(DAY, 11), credit=False)
    w.provider.paid[lost.order_no] = lost.pay
    adapters = {PROVIDER: w.provider.adapter}

    async def tick(at: datetime) -> int:
        w.clock.set(at)
        return await daily.reconcile_due(
            w.db, adapters=adapters, clock=w.clock, at=time(10), carry=CARRY
        )

    refused = Bill(PROVIDER, NEXT, ())  # another day's bill: refused
    w.provider.bills[DAY] = refused
    assert await tick(hk(NEXT, 10)) == 1
    assert (await day_of(w)).state is RunState.REFUSED
    assert await tick(hk(NEXT, 12)) == 0  # shown, not fetched again

    other = DAY + timedelta(days=1)
    w.bill(other, paid(lost, at=hk(other, 11)))
    w.provider.down = True
    assert await tick(hk(other + timedelta(days=1), 10)) == 1
    assert (await day_of(w, other)).state is RunState.QUERYING
    assert await tick(hk(other + timedelta(days=1), 10, 5)) == 0  # asked again later
    w.provider.down = False
    assert await tick(hk(other + timedelta(days=1), 10, 15)) == 1
    assert (await day_of(w, other)).state is RunState.DONE
    assert await state_of(w, lost) is OrderState.CREDITED


async def test_a_payment_named_twice_is_matched_once(world: World) -> None:
    w = world
    order = await w.order(hk(DAY, 9))
    again = BillRow(
        RowKind.PAY, order.order_no, "", "P-SECOND", order.pay, Money(60, "HKD"), hk(DAY, 9, 5)
    )
    w.bill(DAY, paid(order, at=hk(DAY, 9), fee=60), again)

    done = await run(w)

    assert (done.counts.matched, done.counts.provider_only) == (1, 1)
    (row,) = await rows_of(w)
    assert (row.trade_no, row.row_class, row.local) == ("P-SECOND", RowClass.PROVIDER_ONLY, None)


async def test_what_the_provider_answers_otherwise_is_flagged(world: World) -> None:
    w = world
    other_amount = await w.order(hk(DAY, 11), credit=False)
    w.provider.paid[other_amount.order_no] = Money(9_000, "HKD")  # paid, another amount
    still_on_its_way = await w.refund(
        await w.order(hk(DAY, 8)), hk(DAY, 16), answer=RefundStatus.PROCESSING
    )
    w.provider.refunds[still_on_its_way.refund_no] = RefundStatus.PROCESSING
    before = await w.sim_balance()
    w.bill(
        DAY,
        paid(other_amount, at=hk(DAY, 11)),
        paid_back(still_on_its_way, at=hk(DAY, 16)),
    )

    done = await run(w)

    rows = by_number(await rows_of(w))
    mismatch = rows[other_amount.order_no]
    assert (mismatch.row_class, mismatch.action) == (RowClass.AMOUNT_MISMATCH, Action.NONE)
    assert mismatch.answer == "paid 90.00 HKD"
    assert await state_of(w, other_amount) is OrderState.CREATED
    assert await w.sim_balance() == before
    refund = rows[still_on_its_way.refund_no]
    assert (refund.action, refund.answer) == (Action.QUERY_UNPAID, "processing")
    assert (done.counts.amount_mismatch, done.counts.paid_not_credited) == (1, 1)
    assert done.state is RunState.DONE
    assert done.open == 3  # the two, and the refunded order's payment on no bill of the day
