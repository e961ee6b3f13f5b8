"""What a refund gives back, as worked examples (docs/refunds.md).

A HK$100.00 top-up credited at noon; the SIM's balance and the order's bonus vary."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from simkeep.money import Money
from simkeep.refunds.model import (
    OPEN,
    TRANSITIONS,
    AboveRefundable,
    AutoRule,
    NothingToRefund,
    OrderFacts,
    Reason,
    RefundError,
    RefundState,
    auto_approves,
    check_note,
    refund_number,
    refundable,
    sources,
)

NOON = datetime(2026, 11, 30, 4, tzinfo=UTC)
RULE = AutoRule(max_credit=30_000, within=timedelta(hours=24))


def hkd(minor: int) -> Money:
    return Money(minor, "HKD")


def cny(minor: int) -> Money:
    return Money(minor, "CNY")


def facts(**changes: object) -> OrderFacts:
    """An untouched HK$100.00 top-up, with ``changes``."""
    base = OrderFacts(
        credit=hkd(10_000),
        pay=hkd(10_000),
        taken_before=hkd(0),
        deducted_before=hkd(0),
        paid_back_before=hkd(0),
        balance=hkd(10_000),
        bonus_granted=hkd(0),
        bonus_left=hkd(0),
        credited_at=NOON,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_untouched_top_up_comes_back_in_full() -> None:
    amounts = refundable(facts())
    assert (amounts.taken, amounts.deducted, amounts.pay, amounts.full) == (
        hkd(10_000),
        hkd(0),
        hkd(10_000),
        True,
    )


def test_a_used_balance_gives_back_only_the_unused_part() -> None:
    amounts = refundable(facts(balance=hkd(7_000)))
    assert (amounts.taken, amounts.pay, amounts.full) == (hkd(7_000), hkd(7_000), False)


def test_more_on_the_sim_than_the_order_gives_back_the_order_only() -> None:
    assert refundable(facts(balance=hkd(50_000))).taken == hkd(10_000)


def test_bonus_is_taken_back_first_and_its_used_part_deducted() -> None:
    """HK$20 bonus granted, HK$6 of it used: HK$14 back from the bonus, HK$6 deducted."""
    amounts = refundable(facts(bonus_granted=hkd(2_000), bonus_left=hkd(1_400)))
    assert amounts.bonus_back == hkd(1_400)
    assert amounts.deducted == hkd(600)
    assert amounts.taken == hkd(10_000)
    assert amounts.pay == amounts.credit == hkd(9_400)
    assert amounts.full


def test_used_balance_and_used_bonus_together() -> None:
    amounts = refundable(facts(balance=hkd(5_000), bonus_granted=hkd(2_000), bonus_left=hkd(0)))
    assert (amounts.taken, amounts.deducted, amounts.pay) == (hkd(5_000), hkd(2_000), hkd(3_000))


def test_nothing_left_is_refused() -> None:
    with pytest.raises(NothingToRefund):
        refundable(facts(balance=hkd(0)))
    with pytest.raises(NothingToRefund):
        refundable(facts(taken_before=hkd(10_000)))
    with pytest.raises(NothingToRefund):  # the used bonus eats what is left
        refundable(facts(balance=hkd(1_000), bonus_granted=hkd(2_000)))


def test_a_balance_read_below_zero_is_nothing() -> None:
    with pytest.raises(NothingToRefund):
        refundable(facts(balance=hkd(-5)))


def test_an_asked_amount_up_to_what_is_refundable() -> None:
    assert refundable(facts(), hkd(2_500)).pay == hkd(2_500)
    assert not refundable(facts(), hkd(2_500)).full
    assert refundable(facts(), hkd(10_000)).full
    for wrong in (hkd(10_001), hkd(0), hkd(-1), cny(100)):
        with pytest.raises(AboveRefundable):
            refundable(facts(), wrong)


def test_a_second_partial_refund_takes_the_rest() -> None:
    second = refundable(facts(taken_before=hkd(2_500), balance=hkd(9_000)))
    assert (second.taken, second.full) == (hkd(7_500), True)


def test_paid_in_yuan_pays_back_in_yuan_pro_rata_rounded_down() -> None:
    """HK$100.00 paid with ¥92.07: HK$33.33 back is ¥30.68 (30.689… rounded down)."""
    paid_in_cny = facts(pay=cny(9_207), paid_back_before=cny(0))
    part = refundable(paid_in_cny, hkd(3_333))
    assert part.pay == cny(3_068)
    rest = refundable(
        replace(
            paid_in_cny, taken_before=hkd(3_333), paid_back_before=cny(3_068), balance=hkd(6_667)
        )
    )
    assert rest.full
    assert part.pay + rest.pay == cny(9_207)  # the last one pays what rounding kept


def test_paid_in_yuan_the_deduction_is_kept_at_the_order_rate() -> None:
    amounts = refundable(facts(pay=cny(9_200), paid_back_before=cny(0), bonus_granted=hkd(1_000)))
    assert amounts.pay == cny(9_200 - 920)


def test_the_rule_approves_only_an_untouched_small_recent_wrong_number() -> None:
    whole = refundable(facts())
    now = NOON + timedelta(hours=2)
    ok = {"reason": Reason.WRONG_NUMBER, "amounts": whole, "facts": facts(), "now": now}
    assert auto_approves(RULE, **ok)  # type: ignore[arg-type]
    assert not auto_approves(RULE, **(ok | {"reason": Reason.NOT_NEEDED}))  # type: ignore[arg-type]
    late = ok | {"now": NOON + timedelta(hours=24, seconds=1)}
    assert not auto_approves(RULE, **late)  # type: ignore[arg-type]
    small = AutoRule(max_credit=9_999, within=timedelta(hours=24))
    assert not auto_approves(small, **ok)  # type: ignore[arg-type]
    assert not auto_approves(AutoRule(0, timedelta(hours=24)), **ok)  # type: ignore[arg-type]
    used = facts(balance=hkd(9_000))
    part = refundable(used)
    assert not auto_approves(RULE, **(ok | {"amounts": part, "facts": used}))  # type: ignore[arg-type]
    bonus_used = facts(bonus_granted=hkd(500), bonus_left=hkd(400))
    bonus_part = refundable(bonus_used)
    assert not auto_approves(
        RULE,
        **(ok | {"amounts": bonus_part, "facts": bonus_used}),  # type: ignore[arg-type]
    )


def test_the_states_move_only_forward() -> None:
    # a refund the provider never heard of while processing is asked for again
    assert sources(RefundState.APPROVED) == {RefundState.REQUESTED, RefundState.PROCESSING}
    assert sources(RefundState.REFUSED) == {RefundState.REQUESTED}
    assert sources(RefundState.PAID) == {RefundState.APPROVED, RefundState.PROCESSING}
    for done in (RefundState.PAID, RefundState.REFUSED, RefundState.FAILED):
        assert not TRANSITIONS[done]
        assert done not in OPEN


def test_refund_numbers_fit_every_provider() -> None:
    numbers = {refund_number(NOON) for _ in range(100)}
    assert len(numbers) == 100
    for number in numbers:
        assert number.isalnum()
        assert 8 <= len(number) <= 32
        assert number.startswith("F261130")


def test_a_note_is_bounded() -> None:
    assert check_note("  typed the wrong number ") == "typed the wrong number"
    with pytest.raises(RefundError):
        check_note("x" * 501)
