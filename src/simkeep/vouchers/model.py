"""Voucher rules without I/O: states, PINs and their digests, serials, batches, limits.

Design overview
---------------
* A voucher (充值卡) moves ``generated → sold → redeemed``, or ends ``expired`` or
  ``blocked`` (``TRANSITIONS``); the service moves it with conditional updates only.
* A PIN is 16 digits drawn uniformly from ``secrets`` (``new_pin``). It is stored only as
  ``pin_digest``: HMAC-SHA256 under a key derived from the secret key for this purpose
  alone (``pin_key``), so nothing stored gives the PIN back. What a person types is cleaned
  of spaces and dashes and must then be exactly 16 digits (``clean_pin``).
* A serial is public: the batch's id, the voucher's place in the batch (6 digits) and a Luhn
  check digit (``serial_of``) — sequential within a batch for the printer, unique by
  construction, and a typo in it is caught by the check digit (``check_serial``).
* A batch: a face value of a top-up's (50, 100, 200 or 300) in HKD or CNY, so that a
  redemption is a top-up like any other (its validity days are the denomination's);
  1–100,000 vouchers, usable to the end of its expiry day in Hong Kong
  (``expiry_instant``), which must be after today.
* ``printer_file``: the CSV the printer gets (serial, PIN, value, currency, last day).
* ``PinLimits``: how many redemptions may fail per number, per account and per address in
  their windows; each attempt is counted before its PIN is checked.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from simkeep.clock import HONG_KONG, in_hong_kong
from simkeep.errors import Refusal
from simkeep.money import SUPPORTED_CURRENCIES, Money, minor_exponent
from simkeep.sims.model import luhn_complete
from simkeep.topups.model import DENOMINATIONS

PIN_DIGITS = 16
MAX_SALE = 50  # vouchers in one sale
MAX_BATCH = 100_000
SERIAL_PATTERN = re.compile(r"^\d{12,19}$")


class VoucherState(StrEnum):
    GENERATED = "generated"
    SOLD = "sold"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    BLOCKED = "blocked"


TRANSITIONS: dict[VoucherState, frozenset[VoucherState]] = {
    VoucherState.GENERATED: frozenset(
        {VoucherState.SOLD, VoucherState.EXPIRED, VoucherState.BLOCKED}
    ),
    VoucherState.SOLD: frozenset({VoucherState.REDEEMED, VoucherState.EXPIRED}),
    VoucherState.REDEEMED: frozenset(),
    VoucherState.EXPIRED: frozenset(),
    VoucherState.BLOCKED: frozenset(),
}


class VoucherError(Refusal):
    """A voucher request that cannot be honoured; ``field`` names what to fix, if one."""

    code = "invalid_voucher"

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NoVouchers(VoucherError):
    code = "no_vouchers"


class TooManyVouchers(VoucherError):
    code = "too_many_vouchers"


class DuplicateSerial(VoucherError):
    code = "duplicate_serial"


class UnknownVoucher(VoucherError):
    code = "unknown_voucher"


class VoucherNotForSale(VoucherError):
    code = "voucher_not_for_sale"


class VoucherExpired(VoucherError):
    code = "voucher_expired"


class MixedCurrencies(VoucherError):
    code = "mixed_currencies"


class InvalidBatch(VoucherError):
    code = "invalid_batch"


class InvalidPin(VoucherError):
    code = "invalid_pin"


class PinRefused(VoucherError):
    """Wrong, unsold, expired, blocked or used: one answer, so no PIN's fate leaks."""

    code = "pin_refused"


class WrongCurrency(VoucherError):
    code = "currency_mismatch"


class TooManyAttempts(VoucherError):
    code = "too_many_attempts"

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message, field="pin")
        self.retry_at = retry_at


@dataclass(frozen=True, slots=True)
class SoldVoucher:
    serial: str
    face: Money
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PrintedVoucher:
    """A line of the printer's file: the only place its PIN ever appears."""

    serial: str
    pin: str
    face: Money
    expires_on: date


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    batch_no: str
    face: Money
    count: int
    expires_at: datetime
    created_by: int | None
    created_at: datetime
    exported_at: datetime | None

    @property
    def expires_on(self) -> date:
        return last_day(self.expires_at)


