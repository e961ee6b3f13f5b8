"""The counter's rules without a database: amounts, payment types, keys, the ID policy, the
close's figures, receipt numbers and fingerprints, and the validity any amount buys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simkeep.counter.model import (
    CounterError,
    IdPolicy,
    Payer,
    Payment,
    ShiftState,
    check_cash,
    check_key,
    check_payer,
    check_topup_minor,
    close_figures,
    sources,
    topup_fingerprint,
    topup_minor,
    voucher_fingerprint,
    voucher_receipt_no,
)
from simkeep.money import Money
from simkeep.sims.model import SimState
from simkeep.topups.model import DENOMINATIONS, VALIDITY_DAYS, validity_days


def code_of(call: object, *args: object, **kwargs: object) -> str:
    try:
        call(*args, **kwargs)  # type: ignore[operator]
    except CounterError as error:
        return error.code
    return "ok"


@pytest.mark.parametrize(
    ("typed", "minor"), [("10", 1_000), (" 500 ", 50_000), ("5,000", 500_000), ("0120", 12_000)]
)
def test_a_top_up_is_typed_in_whole_units(typed: str, minor: int) -> None:
    assert check_topup_minor(topup_minor(typed), "HKD") == Money(minor, "HKD")


@pytest.mark.parametrize("typed", ["9", "5001", "10.5", "-10", "1e3", "", "五十", "999999"])
def test_a_top_up_outside_10_to_5000_whole_units_is_refused(typed: str) -> None:
    def both() -> None:
        check_topup_minor(topup_minor(typed), "HKD")

    assert code_of(both) == "invalid_amount"


def test_the_api_amount_must_be_whole_units_too() -> None:
    assert code_of(check_topup_minor, 10_050, "HKD") == "invalid_amount"
    assert code_of(check_topup_minor, 999, "CNY") == "invalid_amount"


@pytest.mark.parametrize("typed", ["0", "1000", "1,200.50", "1000000"])
def test_cash_in_a_drawer(typed: str) -> None:
    assert check_cash(typed, "HKD", field="counted_cash").currency == "HKD"


@pytest.mark.parametrize("typed", ["-1", "1000000.01", "12.345", "abc", "1e5", ""])
def test_cash_that_cannot_be_in_a_drawer_is_refused_on_its_field(typed: str) -> None:
    with pytest.raises(CounterError) as refused:
        check_cash(typed, "HKD", field="counted_cash")
    assert refused.value.field == "counted_cash"


def test_card_needs_the_terminals_reference_and_cash_keeps_none() -> None:
    assert check_payer("cash", "ignored") == Payer(Payment.CASH)
    assert check_payer("card", " T-1 ") == Payer(Payment.CARD, "T-1")
    assert code_of(check_payer, "card", None) == "invalid_payment"
    assert code_of(check_payer, "card", "x" * 65) == "invalid_payment"
    assert code_of(check_payer, "cheque", None) == "invalid_payment"


@pytest.mark.parametrize("key", ["short", "has space here", "ünïcode-key", "x" * 129, None])
def test_an_idempotency_key_has_a_shape(key: str | None) -> None:
    assert code_of(check_key, key) == "invalid_idempotency_key"
    assert check_key("9b2f0c1e-4a8b-4c55-9e0f-3b1f2a9d8c7e")


def test_the_id_policy_from_the_threshold_and_always_when_suspended() -> None:
    policy = IdPolicy(check_from_minor=50_000)
    assert not policy.needs_check(Money(49_900, "HKD"), SimState.ACTIVE)
    assert policy.needs_check(Money(50_000, "HKD"), SimState.ACTIVE)
    assert policy.needs_check(Money(1_000, "HKD"), SimState.SUSPENDED)
    assert not policy.needs_check(Money(1_000, "HKD"), SimState.GRACE)


def test_the_close_expects_opening_plus_cash_sales_less_cash_refunds() -> None:
    figures = close_figures(
        opening=Money(100_000, "HKD"),
        cash_sales=Money(65_000, "HKD"),
        card_sales=Money(30_000, "HKD"),
        cash_refunds=Money(9_400, "HKD"),
        card_refunds=Money(5_000, "HKD"),
        counted=Money(154_600, "HKD"),
    )

    assert figures.expected_cash == Money(155_600, "HKD")
    assert figures.expected_card == Money(25_000, "HKD")
    assert figures.difference == Money(-1_000, "HKD")


def test_a_shift_closes_once() -> None:
    assert sources(ShiftState.CLOSED) == ["open"]
    assert sources(ShiftState.OPEN) == []


def test_a_voucher_receipt_number_is_v_the_hong_kong_date_and_the_id() -> None:
    late_evening_utc = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 1 December in Hong Kong
    assert voucher_receipt_no(42, late_evening_utc) == "V2612010000000042"


def test_fingerprints_tell_another_request_from_a_replay() -> None:
    cash, card = Payer(Payment.CASH), Payer(Payment.CARD, "T-1")
    one = topup_fingerprint(e164="+85291234567", amount=Money(10_000, "HKD"), payer=cash)
    assert one == topup_fingerprint(e164="+85291234567", amount=Money(10_000, "HKD"), payer=cash)
    assert one != topup_fingerprint(e164="+85291234567", amount=Money(10_000, "HKD"), payer=card)
    assert one != topup_fingerprint(e164="+85291234567", amount=Money(20_000, "HKD"), payer=cash)
    assert voucher_fingerprint(serials=["2", "1"], payer=cash) == voucher_fingerprint(
        serials=["1", "2"], payer=cash
    )


def test_any_amount_buys_the_validity_of_one_rule() -> None:
    assert [validity_days(minor) for minor in DENOMINATIONS] == [
        VALIDITY_DAYS[minor] for minor in DENOMINATIONS
    ]
    assert validity_days(1_000) == 18  # HK$10: the HK$50 days pro rata
    assert validity_days(12_000) == 180  # HK$120: what HK$100 buys
    assert validity_days(500_000) == 365
    assert validity_days(1) == 1
    days = [validity_days(minor) for minor in range(100, 500_001, 100)]
    assert days == sorted(days)  # more money never buys fewer days
