"""Money as worked examples: integers of minor units, one currency at a time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from simkeep.money import CurrencyMismatch, InvalidAmount, Money, format_rate


def test_parse_major_units_to_minor_units() -> None:
    assert Money.parse("100", "HKD") == Money(10_000, "HKD")
    assert Money.parse("0.5", "CNY") == Money(50, "CNY")
    assert Money.parse(" 92.00 ", "CNY") == Money(9_200, "CNY")


@pytest.mark.parametrize("text", ["1.005", "abc", "", "NaN", "Infinity"])
def test_parse_refuses_what_is_not_an_exact_amount(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, "HKD")


def test_floats_and_bools_are_refused() -> None:
    with pytest.raises(InvalidAmount):
        Money(1.5, "HKD")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        Money(True, "HKD")


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        Money(100, "XYZ")
    with pytest.raises(InvalidAmount):
        Money(100, "hkd")


def test_arithmetic_in_one_currency() -> None:
    fifty = Money(5_000, "HKD")
    assert fifty + fifty == Money(10_000, "HKD")
    assert fifty - Money(1, "HKD") == Money(4_999, "HKD")
    assert -fifty == Money(-5_000, "HKD")
    assert abs(Money(-5, "HKD")) == Money(5, "HKD")
    assert fifty * 3 == 3 * fifty == Money(15_000, "HKD")
    assert Money(1, "HKD") < fifty <= fifty


def test_mixed_currencies_are_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(100, "HKD") + Money(100, "CNY")
    with pytest.raises(CurrencyMismatch):
        _ = Money(100, "HKD") < Money(100, "CNY")


def test_multiplying_by_a_float_is_refused() -> None:
    with pytest.raises(TypeError):
        Money(100, "HKD") * 1.1  # type: ignore[operator]


def test_formatting_per_locale() -> None:
    assert Money(10_050, "HKD").format("en") == "HK$100.50"
    assert Money(10_050, "HKD").format("zh_Hant_HK") == "HK$100.50"
    assert Money(9_200, "CNY").format("zh_Hans_CN") == "¥92.00"
    assert Money(9_200, "CNY").format("en") == "CN¥92.00"
    assert str(Money(-150, "HKD")) == "-1.50 HKD"


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        ("0.92", "0.92"),
        ("0.9200", "0.9200"),  # set to four places: shown to four places
        ("0.91875", "0.91875"),
        ("1", "1.00"),
        ("1.2", "1.20"),
        ("1087.5", "1,087.50"),
    ],
)
@pytest.mark.parametrize("locale", ["zh_Hant_HK", "zh_Hans_CN", "en"])
def test_a_rate_keeps_the_operators_decimals_and_at_least_two(
    rate: str, text: str, locale: str
) -> None:
    assert format_rate(Decimal(rate), locale) == text
