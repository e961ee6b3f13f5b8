"""Top-up rules without I/O: the order state machine, the wrong-number guard, quotes, FX,
validity (docs/topups.md).

Design overview
---------------
* States: ``created → awaiting_payment → paid → credited``, or ``expired``, ``failed``;
  a credited order asked back is ``refund_requested`` until its refund is paid
  (``refunded``, ``partially_refunded``) or not (back to where it was). ``TRANSITIONS``
  lists every allowed move, and the statements that move an order take their
  ``WHERE state IN (…)`` lists from it (``sources``): an order moves only with a
  conditional update, so two racing notifications credit once. ``paid`` never outlives
  its transaction: the same transaction credits.
* ``OrderRequest`` is what a payer asks for, read the same way by the wizard and the API.
  ``NumberFacts`` is what one read gathers about the number; ``check_number`` and
  ``check_order`` are the wrong-number guard over those facts.
* A quote fixes, before payment, what is credited (in the SIM's home currency) and what is
  paid (in the currency the payer chose), with the FX rate locked at that moment. Rates are
  decimals, amounts integers; conversion rounds half up to the minor unit.
* Each denomination carries the validity days it buys (applied by ``sims.service``);
  ``validity_days`` extends that one rule to any amount, for the counter, which takes any
  whole amount in its range (``COUNTER_CHANNELS``): online, only the denominations.
* The receipt number of a credited order is ``R`` + the Hong Kong date + the order's id
  (``receipt_number``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from simkeep.clock import in_hong_kong
from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.phone import parse_number
from simkeep.promotions.model import Applied, SalesChannel
from simkeep.sims.model import Plan, SimState


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
    REFUND_REQUESTED = "refund_requested"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    # A payment may arrive before its trade's start was recorded on the order.
    OrderState.CREATED: frozenset(
        {OrderState.AWAITING_PAYMENT, OrderState.PAID, OrderState.EXPIRED, OrderState.FAILED}
    ),
    OrderState.AWAITING_PAYMENT: frozenset(
        {OrderState.PAID, OrderState.EXPIRED, OrderState.FAILED}
    ),
    # A payment that arrives after expiry is still money received: it is credited.
    OrderState.EXPIRED: frozenset({OrderState.PAID}),
    OrderState.PAID: frozenset({OrderState.CREDITED}),
    OrderState.CREDITED: frozenset({OrderState.REFUND_REQUESTED}),
    # One refund at a time: refused or failed, the order is back where it was.
    OrderState.REFUND_REQUESTED: frozenset(
        {OrderState.CREDITED, OrderState.PARTIALLY_REFUNDED, OrderState.REFUNDED}
    ),
    OrderState.PARTIALLY_REFUNDED: frozenset({OrderState.REFUND_REQUESTED}),
    OrderState.FAILED: frozenset(),
    OrderState.REFUNDED: frozenset(),
}

DENOMINATIONS = (5_000, 10_000, 20_000, 30_000)  # 50, 100, 200, 300 in minor units
VALIDITY_DAYS = {5_000: 90, 10_000: 180, 20_000: 365, 30_000: 365}
ORDER_TTL = timedelta(minutes=15)
COUNTER_CHANNELS = frozenset({Channel.COUNTER})  # any amount: the counter checks its range


def validity_days(amount_minor: int) -> int:
    """The validity days a top-up of ``amount_minor`` buys: a denomination's own; any other
    amount those of the largest denomination it reaches, or below the smallest, that one's
    days pro rata (rounded down, at least one)."""
    reached = [minor for minor in DENOMINATIONS if minor <= amount_minor]
    if reached:
        return VALIDITY_DAYS[reached[-1]]
    smallest = DENOMINATIONS[0]
    return max(1, VALIDITY_DAYS[smallest] * amount_minor // smallest)


def receipt_number(serial: int, now: datetime) -> str:
    """The receipt number of the order with id ``serial`` credited at ``now``."""
    return f"R{in_hong_kong(now):%y%m%d}{serial:010d}"


def sources(target: OrderState) -> frozenset[OrderState]:
    """The states an order may move to ``target`` from."""
    return frozenset(state for state, targets in TRANSITIONS.items() if target in targets)


def sql_states(states: frozenset[OrderState]) -> str:
    """``'created', 'expired'``: a state list for a statement's ``IN (…)``."""
    return ", ".join(f"'{state.value}'" for state in sorted(states))


PAYABLE = sources(OrderState.PAID)  # a payment that arrives in one of these is credited
WAITING = frozenset({OrderState.CREATED, OrderState.AWAITING_PAYMENT, OrderState.PAID})
CREDITED_ONCE = frozenset(  # credited, whatever was refunded of it since
    {
        OrderState.CREDITED,
        OrderState.REFUND_REQUESTED,
        OrderState.PARTIALLY_REFUNDED,
        OrderState.REFUNDED,
    }
)


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
    promotions: tuple[Applied, ...] = ()  # what applies, best first (promotions.service)


