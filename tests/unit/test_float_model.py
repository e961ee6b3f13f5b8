"""The float rules without a database: commission rounded down, what a deposit, a reason and
a credit limit may be, the maker who may not check, and the deposit's moves."""

from __future__ import annotations

import pytest

from simkeep.money import Money
from simkeep.outlets.float_model import (
    DepositState,
    InvalidCreditLimit,
    InvalidDeposit,
    MakerCannotCheck,
    check_checker,
    check_credit_limit,
    check_deposit,
    check_maker,
    check_reason,
    commission_for,
    floor_of,
    sources,
)


@pytest.mark.parametrize(
    ("amount", "bp", "earned"),
    [
        ("100.00", 150, "1.50"),  # 1.5 % of HK$100
        ("33.33", 150, "0.49"),  # 0.49995 rounds down
        ("0.66", 150, "0.00"),  # 0.0099: nothing
        ("500.00", 0, "0.00"),
        ("200.00", 2000, "40.00"),  # the highest rate
        ("10000.00", 175, "175.00"),
    ],
)
def test_commission_is_the_rate_of_the_sale_rounded_down(amount: str, bp: int, earned: str) -> None:
    assert commission_for(Money.parse(amount, "HKD"), bp) == Money.parse(earned, "HKD")


def test_commission_keeps_the_currency_and_refuses_what_no_agent_has() -> None:
    assert commission_for(Money(10000, "CNY"), 100) == Money(100, "CNY")
    with pytest.raises(ValueError, match="basis points"):
        commission_for(Money(10000, "HKD"), 2001)
    with pytest.raises(ValueError, match="basis points"):
        commission_for(Money(10000, "HKD"), -1)
    with pytest.raises(ValueError, match="negative"):
        commission_for(Money(-100, "HKD"), 150)


@pytest.mark.parametrize("amount", ["1.00", "10000000.00", "10000"])
def test_a_deposit_from_one_to_ten_million(amount: str) -> None:
    money = Money.parse(amount, "HKD")
    assert check_deposit(money, "  HSBC-0042  ") == (money, "HSBC-0042")


@pytest.mark.parametrize(
    ("amount", "currency", "reference", "field"),
    [
        ("0.99", "HKD", "ref", "amount"),
        ("10000000.01", "HKD", "ref", "amount"),
        ("100.00", "USD", "ref", "currency"),
        ("100.00", "HKD", "   ", "reference"),
        ("100.00", "HKD", "x" * 65, "reference"),
        ("100.00", "HKD", "bad\nref", "reference"),
    ],
)
def test_a_deposit_out_of_bounds_is_refused_by_its_field(
    amount: str, currency: str, reference: str, field: str
) -> None:
    with pytest.raises(InvalidDeposit) as refused:
        check_deposit(Money.parse(amount, currency), reference)
    assert refused.value.field == field
    assert refused.value.code == "invalid_deposit"


def test_the_maker_never_checks() -> None:
    assert check_checker(made_by=1, checker=2) == 2
    with pytest.raises(MakerCannotCheck):
        check_checker(made_by=1, checker=1)
    with pytest.raises(MakerCannotCheck):
        check_checker(made_by=1, checker=None)  # the command line is nobody
    with pytest.raises(InvalidDeposit):
        check_maker(None)


def test_a_reason_and_a_credit_limit_are_bounded() -> None:
    assert check_reason(" no transfer found ") == "no transfer found"
    with pytest.raises(InvalidDeposit):
        check_reason("")
    with pytest.raises(InvalidDeposit):
        check_reason("x" * 201)
    assert check_credit_limit(0) == 0
    assert check_credit_limit(100_000_000_000) == 100_000_000_000  # as an agent is added with
    for wrong in (-1, 100_000_000_001):
        with pytest.raises(InvalidCreditLimit):
            check_credit_limit(wrong)
    assert floor_of(500_000) == -500_000


def test_a_deposit_is_checked_once() -> None:
    assert sources(DepositState.APPROVED) == ["pending"]
    assert sources(DepositState.REJECTED) == ["pending"]
    assert sources(DepositState.PENDING) == []
