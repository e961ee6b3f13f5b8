"""Floats and commission without I/O: what a sale earns, what a deposit and a credit limit
may be, and how a deposit moves (docs/outlets.md, "Agents and floats").

Design overview
---------------
* Commission is the agent's rate in basis points of each sale (150 = 1.5 %), rounded down
  to the minor unit: the operator never owes a fraction of a cent it did not promise.
* A float deposit is entered by one operator (the maker) and approved or rejected by
  another (the checker): ``pending → approved`` (booked in the ledger) or ``pending →
  rejected`` (with a reason), nothing else (``TRANSITIONS``). The service moves it with a
  conditional update from ``pending``; ``check_checker`` refuses the maker as checker
  before that, and the table's CHECK refuses it again.
* Bounds checked at the edge of every use case: an amount from 1.00 to 10,000,000.00, a bank
  reference of 1 to 64 printable characters, a reason of 1 to 200, a credit limit from 0 to
  1,000,000,000.00 as when the agent is added (``outlets.model``; one limit in minor units
  for each of the agent's currencies).
"""

from __future__ import annotations

from enum import StrEnum

from simkeep.errors import Refusal
from simkeep.ledger.chart import CURRENCIES
from simkeep.money import Money
from simkeep.outlets.model import MAX_COMMISSION_BP, MAX_CREDIT_LIMIT_MINOR

BASIS_POINTS = 10_000
MIN_DEPOSIT_MINOR = 100  # 1.00
MAX_DEPOSIT_MINOR = 1_000_000_000  # 10,000,000.00
MAX_REFERENCE = 64
MAX_REASON = 200


class FloatError(Refusal):
    """A float request that cannot be honoured; ``field`` names what a form should mark."""

    code = "invalid_float_request"
    field = "amount"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class UnknownAgent(FloatError):
    code = "unknown_agent"
    field = "agent"


class UnknownDeposit(FloatError):
    code = "unknown_deposit"
    field = "deposit"


class InvalidDeposit(FloatError):
    code = "invalid_deposit"


class ReferenceUsed(FloatError):
    code = "reference_used"
    field = "reference"


class MakerCannotCheck(FloatError):
    code = "maker_cannot_check"
    field = "deposit"


class DepositNotPending(FloatError):
    code = "deposit_not_pending"
    field = "deposit"


class InvalidCreditLimit(FloatError):
    code = "invalid_credit_limit"
    field = "credit_limit"


class FloatBelowLimit(FloatError):
    code = "float_below_limit"
    field = "credit_limit"


class DepositState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


TRANSITIONS: dict[DepositState, frozenset[DepositState]] = {
    DepositState.PENDING: frozenset({DepositState.APPROVED, DepositState.REJECTED}),
    DepositState.APPROVED: frozenset(),
    DepositState.REJECTED: frozenset(),
}


def sources(target: DepositState) -> list[str]:
    """The states a deposit may move to ``target`` from (the conditional update's list)."""
    return [source.value for source, targets in TRANSITIONS.items() if target in targets]


def commission_for(amount: Money, commission_bp: int) -> Money:
    """The commission a sale of ``amount`` earns at ``commission_bp`` basis points, rounded
    down to the minor unit."""
    if not 0 <= commission_bp <= MAX_COMMISSION_BP:
        raise ValueError(f"a commission rate is 0 to {MAX_COMMISSION_BP} basis points")
    if amount.minor < 0:
        raise ValueError("commission is earned on a sale, not a negative amount")
    return Money(amount.minor * commission_bp // BASIS_POINTS, amount.currency)


def check_currency_sold(currency: str) -> str:
    if currency not in CURRENCIES:
        raise InvalidDeposit(f"a float is in {' or '.join(CURRENCIES)}", field="currency")
    return currency


def check_deposit(amount: Money, reference: str) -> tuple[Money, str]:
    """A deposit's amount (1.00 to 10,000,000.00) and bank reference, as stored."""
    check_currency_sold(amount.currency)
    if not MIN_DEPOSIT_MINOR <= amount.minor <= MAX_DEPOSIT_MINOR:
        raise InvalidDeposit("a deposit is from 1.00 to 10,000,000.00", field="amount")
    return amount, check_text(reference, MAX_REFERENCE, "reference")


def check_text(text: str, limit: int, field: str) -> str:
    """Printable text of 1 to ``limit`` characters, without surrounding spaces."""
    kept = text.strip()
    if not 1 <= len(kept) <= limit or not kept.isprintable():
        raise InvalidDeposit(f"enter 1 to {limit} printable characters", field=field)
    return kept


def check_reason(reason: str) -> str:
    return check_text(reason, MAX_REASON, "reason")


def check_maker(staff_id: int | None) -> int:
    """Who enters a deposit: a signed-in member of staff (the command line is nobody)."""
    if staff_id is None:
        raise InvalidDeposit("a deposit is entered by a signed-in member of staff", field="agent")
    return staff_id


def check_checker(*, made_by: int, checker: int | None) -> int:
    """The member of staff who may approve or reject a deposit: anyone but its maker."""
    if checker is None:
        raise MakerCannotCheck("a deposit is checked by a signed-in member of staff")
    if checker == made_by:
        raise MakerCannotCheck("a deposit is approved or rejected by someone other than its maker")
    return checker


def check_credit_limit(minor: int) -> int:
    if isinstance(minor, bool) or not 0 <= minor <= MAX_CREDIT_LIMIT_MINOR:
        raise InvalidCreditLimit("a credit limit is from 0 to 1,000,000,000.00")
    return minor


def floor_of(credit_limit_minor: int) -> int:
    """The ledger floor of a float with this credit limit: zero, or below zero by it."""
    return -credit_limit_minor
