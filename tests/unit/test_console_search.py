"""The console's search box: what a typed text is read as (docs/staff.md, "Search"), and the
timeline's cursor and hidden codes (``staff.timeline_entries``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simkeep.keyset import Keyset
from simkeep.sims.model import luhn_complete
from simkeep.sqltypes import MAX_ID
from simkeep.staff.search import MAX_QUERY, BadQuery, Kind, Reading, recognise
from simkeep.staff.timeline_entries import Cursor, Source, hide_codes

HK = "+85292010037"
CN = "+8613900010053"


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+852 9201 0037", HK),
        ("+852-9201-0037", HK),
        ("852 9201 0037", HK),
        ("85292010037", HK),
        ("9201 0037", HK),
        ("(852) 9201-0037", HK),
        ("00852 92010037", HK),
        ("+86 139 0001 0053", CN),
        ("86 139 0001 0053", CN),
        ("8613900010053", CN),
        ("139-0001-0053", CN),
        ("0086 13900010053", CN),
    ],
)
def test_a_phone_number_in_any_usual_spelling(typed: str, e164: str) -> None:
    assert recognise(typed) == [Reading(Kind.PHONE, e164)]


def test_our_numbers_are_read_whatever_their_case() -> None:
    assert recognise("t202611250000000001") == [Reading(Kind.ORDER, "T202611250000000001")]
    assert recognise(" R2611250000000001 ") == [Reading(Kind.RECEIPT, "R2611250000000001")]
    assert recognise("f261125c7abb2e3b82b") == [Reading(Kind.REFUND, "F261125C7ABB2E3B82B")]


def test_a_voucher_serial_needs_its_check_digit() -> None:
    serial = luhn_complete("00001000041")
    assert recognise(serial) == [Reading(Kind.VOUCHER, serial)]
    wrong = serial[:-1] + str((int(serial[-1]) + 1) % 10)
    with pytest.raises(BadQuery):
        recognise(wrong)


@pytest.mark.parametrize(
    "typed",
    ["x" * (MAX_QUERY + 1), "<b>92010037</b>", "92010037;", "9201 0037 ✓", "'%'", "\x00"],
)
def test_too_long_or_odd_characters_are_refused(typed: str) -> None:
    with pytest.raises(BadQuery) as refused:
        recognise(typed)
    assert refused.value.code == "query_characters"


@pytest.mark.parametrize("typed", ["", "   ", "hello", "1234", "12345678", "T2026", "R123"])
def test_what_is_none_of_our_numbers_is_refused(typed: str) -> None:
    with pytest.raises(BadQuery) as refused:
        recognise(typed)
    assert refused.value.code == "query_unknown"


AT = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=UTC)


def test_a_cursor_goes_through_the_address_unchanged() -> None:
    cursor = Cursor(AT, Source.JOURNAL.value, 4242)
    assert Cursor.parse(cursor.token()) == cursor
    for bad in ("", "1-2", "abc-3-4", "1-0-4", "1-3-99999999999999999999", f"1-3-{MAX_ID + 1}"):
        with pytest.raises(ValueError, match="not a page"):
            Cursor.parse(bad)


def test_each_source_gets_what_it_has_left_after_the_cursor() -> None:
    cursor = Cursor(AT, Source.SMS.value, 10)
    assert cursor.keyset_for(Source.SMS) == Keyset(AT, 10)  # its own: older ids at that instant
    assert cursor.keyset_for(Source.ORDER) == Keyset(AT, MAX_ID)  # ranked below: all of it
    assert cursor.keyset_for(Source.ADJUSTMENT) == Keyset(AT, 0)  # ranked above: none of it


def test_one_time_codes_are_hidden_and_nothing_else() -> None:
    assert hide_codes("Your simkeep code is 482913. It expires in 5 minutes.") == (
        "Your simkeep code is ••••••. It expires in 5 minutes."
    )
    kept = "simkeep: +852 9***0037 was topped up with HK$100.00. Receipt R2611250000000001"
    assert hide_codes(kept) == kept