@dataclass(frozen=True, slots=True)
class PinLimits:
    per_number: int = 5
    number_window: timedelta = timedelta(hours=24)
    per_account: int = 10
    account_window: timedelta = timedelta(hours=24)
    per_address: int = 20
    address_window: timedelta = timedelta(hours=1)


class Scope(StrEnum):
    """What an attempt counter limits."""

    NUMBER = "number"
    ACCOUNT = "account"
    ADDRESS = "address"


def new_pin() -> str:
    """A PIN of 16 digits, uniform over all 10^16 (``randbelow`` has no modulo bias)."""
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def pin_key(secret_key: str) -> bytes:
    """The key for PIN digests, derived from the application's secret key."""
    return hmac.new(secret_key.encode(), b"simkeep/voucher-pin/v1", hashlib.sha256).digest()


def pin_digest(key: bytes, pin: str) -> str:
    """The keyed digest stored in place of the PIN."""
    return hmac.new(key, clean_pin(pin).encode(), hashlib.sha256).hexdigest()


def clean_pin(text: str) -> str:
    """The 16 digits of a typed PIN; spaces and dashes between them are allowed."""
    digits = re.sub(r"[\s\-]", "", text or "")
    if len(digits) != PIN_DIGITS or not digits.isascii() or not digits.isdigit():
        raise InvalidPin("a PIN is 16 digits", field="pin")
    return digits


def serial_of(batch_id: int, place: int) -> str:
    """The public serial of the voucher at ``place`` (1-based) in batch ``batch_id``."""
    return luhn_complete(f"{batch_id:05d}{place - 1:06d}")


def check_serial(text: str) -> str:
    """A typed serial, stripped; refused unless its digits and check digit are right."""
    serial = re.sub(r"[\s\-]", "", text or "")
    if not SERIAL_PATTERN.match(serial) or luhn_complete(serial[:-1]) != serial:
        raise UnknownVoucher(f"{text[:24]!r} is not a voucher serial", field="serial")
    return serial


def check_serials(serials: list[str]) -> list[str]:
    """The serials of one sale: 1–50, each well formed, none twice."""
    if not serials:
        raise NoVouchers("name at least one voucher", field="serials")
    if len(serials) > MAX_SALE:
        raise TooManyVouchers(f"at most {MAX_SALE} vouchers in one sale", field="serials")
    cleaned = [check_serial(serial) for serial in serials]
    if len(set(cleaned)) != len(cleaned):
        raise DuplicateSerial("a voucher is named twice", field="serials")
    return cleaned


def printer_file(printed: Sequence[PrintedVoucher]) -> str:
    """The printer's CSV: a header, then serial, PIN, value, currency and last day per line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("serial", "pin", "value", "currency", "expires_on"))
    for card in printed:
        value = Decimal(card.face.minor).scaleb(-minor_exponent(card.face.currency))
        writer.writerow((card.serial, card.pin, value, card.face.currency, card.expires_on))
    return out.getvalue()


def expiry_instant(expires_on: date) -> datetime:
    """The instant a voucher of that expiry day stops working: the next Hong Kong midnight."""
    return datetime.combine(expires_on + timedelta(days=1), time(), HONG_KONG).astimezone(UTC)


def last_day(expires_at: datetime) -> date:
    """The last Hong Kong day a voucher is usable (the inverse of ``expiry_instant``)."""
    return in_hong_kong(expires_at - timedelta(microseconds=1)).date()


def check_batch(*, face: Money, count: int, expires_on: date, now: datetime) -> None:
    """Refuse a batch the operator cannot mean, field by field."""
    if face.currency not in SUPPORTED_CURRENCIES:
        raise InvalidBatch("vouchers are in HKD or CNY", field="currency")
    if face.minor not in DENOMINATIONS:
        raise InvalidBatch("the face value is 50, 100, 200 or 300", field="face")
    if not 1 <= count <= MAX_BATCH:
        raise InvalidBatch(f"a batch has 1 to {MAX_BATCH:,} vouchers", field="count")
    if expires_on <= in_hong_kong(now).date():
        raise InvalidBatch("the expiry day must be after today", field="expires")
    if expires_on > in_hong_kong(now).date() + timedelta(days=3660):
        raise InvalidBatch("the expiry day is at most ten years away", field="expires")
