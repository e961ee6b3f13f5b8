"""Money: integer minor units plus an ISO 4217 currency; exchange rates written for people.

No floats anywhere: constructing Money from a float is refused, amounts in text are parsed
as decimals and must fit the currency's minor unit exactly. Arithmetic between two
currencies is refused; conversion is an explicit FX step elsewhere.

An exchange rate is written by ``format_rate`` wherever a person reads it (pages, receipts,
PDFs): with the decimals the operator set it with, and at least two — ``0.92`` stays
``0.92``, ``0.9200`` stays ``0.9200`` (a rate quoted to four places reads as one, and the
payer can redo the sum with the digits shown), ``1`` reads ``1.00``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    list_currencies,
)

SUPPORTED_CURRENCIES = frozenset({"HKD", "CNY"})


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


class InvalidAmount(ValueError):
    """Text or a number that is not a valid amount of the currency."""


@lru_cache(maxsize=64)
def _known(code: str) -> bool:
    return code in list_currencies()


def minor_exponent(currency: str) -> int:
    """Digits after the decimal point (2 for HKD and CNY)."""
    return int(get_currency_precision(check_currency(currency)))


def check_currency(code: str) -> str:
    if not isinstance(code, str) or len(code) != 3 or not code.isupper() or not _known(code):
        raise InvalidAmount(f"unknown currency code {code!r}")
    return code


@dataclass(frozen=True, slots=True, order=False)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise InvalidAmount(f"amount must be an integer of minor units, got {self.minor!r}")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse '100', '100.5' or '100.50' in major units; refuse more precision than exists."""
        exponent = minor_exponent(currency)
        try:
            value = Decimal(text.strip())
        except (InvalidOperation, AttributeError) as exc:
            raise InvalidAmount(f"{text!r} is not an amount") from exc
        if not value.is_finite():
            raise InvalidAmount(f"{text!r} is not an amount")
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise InvalidAmount(f"{text!r} has more than {exponent} decimal places for {currency}")
        return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-minor_exponent(self.currency))

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money can be multiplied by an integer only")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def is_zero(self) -> bool:
        return self.minor == 0

    def format(self, locale: str = "en") -> str:
        """Format for people, e.g. 'HK$100.00' (en), '¥100.00' (zh_Hans_CN)."""
        return str(format_currency(self.to_decimal(), self.currency, locale=locale))

    def __str__(self) -> str:
        return f"{self.to_decimal():f} {self.currency}"


def format_rate(rate: Decimal, locale: str) -> str:
    """An exchange rate for people: the operator's decimals, at least two (``0.9200``)."""
    exponent = rate.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return str(format_decimal(rate, format=f"#,##0.{'0' * places}", locale=locale))
