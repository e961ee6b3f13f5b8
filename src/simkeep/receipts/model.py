"""Receipt rules without I/O: what a receipt shows, and the signature that makes it checkable.

Design overview
---------------
* ``ReceiptView`` is everything printed on a top-up receipt, already masked and resolved
  (holder name masked; the plan with its names in the three languages and the provider,
  of which each renderer — PDF, HTML, API — shows the reader's name; the promotions the
  top-up was granted, in the reader's words by ``promotion_lines``); renderers only lay
  it out. It
  refuses what a receipt must never say: naive times, an exchange rate without a currency
  change (or the reverse), a receipt number that cannot sit in a URL path.
* A top-up made at an outlet's counter prints, besides, where and how it was paid
  (``CounterSale``: the outlet's names, the clerk, cash or card with the terminal's
  reference). Vouchers sold at a counter get a receipt of their own (``VoucherReceiptView``:
  each voucher's serial, value and expiry — never a PIN, which is printed on the card).
* Anyone holding a receipt can open its verification link ``/r/{receipt_no}/{signature}``
  (a top-up's receipt number starts with ``R``, a voucher sale's with ``V``: one scheme).
  The signature is HMAC-SHA256 under a server key over the receipt number (with a purpose
  prefix, so the same key used elsewhere can never yield a valid receipt signature),
  truncated to 128 bits and written in lower-case base32: short enough for a small QR code,
  far too many possibilities to guess. Checking is constant-time and answers ``False`` to
  malformed input instead of raising, since the input comes straight from a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import phonenumbers

from simkeep.clock import require_aware
from simkeep.money import Money, format_rate
from simkeep.names import Names
from simkeep.payment_methods import Provider
from simkeep.phone import parse_number
from simkeep.promotions.model import Applied
from simkeep.promotions.wording import promotion_line
from simkeep.sims.model import Plan

SIGNATURE_BYTES = 16  # 128 bits: unguessable, and the link stays short
_PURPOSE = b"simkeep/receipt-verification/v1\x00"
_RECEIPT_NO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}")
_SIGNATURE = re.compile(r"[a-z2-7]{26}")  # base32 of 16 bytes, no padding
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class ReceiptError(ValueError):
    """A receipt that cannot be issued as given."""


@dataclass(frozen=True, slots=True)
class CounterSale:
    """Where and how a sale at a counter was paid, as its receipt prints it."""

    outlet: Names  # in the reader's language on each receipt
    clerk_name: str
    payment: str  # cash | card
    terminal_ref: str | None  # the card terminal's reference

    @property
    def names(self) -> Names:
        return self.outlet


@dataclass(frozen=True, slots=True)
class VoucherLine:
    serial: str
    face: Money
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class VoucherReceiptView:
    """Everything printed on the receipt of vouchers sold at a counter."""

    receipt_no: str
    sold_at: datetime  # aware; shown in Hong Kong time
    counter: CounterSale
    vouchers: tuple[VoucherLine, ...]
    total: Money

    def __post_init__(self) -> None:
        check_receipt_no(self.receipt_no)
        require_aware(self.sold_at)
        if not self.vouchers:
            raise ReceiptError("a voucher receipt lists the vouchers sold")


@dataclass(frozen=True, slots=True)
class ReceiptView:
    receipt_no: str
    order_no: str
    credited_at: datetime  # aware; shown in Hong Kong time
    msisdn: str  # E.164
    holder_masked: str  # e.g. 陳*明
    plan: Plan
    credit: Money  # what the SIM received
    pay: Money  # what the payer paid
    fx_rate: Decimal | None  # units of pay currency per unit of credit currency
    provider: Provider  # named for people by payment_methods.provider_name
    provider_trade_no: str
    validity_until: datetime | None  # the SIM's validity after this top-up
    promotions: tuple[Applied, ...] = ()  # granted with this top-up
    counter: CounterSale | None = None  # made at an outlet's counter

    def __post_init__(self) -> None:
        check_receipt_no(self.receipt_no)
        require_aware(self.credited_at)
        if self.validity_until is not None:
            require_aware(self.validity_until)
        if not _E164.fullmatch(self.msisdn):
            raise ReceiptError(f"{self.msisdn!r} is not an E.164 number")
        if (self.fx_rate is None) != (self.pay.currency == self.credit.currency):
            raise ReceiptError(
                "an exchange rate is shown exactly when the payer paid in another currency"
            )
        if self.fx_rate is not None and not (self.fx_rate.is_finite() and self.fx_rate > 0):
            raise ReceiptError(f"exchange rate {self.fx_rate} is not a positive number")

    @property
    def number_printed(self) -> str:
        """The number as the receipt prints it: whole for its owner online; masked on a
        counter's receipt (``+852 9***4567``), a paper that leaves the shop."""
        if self.counter is not None:
            return parse_number(self.msisdn).masked()
        return self.msisdn_display

    @property
    def msisdn_display(self) -> str:
        """``+852 5123 4567``, ``+86 138 0013 8000``: grouped the way people read it."""
        parsed = phonenumbers.parse(self.msisdn, None)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    def promotion_lines(self, locale: str) -> list[str]:
        """Each promotion granted, ``name: what it gave``, in ``locale``."""
        currency = self.credit.currency
        return [promotion_line(a, locale=locale, currency=currency) for a in self.promotions]

    def fx_display(self, locale: str) -> str | None:
        """``1 HKD = 0.9200 CNY`` when the payer paid in another currency (``format_rate``)."""
        if self.fx_rate is None:
            return None
        return f"1 {self.credit.currency} = {format_rate(self.fx_rate, locale)} {self.pay.currency}"


def check_receipt_no(receipt_no: str) -> str:
    """A receipt number: letters, digits and dashes, safe in a URL path."""
    if not isinstance(receipt_no, str) or not _RECEIPT_NO.fullmatch(receipt_no):
        raise ReceiptError(f"{receipt_no!r} is not a receipt number")
    return receipt_no


def receipt_signature(key: bytes, receipt_no: str) -> str:
    """The signature in a receipt's verification link."""
    if not key:
        raise ValueError("the receipt signing key is empty")
    message = _PURPOSE + check_receipt_no(receipt_no).encode("ascii")
    digest = hmac.new(key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def signature_matches(key: bytes, receipt_no: str, signature: str) -> bool:
    """Whether ``signature`` was made for ``receipt_no`` under ``key``; never raises on input."""
    if not isinstance(receipt_no, str) or not _RECEIPT_NO.fullmatch(receipt_no):
        return False
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        return False
    return hmac.compare_digest(receipt_signature(key, receipt_no), signature)


def verification_path(receipt_no: str, signature: str) -> str:
    """The public page that shows whether a receipt is genuine."""
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        raise ReceiptError("not a receipt signature")
    return f"/r/{check_receipt_no(receipt_no)}/{signature}"
