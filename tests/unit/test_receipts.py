"""Receipts: what a receipt may say, and the signature behind its verification link."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from simkeep.money import Money
from simkeep.names import Names
from simkeep.payment_methods import Provider
from simkeep.receipts.model import (
    ReceiptError,
    ReceiptView,
    receipt_signature,
    signature_matches,
    verification_path,
)
from simkeep.sims.model import Plan, Retention

KEY = b"receipt-test-key-0123456789abcdef"
PLAN = Plan(
    "CHK-365",
    Names("中港通 365 保號計劃", "中港通 365 保号计划", "China–HK 365 number keeper"),
    "HKD",
    Retention.VALIDITY,
    0,
)
RECEIPT_NO = "R26112500123456"


def receipt(**changes: object) -> ReceiptView:
    """HK$100 credited to a Hong Kong number, paid ¥92.00 with Alipay at 0.92."""
    base = ReceiptView(
        receipt_no=RECEIPT_NO,
        order_no="T2611250000123456",
        credited_at=datetime(2026, 11, 25, 6, 3, 7, tzinfo=UTC),
        msisdn="+85251234567",
        holder_masked="陳*明",
        plan=PLAN,
        credit=Money(10_000, "HKD"),
        pay=Money(9_200, "CNY"),
        fx_rate=Decimal("0.9200"),
        provider=Provider.ALIPAY,
        provider_trade_no="2026112522001412345678901234",
        validity_until=datetime(2027, 11, 25, 15, 59, 59, tzinfo=UTC),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_signature_round_trip() -> None:
    signature = receipt_signature(KEY, RECEIPT_NO)
    assert signature == receipt_signature(KEY, RECEIPT_NO)
    assert len(signature) == 26  # 128 bits in base32, no padding
    assert signature == signature.lower()
    assert signature_matches(KEY, RECEIPT_NO, signature)


def test_signature_depends_on_key_and_receipt() -> None:
    signature = receipt_signature(KEY, RECEIPT_NO)
    assert receipt_signature(b"another key", RECEIPT_NO) != signature
    assert not signature_matches(b"another key", RECEIPT_NO, signature)
    assert not signature_matches(KEY, "R26112500123457", signature)


def test_tampered_signature_is_refused() -> None:
    signature = receipt_signature(KEY, RECEIPT_NO)
    flipped = ("b" if signature[-1] == "a" else "a") + signature[1:]
    assert not signature_matches(KEY, RECEIPT_NO, flipped)
    assert not signature_matches(KEY, RECEIPT_NO, signature[:-1] + "x")


@pytest.mark.parametrize(
    ("receipt_no", "signature"),
    [
        (RECEIPT_NO, ""),
        (RECEIPT_NO, "short"),
        (RECEIPT_NO, "A" * 26),  # upper case is not how signatures are written
        (RECEIPT_NO, "1" * 26),  # not base32
        (RECEIPT_NO, "a" * 27),
        (RECEIPT_NO, None),
        ("", "a" * 26),
        ("../etc/passwd", "a" * 26),
        ("R2611/2500", "a" * 26),
        (None, "a" * 26),
    ],
)
def test_malformed_input_is_refused_without_raising(receipt_no: object, signature: object) -> None:
    assert signature_matches(KEY, receipt_no, signature) is False  # type: ignore[arg-type]


def test_upper_cased_valid_signature_is_refused() -> None:
    signature = receipt_signature(KEY, RECEIPT_NO)
    assert not signature_matches(KEY, RECEIPT_NO, signature.upper())


def test_signing_needs_a_key_and_a_receipt_number() -> None:
    with pytest.raises(ValueError, match="key"):
        receipt_signature(b"", RECEIPT_NO)
    with pytest.raises(ReceiptError):
        receipt_signature(KEY, "R 1")


def test_verification_path() -> None:
    signature = receipt_signature(KEY, RECEIPT_NO)
    assert verification_path(RECEIPT_NO, signature) == f"/r/{RECEIPT_NO}/{signature}"
    with pytest.raises(ReceiptError):
        verification_path(RECEIPT_NO, "not-a-signature")
    with pytest.raises(ReceiptError):
        verification_path("R1/../x", signature)


def test_number_is_shown_grouped() -> None:
    assert receipt().msisdn_display == "+852 5123 4567"
    assert receipt(msisdn="+8613800138000").msisdn_display == "+86 138 0013 8000"


def test_exchange_rate_line_reads_credit_to_pay_currency() -> None:
    assert receipt().fx_display("en") == "1 HKD = 0.9200 CNY"
    same_currency = receipt(pay=Money(10_000, "HKD"), fx_rate=None)
    assert same_currency.fx_display("en") is None


@pytest.mark.parametrize(
    "changes",
    [
        {"credited_at": datetime(2026, 11, 25, 6, 3, 7)},  # naive
        {"validity_until": datetime(2027, 11, 25)},  # naive
        {"fx_rate": None},  # paid in CNY for HKD credit, but no rate
        {"pay": Money(10_000, "HKD")},  # same currency, yet a rate
        {"fx_rate": Decimal("0")},
        {"fx_rate": Decimal("NaN")},
        {"msisdn": "51234567"},
        {"receipt_no": "R 1"},
    ],
)
def test_a_receipt_that_cannot_be_issued_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - ReceiptError and the clock's ValueError
        receipt(**changes)
