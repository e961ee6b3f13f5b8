"""Voucher rules without a database: PINs of 16 digits and their keyed digests, serials with
a check digit, a Hong Kong day's end as expiry, the printer's file, the state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from simkeep.money import Money
from simkeep.vouchers.model import (
    TRANSITIONS,
    InvalidBatch,
    InvalidPin,
    PrintedVoucher,
    UnknownVoucher,
    VoucherState,
    check_batch,
    check_serial,
    clean_pin,
    expiry_instant,
    last_day,
    new_pin,
    pin_digest,
    pin_key,
    printer_file,
    serial_of,
)

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "typed",
    ["1234567890123456", "1234 5678 9012 3456", "1234-5678-9012-3456", " 1234 5678-9012 3456 "],
)
def test_a_pin_is_sixteen_digits_spaces_and_dashes_allowed(typed: str) -> None:
    assert clean_pin(typed) == "1234567890123456"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "123456789012345",
        "12345678901234567",
        "1234 5678 9012 345x",
        "１２３４５６７８９０１２３４５６",
    ],
)
def test_anything_else_is_not_a_pin(typed: str) -> None:
    with pytest.raises(InvalidPin):
        clean_pin(typed)


def test_new_pins_are_sixteen_digits_and_differ() -> None:
    pins = {new_pin() for _ in range(1000)}
    assert len(pins) == 1000
    assert all(len(pin) == 16 and pin.isdigit() for pin in pins)
    assert {pin[0] for pin in pins} == set("0123456789")  # leading zeros are kept


def test_the_digest_is_keyed_and_reads_the_pin_however_typed() -> None:
    key, other = pin_key("secret one"), pin_key("secret two")
    digest = pin_digest(key, "1234 5678 9012 3456")
    assert digest == pin_digest(key, "1234567890123456")
    assert digest != pin_digest(other, "1234567890123456")
    assert len(digest) == 64
    assert "1234567890123456" not in digest


def test_serials_follow_the_batch_and_carry_a_check_digit() -> None:
    first, second = serial_of(42, 1), serial_of(42, 2)
    assert first[:11] == "00042000000"
    assert second[:11] == "00042000001"
    assert check_serial(f" {first} ") == first
    wrong = first[:-1] + str((int(first[-1]) + 1) % 10)
    with pytest.raises(UnknownVoucher):
        check_serial(wrong)
    assert serial_of(123_456, 100_000) == check_serial(serial_of(123_456, 100_000))


def test_a_voucher_works_to_the_end_of_its_hong_kong_day() -> None:
    ends = expiry_instant(date(2027, 12, 31))
    assert ends == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)  # midnight in Hong Kong
    assert last_day(ends) == date(2027, 12, 31)


@pytest.mark.parametrize(
    ("face", "count", "expires_on", "field"),
    [
        (Money(10_001, "HKD"), 1, date(2027, 1, 1), "face"),
        (Money(10_000, "USD"), 1, date(2027, 1, 1), "currency"),
        (Money(10_000, "HKD"), 0, date(2027, 1, 1), "count"),
        (Money(10_000, "HKD"), 100_001, date(2027, 1, 1), "count"),
        (Money(10_000, "HKD"), 1, date(2026, 11, 25), "expires"),
        (Money(10_000, "HKD"), 1, date(2037, 1, 1), "expires"),
    ],
)
def test_a_batch_the_operator_cannot_mean(
    face: Money, count: int, expires_on: date, field: str
) -> None:
    with pytest.raises(InvalidBatch) as refused:
        check_batch(face=face, count=count, expires_on=expires_on, now=NOW)
    assert refused.value.field == field


def test_the_printers_file() -> None:
    card = PrintedVoucher("000420000007", "0123456789012345", Money(5_000, "CNY"), date(2027, 1, 2))
    assert printer_file([card]) == (
        "serial,pin,value,currency,expires_on\n000420000007,0123456789012345,50.00,CNY,2027-01-02\n"
    )


def test_redeemed_expired_and_blocked_are_final() -> None:
    assert TRANSITIONS[VoucherState.GENERATED] == {
        VoucherState.SOLD,
        VoucherState.EXPIRED,
        VoucherState.BLOCKED,
    }
    assert TRANSITIONS[VoucherState.SOLD] == {VoucherState.REDEEMED, VoucherState.EXPIRED}
    for final in (VoucherState.REDEEMED, VoucherState.EXPIRED, VoucherState.BLOCKED):
        assert TRANSITIONS[final] == frozenset()
