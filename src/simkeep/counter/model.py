"""The counter's rules without I/O: refusals, amounts, payment types, shifts, the ID policy,
receipt numbers and request fingerprints (docs/outlets.md, "The counter (POS)").

Design overview
---------------
* A top-up at the counter is a whole amount from ``MIN_TOPUP`` to ``MAX_TOPUP`` units of
  the outlet's currency (product constants: a counter takes cash for any such amount; the
  validity it buys is the online rule's, ``topups.model.validity_days``).
* A sale is paid in cash or by card; a card payment names the terminal's reference.
* A shift moves ``open → closed`` only (``TRANSITIONS``), with a conditional update. Closing
  computes the figures here: expected cash is the opening cash plus the cash sales less the
  refunds paid out in cash, expected card the card sales less the refunds back to cards,
  the difference what was counted less the expected cash.
* The ID policy: a top-up of at least the threshold (a setting), and any top-up of a
  suspended SIM, needs a match of the holder's ID by this clerk in the last
  ``IdLimits.match_valid``. Checks are limited per SIM and per clerk in a window, each
  counted before the number is compared.
* A sale is idempotent per outlet and ``Idempotency-Key``: its request's fingerprint tells
  a replay (the first sale again) from another request with the same key (refused).
* A voucher sale's receipt number is ``V`` + the Hong Kong date + the sale's id (a top-up's
  is its order's); the signed verification link, not the number, is what cannot be guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from simkeep.clock import in_hong_kong
from simkeep.errors import Refusal
from simkeep.money import InvalidAmount, Money
from simkeep.sims.model import SimState
from simkeep.topups.model import request_hash

MIN_TOPUP = 10  # whole units of the outlet's currency
MAX_TOPUP = 5_000
MAX_CASH_MINOR = 100_000_000  # 1,000,000.00 in a drawer: a slip of the finger beyond
MAX_LABEL = 64
MAX_TERMINAL_REF = 64
_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,128}")
_AMOUNT_TEXT = 20


class CounterError(Refusal):
    """A counter request that cannot be honoured; ``field`` names what a form should mark."""

    code = "counter_error"
    field = "amount"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class DeviceError(CounterError):
    code = "invalid_device"
    field = "label"


class NotAClerk(CounterError):
    code = "not_a_clerk"
    field = "shift"


class NoOpenShift(CounterError):
    code = "no_open_shift"
    field = "shift"


class ShiftAlreadyOpen(CounterError):
    code = "shift_open"
    field = "shift"


class ShiftClosed(CounterError):
    code = "shift_closed"
    field = "shift"


class UnknownShift(CounterError):
    code = "unknown_shift"
    field = "shift"


class UnknownSale(CounterError):
    code = "unknown_sale"
    field = "sale"


class InvalidCounterAmount(CounterError):
    code = "invalid_amount"


class InvalidPayment(CounterError):
    code = "invalid_payment"
    field = "payment"


class OutletNotSelling(CounterError):
    code = "outlet_not_selling"
    field = "payment"


class WrongCurrency(CounterError):
    code = "wrong_currency"
    field = "number"


class IdCheckRequired(CounterError):
    code = "id_check_required"
    field = "id_number"


class TooManyIdChecks(CounterError):
    code = "too_many_id_checks"
    field = "id_number"


class FloatTooLow(CounterError):
    code = "float_too_low"


class InvalidKey(CounterError):
    code = "invalid_idempotency_key"
    field = "key"


class KeyConflict(CounterError):
    code = "idempotency_conflict"
    field = "key"


class Payment(StrEnum):
    CASH = "cash"
    CARD = "card"


class SaleKind(StrEnum):
    TOPUP = "topup"
    VOUCHER = "voucher"


class ShiftState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


TRANSITIONS: dict[ShiftState, frozenset[ShiftState]] = {
    ShiftState.OPEN: frozenset({ShiftState.CLOSED}),
    ShiftState.CLOSED: frozenset(),
}


def sources(target: ShiftState) -> list[str]:
    """The states a shift may move to ``target`` from (the conditional update's list)."""
    return [state.value for state, targets in TRANSITIONS.items() if target in targets]


@dataclass(frozen=True, slots=True)
class IdLimits:
    per_sim: int = 5  # checks of one SIM in a window, by anyone
    per_clerk: int = 20  # checks by one clerk in a window, of any SIM
    window: timedelta = timedelta(hours=1)
    match_valid: timedelta = timedelta(minutes=15)  # a match lets this clerk top this SIM up


@dataclass(frozen=True, slots=True)
class IdPolicy:
    """When a top-up needs the holder's ID checked (``SIMKEEP_ID_CHECK_FROM``)."""

    check_from_minor: int = 50_000
    limits: IdLimits = IdLimits()

    def needs_check(self, amount: Money, state: SimState) -> bool:
        """A top-up of ``amount`` to a SIM in ``state``: at or above the threshold, or any
        top-up of a suspended SIM."""
        return state is SimState.SUSPENDED or amount.minor >= self.check_from_minor


@dataclass(frozen=True, slots=True)
class Payer:
    """How a sale is paid: cash, or a card with the terminal's reference."""

    payment: Payment
    terminal_ref: str | None = None


@dataclass(frozen=True, slots=True)
class TopUp:
    """A top-up as the clerk entered it: the number, whole units in minor units, the payment,
    and the key the POS made when it showed the form."""

    key: str
    number: str
    amount_minor: int
    payer: Payer


@dataclass(frozen=True, slots=True)
class VoucherSale:
    """Vouchers sold as the clerk entered them: their serials and the payment."""

    key: str
    serials: tuple[str, ...]
    payer: Payer


@dataclass(frozen=True, slots=True)
class ShiftFigures:
    expected_cash: Money  # the opening cash plus the cash taken (sales less refunds)
    expected_card: Money  # the card sales less the refunds back to cards
    counted_cash: Money
    difference: Money  # counted less expected: negative when cash is missing


def topup_minor(text: str) -> int:
    """A top-up amount as typed (whole units) in minor units; ``check_topup_minor`` then
    checks its range in the outlet's currency."""
    typed = text.strip().replace(",", "")
    if not typed.isdigit() or len(typed) > len(str(MAX_TOPUP)):
        raise InvalidCounterAmount(f"enter whole units from {MIN_TOPUP} to {MAX_TOPUP:,}")
    return int(typed) * 100


def check_topup_minor(minor: int, currency: str) -> Money:
    """The same rule for an amount in minor units (the API's)."""
    if minor % 100 or not MIN_TOPUP * 100 <= minor <= MAX_TOPUP * 100:
        raise InvalidCounterAmount(f"a top-up is whole units from {MIN_TOPUP} to {MAX_TOPUP:,}")
    return Money(minor, currency)


def check_cash(text: str, currency: str, *, field: str) -> Money:
    """Cash in a drawer: 0 to 1,000,000.00, in major units as typed (``1200``, ``1200.50``)."""
    typed = text.strip().replace(",", "")
    if not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", typed[:_AMOUNT_TEXT]):
        raise InvalidCounterAmount("enter an amount of cash, like 1000.00", field=field)
    try:
        cash = Money.parse(typed, currency)
    except InvalidAmount as error:
        raise InvalidCounterAmount(str(error), field=field) from error
    return check_cash_minor(cash.minor, currency, field=field)


def check_cash_minor(minor: int, currency: str, *, field: str) -> Money:
    if not 0 <= minor <= MAX_CASH_MINOR:
        raise InvalidCounterAmount("cash is from 0 to 1,000,000.00", field=field)
    return Money(minor, currency)


def check_payer(payment: str, terminal_ref: str | None) -> Payer:
    """Cash (no reference), or card with the terminal's reference (1 to 64 characters)."""
    try:
        chosen = Payment(payment)
    except ValueError:
        raise InvalidPayment("choose cash or card") from None
    if chosen is Payment.CASH:
        return Payer(chosen)
    ref = (terminal_ref or "").strip()
    if not 1 <= len(ref) <= MAX_TERMINAL_REF or not ref.isprintable():
        raise InvalidPayment(
            f"a card payment needs the terminal's reference (1 to {MAX_TERMINAL_REF} characters)",
            field="terminal_ref",
        )
    return Payer(chosen, ref)


def check_key(key: str | None) -> str:
    """An idempotency key: 8 to 128 of letters, digits, ``_ . : -`` (a UUID fits)."""
    if key is None or not _KEY.fullmatch(key):
        raise InvalidKey("an idempotency key is 8 to 128 letters, digits, '_', '.', ':' or '-'")
    return key


def check_label(label: str) -> str:
    """A device's label: 1 to 64 characters, trimmed."""
    shown = label.strip()
    if not 1 <= len(shown) <= MAX_LABEL:
        raise DeviceError(f"a device's label has 1 to {MAX_LABEL} characters")
    return shown


def close_figures(
    *,
    opening: Money,
    cash_sales: Money,
    card_sales: Money,
    cash_refunds: Money,
    card_refunds: Money,
    counted: Money,
) -> ShiftFigures:
    """What a shift's close records."""
    expected_cash = opening + cash_sales - cash_refunds
    expected_card = card_sales - card_refunds
    return ShiftFigures(expected_cash, expected_card, counted, counted - expected_cash)


def voucher_receipt_no(sale_id: int, now: datetime) -> str:
    """A voucher sale's receipt number: ``V`` + the Hong Kong date + the sale's id."""
    return f"V{in_hong_kong(now):%y%m%d}{sale_id:010d}"


def topup_fingerprint(*, e164: str, amount: Money, payer: Payer) -> str:
    """What tells a replayed top-up from another one sent with the same key."""
    return request_hash(
        {
            "kind": SaleKind.TOPUP.value,
            "number": e164,
            "amount": [amount.minor, amount.currency],
            "payment": payer.payment.value,
            "terminal_ref": payer.terminal_ref,
        }
    )


def voucher_fingerprint(*, serials: list[str], payer: Payer) -> str:
    """What tells a replayed voucher sale from another one sent with the same key."""
    return request_hash(
        {
            "kind": SaleKind.VOUCHER.value,
            "serials": sorted(serials),
            "payment": payer.payment.value,
            "terminal_ref": payer.terminal_ref,
        }
    )
