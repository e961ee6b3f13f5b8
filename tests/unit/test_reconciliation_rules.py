"""Reconciliation rules as worked examples (docs/reconciliation.md): how a row of AlipayHK's
bill is classed against simkeep's order or refund, what simkeep took near midnight is
carried, what may move where, what a bill adds up to, and the fee journal of a day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from simkeep.clock import HONG_KONG
from simkeep.ledger import rules
from simkeep.ledger.model import InvalidJournal, Posting
from simkeep.money import Money
from simkeep.reconciliation.bill import BillRow, RowKind
from simkeep.reconciliation.model import (
    ACTION_MOVES,
    CLASS_MOVES,
    RUN_MOVES,
    Action,
    Counts,
    DayNotOver,
    InvalidNote,
    Reading,
    RowClass,
    RunState,
    Side,
    Taken,
    Window,
    check_day,
    check_note,
    classify,
    classify_local,
    first_action,
    may_resolve,
    queryable,
    sources,
)

DAY = date(2026, 11, 25)
CARRY = timedelta(minutes=10)
WINDOW = Window.of(DAY)
CLEARING, FEES = 1, 2


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


def hk(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=HONG_KONG)


def row(kind: RowKind, minor: int, fee: int, number: str = "T1") -> BillRow:
    refund_no = "F1" if kind is RowKind.REFUND else ""
    return BillRow(kind, number, refund_no, f"P{number}", hkd(minor), hkd(fee), hk(DAY, 12))


def test_a_hk100_payment_credited_for_hk100_is_matched() -> None:
    assert classify(hkd(10_000), Taken(hkd(10_000), settled=True)) is RowClass.MATCHED


def test_hk90_billed_for_a_hk100_order_is_an_amount_mismatch_credited_or_not() -> None:
    assert classify(hkd(9_000), Taken(hkd(10_000), settled=True)) is RowClass.AMOUNT_MISMATCH
    assert classify(hkd(9_000), Taken(hkd(10_000), settled=False)) is RowClass.AMOUNT_MISMATCH


def test_the_same_figure_in_another_currency_is_an_amount_mismatch() -> None:
    taken = Taken(Money(10_000, "CNY"), settled=True)
    assert classify(hkd(10_000), taken) is RowClass.AMOUNT_MISMATCH


def test_paid_at_the_provider_and_still_awaiting_payment_here_is_paid_not_credited() -> None:
    assert classify(hkd(10_000), Taken(hkd(10_000), settled=False)) is RowClass.PAID_NOT_CREDITED


def test_a_payment_for_an_order_simkeep_never_placed_is_the_providers_alone() -> None:
    assert classify(hkd(10_000), None) is RowClass.PROVIDER_ONLY


def test_the_day_is_the_hong_kong_day_as_utc_instants() -> None:
    assert WINDOW.start == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert WINDOW.end == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert WINDOW.holds(hk(DAY, 23, 59, 59))
    assert not WINDOW.holds(hk(DAY + timedelta(days=1), 0, 0, 2))


def test_taken_within_ten_minutes_of_midnight_and_missing_is_carried() -> None:
    assert classify_local(hk(DAY, 23, 49, 59), WINDOW, CARRY) is RowClass.LOCAL_ONLY
    assert classify_local(hk(DAY, 23, 50), WINDOW, CARRY) is RowClass.CARRIED
    assert classify_local(hk(DAY, 23, 50), WINDOW, timedelta(0)) is RowClass.LOCAL_ONLY
    assert first_action(RowClass.CARRIED) is Action.CARRIED
    assert first_action(RowClass.LOCAL_ONLY) is Action.NONE


def test_a_carried_row_is_matched_or_missing_once_and_never_carried_again() -> None:
    assert CLASS_MOVES[RowClass.CARRIED] == {RowClass.MATCHED, RowClass.LOCAL_ONLY}
    assert sources(CLASS_MOVES, RowClass.CARRIED) == frozenset()
    assert ACTION_MOVES[Action.CARRIED] == {Action.NONE}


def test_only_what_simkeep_can_still_take_is_asked_about() -> None:
    pay, refund = RowKind.PAY, RowKind.REFUND
    assert queryable(pay, RowClass.PAID_NOT_CREDITED, "awaiting_payment")
    assert queryable(pay, RowClass.PAID_NOT_CREDITED, "expired")
    assert not queryable(pay, RowClass.PAID_NOT_CREDITED, "failed")  # staff's
    assert queryable(refund, RowClass.PAID_NOT_CREDITED, "processing")
    assert not queryable(refund, RowClass.PAID_NOT_CREDITED, "failed")
    assert not queryable(pay, RowClass.AMOUNT_MISMATCH, "awaiting_payment")


def test_credit_follows_only_an_unanswered_row_and_resolution_only_an_open_one() -> None:
    assert sources(ACTION_MOVES, Action.CREDITED) == {Action.NONE}
    assert sources(ACTION_MOVES, Action.RESOLVED) == {Action.NONE, Action.QUERY_UNPAID}
    assert may_resolve(RowClass.LOCAL_ONLY, Action.NONE)
    assert may_resolve(RowClass.PAID_NOT_CREDITED, Action.QUERY_UNPAID)
    assert not may_resolve(RowClass.PAID_NOT_CREDITED, Action.CREDITED)
    assert not may_resolve(RowClass.LOCAL_ONLY, Action.RESOLVED)
    assert not may_resolve(RowClass.CARRIED, Action.CARRIED)
    assert not may_resolve(RowClass.MATCHED, Action.NONE)


def test_a_matched_day_stays_matched_and_a_refusal_never_overwrites_it() -> None:
    assert sources(RUN_MOVES, RunState.REFUSED) == {
        RunState.WAITING,
        RunState.REFUSED,
        RunState.RUNNING,
    }
    assert RUN_MOVES[RunState.DONE] == {RunState.QUERYING, RunState.DONE}


def test_a_bill_adds_up_per_currency_and_its_digest_is_its_rows() -> None:
    reading = Reading()
    for bill_row in (
        row(RowKind.PAY, 10_000, 60),
        row(RowKind.PAY, 20_000, 120, "T2"),
        row(RowKind.REFUND, 10_000, 60),
    ):
        reading.add(bill_row)
    (totals,) = reading.totals.values()
    assert (totals.payments, totals.paid, totals.fees) == (2, 30_000, 180)
    assert (totals.refunds, totals.paid_back, totals.fees_back) == (1, 10_000, 60)
    assert totals.net_fee == hkd(120)
    same, other = Reading(), Reading()
    for bill_row in (row(RowKind.PAY, 10_000, 60), row(RowKind.PAY, 20_000, 120, "T2")):
        same.add(bill_row)
    for bill_row in (row(RowKind.PAY, 10_000, 60), row(RowKind.PAY, 20_001, 120, "T2")):
        other.add(bill_row)
    again = Reading()
    for bill_row in (row(RowKind.PAY, 10_000, 60), row(RowKind.PAY, 20_000, 120, "T2")):
        again.add(bill_row)
    assert same.digest == again.digest != other.digest
    assert reading.rows == 3


def test_rows_of_the_bill_without_a_difference_are_counted_matched() -> None:
    recorded = {
        (Side.BILL, RowClass.AMOUNT_MISMATCH): 1,
        (Side.BILL, RowClass.MATCHED): 2,  # matched to a payment of another day
        (Side.LOCAL, RowClass.LOCAL_ONLY): 3,
        (Side.LOCAL, RowClass.MATCHED): 1,  # carried here, found in the next day's bill
    }
    counts = Counts.of(10, recorded)
    assert counts == Counts(matched=10 - 1 + 1, amount_mismatch=1, local_only=3)
    assert counts.differences == 4


def test_a_day_is_reconciled_once_it_is_over_in_hong_kong() -> None:
    assert check_day(DAY, hk(DAY + timedelta(days=1), 0, 0, 1)) == DAY
    with pytest.raises(DayNotOver):
        check_day(DAY, hk(DAY, 23, 59))


def test_a_resolution_says_what_was_found() -> None:
    assert check_note("  refunded by hand  ") == "refunded by hand"
    for bad in ("", "   ", "x" * 501):
        with pytest.raises(InvalidNote):
            check_note(bad)


def test_hk1_20_of_fees_kept_less_hk0_60_given_back_leaves_the_clearing_account() -> None:
    postings = rules.provider_fees(clearing=CLEARING, fees=FEES, net=hkd(60))
    assert postings == (Posting(FEES, 60, "HKD"), Posting(CLEARING, -60, "HKD"))


def test_a_day_that_gave_back_more_fees_than_it_kept_reverses() -> None:
    postings = rules.provider_fees(clearing=CLEARING, fees=FEES, net=hkd(-30))
    assert postings == (Posting(CLEARING, 30, "HKD"), Posting(FEES, -30, "HKD"))
    with pytest.raises(InvalidJournal):
        rules.provider_fees(clearing=CLEARING, fees=FEES, net=hkd(0))
