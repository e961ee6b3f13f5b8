"""Top-up rules without I/O: the order state machine, quotes, FX, validity.

Design overview
---------------
* States (SPEC section 2): ``created → awaiting_payment → paid → credited``, or ``expired``,
  ``failed``, ``refunded``, ``partially_refunded``. ``TRANSITIONS`` lists every allowed move;
  the service moves an order only with ``UPDATE … WHERE state = :expected``, so two racing
  notifications credit once. ``paid`` never outlives its transaction: the same transaction
  credits.
* A quote fixes, before payment, what is credited (in the SIM's home currency) and what is
  paid (in the currency the payer chose), with the FX rate locked at that moment. Rates are
  decimals, amounts integers; conversion rounds half up to the minor unit.
* Each denomination carries the validity days it buys (applied by ``sims.service``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider


class TopupError(Refusal):
    """A refusal a person can act on; ``code`` is machine-readable."""

    code = "topup_error"


class UnknownNumber(TopupError):
    code = "unknown_number"


class NumberNotEligible(TopupError):
    code = "number_not_eligible"


class ConfirmNumber(TopupError):
    code = "confirm_number"


class NoSuchDenomination(TopupError):
    code = "no_such_denomination"


class QuoteChanged(TopupError):
    code = "quote_changed"


class IdempotencyConflict(TopupError):
    code = "idempotency_conflict"


class OrderState(StrEnum):
    CREATED = "created"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    CREDITED = "credited"
    EXPIRED = "expired"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.CREATED: frozenset(
        {OrderState.AWAITING_PAYMENT, OrderState.EXPIRED, OrderState.FAILED}
    ),
    OrderState.AWAITING_PAYMENT: frozenset(
        {OrderState.PAID, OrderState.EXPIRED, OrderState.FAILED}
    ),
    # A payment that arrives after expiry is still money received: it is credited.
    OrderState.EXPIRED: frozenset({OrderState.PAID}),
    OrderState.PAID: frozenset({OrderState.CREDITED}),
    OrderState.CREDITED: frozenset({OrderState.REFUNDED, OrderState.PARTIALLY_REFUNDED}),
    OrderState.PARTIALLY_REFUNDED: frozenset({OrderState.REFUNDED, OrderState.PARTIALLY_REFUNDED}),
    OrderState.FAILED: frozenset(),
    OrderState.REFUNDED: frozenset(),
}

PAYABLE = frozenset({OrderState.CREATED, OrderState.AWAITING_PAYMENT, OrderState.EXPIRED})
DENOMINATIONS = (5_000, 10_000, 20_000, 30_000)  # 50, 100, 200, 300 in minor units
VALIDITY_DAYS = {5_000: 90, 10_000: 180, 20_000: 365, 30_000: 365}
ORDER_TTL = timedelta(minutes=15)


def can_move(current: OrderState, target: OrderState) -> bool:
    return target in TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class FxRate:
    """How many units of ``quote`` one unit of ``base`` buys, as a decimal string."""

    base: str
    quote: str
    rate: Decimal

    def convert(self, amount: Money) -> Money:
        if amount.currency != self.base:
            raise TopupError(f"rate {self.base}/{self.quote} cannot convert {amount.currency}")
        minor = (Decimal(amount.minor) * self.rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return Money(int(minor), self.quote)


@dataclass(frozen=True, slots=True)
class Quote:
    credit: Money  # what the SIM receives, in its home currency
    pay: Money  # what the payer pays
    fx: FxRate | None  # locked rate when the two currencies differ
    validity_days: int


def quote(*, credit: Money, pay_currency: str, fx: FxRate | None) -> Quote:
    """What crediting ``credit`` costs in ``pay_currency``, with the rate locked."""
    if credit.minor not in DENOMINATIONS:
        raise NoSuchDenomination("choose 50, 100, 200 or 300")
    if pay_currency == credit.currency:
        return Quote(credit, credit, None, VALIDITY_DAYS[credit.minor])
    if fx is None:
        raise TopupError(f"no exchange rate from {credit.currency} to {pay_currency}")
    return Quote(credit, fx.convert(credit), fx, VALIDITY_DAYS[credit.minor])


def request_hash(body: dict[str, object]) -> str:
    """The fingerprint of an order request, to tell a replay from a conflicting reuse."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Order:
    order_no: str
    subscriber_id: int | None
    sim_id: int
    msisdn: str
    credit: Money
    pay: Money
    fx_rate: Decimal | None
    validity_days: int
    provider: Provider
    channel: Channel
    state: OrderState
    created_at: datetime
    expires_at: datetime
    receipt_no: str | None
    paid_at: datetime | None = None
    credited_at: datetime | None = None
    provider_trade_no: str | None = None
    validity_until: datetime | None = None  # the SIM's validity once this order credited it
    pay_url: str | None = None  # where the payer pays (a cashier page) …
    pay_qr: str | None = None  # … or what their wallet scans

    @property
    def waiting(self) -> bool:
        """The payer may still pay: a status page keeps watching."""
        return self.state in (OrderState.CREATED, OrderState.AWAITING_PAYMENT, OrderState.PAID)


@dataclass(frozen=True, slots=True)
class NumberPreview:
    """What the wrong-number guard shows before payment (SPEC section 3.3)."""

    e164: str
    holder_masked: str
    plan_name: str
    state: str  # the SIM's state: active, grace, suspended
    home_currency: str
    must_confirm: bool  # never topped up by this subscriber: type the number twice