def quote(
    *, credit: Money, pay_currency: str, fx: FxRate | None, any_amount: bool = False
) -> Quote:
    """What crediting ``credit`` costs in ``pay_currency``, with the rate locked; a
    denomination unless ``any_amount`` (the counter's)."""
    if credit.minor <= 0 or (credit.minor not in DENOMINATIONS and not any_amount):
        raise NoSuchDenomination("choose 50, 100, 200 or 300")
    days = validity_days(credit.minor)
    if pay_currency == credit.currency:
        return Quote(credit, credit, None, days)
    if fx is None:
        raise TopupError(f"no exchange rate from {credit.currency} to {pay_currency}")
    return Quote(credit, fx.convert(credit), fx, days)


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
    pay_form: Mapping[str, str] | None = None  # signed fields the browser posts to pay_url

    @property
    def waiting(self) -> bool:
        """The payer may still pay: a status page keeps watching."""
        return self.state in WAITING


@dataclass(frozen=True, slots=True)
class NumberPreview:
    """What the wrong-number guard shows before payment."""

    e164: str
    holder_masked: str
    plan: Plan
    state: str  # the SIM's state: active, grace, suspended
    home_currency: str
    must_confirm: bool  # never topped up by this subscriber: type the number twice


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A payer's request for a top-up, as the wizard and the API both read it: numbers in
    E.164, the credit in the SIM's currency, and — when the payer was shown a price — that
    price, which the order must still cost."""

    subscriber_id: int | None
    idempotency_key: str | None
    number: str
    confirm_number: str | None  # the number typed a second time, if it was
    credit: Money
    pay_currency: str
    provider: Provider
    channel: Channel
    expected_pay: Money | None = None
    via: SalesChannel = SalesChannel.API  # how the order came in (a promotion's condition)

    @classmethod
    def of(
        cls,
        *,
        subscriber_id: int | None,
        idempotency_key: str | None,
        number: str,
        confirm_number: str | None,
        credit: Money,
        pay_currency: str,
        provider: Provider,
        channel: Channel,
        expected_pay: Money | None = None,
        via: SalesChannel = SalesChannel.API,
    ) -> OrderRequest:
        """The request from what was typed (numbers in any usual spelling)."""
        return cls(
            subscriber_id=subscriber_id,
            idempotency_key=idempotency_key,
            number=parse_number(number).e164,
            confirm_number=parse_number(confirm_number).e164 if confirm_number else None,
            credit=credit,
            pay_currency=pay_currency,
            provider=provider,
            channel=channel,
            expected_pay=expected_pay,
            via=via,
        )

    def fingerprint(self) -> str:
        """What tells a replay of this request from another request with the same key."""
        return request_hash(
            {
                "number": self.number,
                "credit": [self.credit.minor, self.credit.currency],
                "pay": self.pay_currency,
                "provider": self.provider.value,
                "channel": self.channel.value,
            }
        )


@dataclass(frozen=True, slots=True)
class NumberFacts:
    """What one read gathers about a number before it is topped up."""

    e164: str
    sim_id: int | None
    sim_state: SimState | None
    home_currency: str | None
    holder_masked: str | None
    plan_code: str | None
    topped_up_before: bool  # by the subscriber asking; False for nobody
    fx: FxRate | None  # the SIM's currency → the currency asked for, if the operator set it


@dataclass(frozen=True, slots=True)
class LiveNumber:
    """A number that may be topped up: its SIM is known and not recycled."""

    e164: str
    sim_id: int
    sim_state: SimState
    home_currency: str
    holder_masked: str
    plan_code: str


def check_number(facts: NumberFacts) -> LiveNumber:
    """The wrong-number guard's first rule: an unknown or recycled number is refused."""
    if (
        facts.sim_id is None
        or facts.sim_state is None
        or facts.home_currency is None
        or facts.holder_masked is None
        or facts.plan_code is None
    ):
        raise UnknownNumber("no China–Hong Kong SIM has this number: check it")
    if facts.sim_state is SimState.RECYCLED:
        raise NumberNotEligible("this number was recycled and cannot be topped up")
    return LiveNumber(
        facts.e164,
        facts.sim_id,
        facts.sim_state,
        facts.home_currency,
        facts.holder_masked,
        facts.plan_code,
    )


def must_confirm(facts: NumberFacts, *, subscriber_id: int | None) -> bool:
    """A number this subscriber has never topped up must be typed twice."""
    return subscriber_id is not None and not facts.topped_up_before


def check_order(facts: NumberFacts, request: OrderRequest) -> Quote:
    """The whole guard for an order, then its price with the rate locked."""
    live = check_number(facts)
    confirmed = request.confirm_number == request.number
    if must_confirm(facts, subscriber_id=request.subscriber_id) and not confirmed:
        raise ConfirmNumber("you have not topped up this number before: type it again")
    if request.credit.currency != live.home_currency:
        raise TopupError(f"this SIM is topped up in {live.home_currency}")
    priced = quote(
        credit=request.credit,
        pay_currency=request.pay_currency,
        fx=facts.fx,
        any_amount=request.channel in COUNTER_CHANNELS,
    )
    if request.expected_pay is not None and priced.pay != request.expected_pay:
        raise QuoteChanged(
            f"the price is now {priced.pay}, not {request.expected_pay}: check it again"
        )
    return priced
