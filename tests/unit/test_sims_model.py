"""SIM rules as worked examples: numbers, ICCIDs, real-name records, states."""

from __future__ import annotations

import pytest

from simkeep.phone import InvalidNumber, Region, parse_number
from simkeep.sims.model import (
    IdType,
    InvalidIccid,
    InvalidIdDocument,
    SimState,
    can_move,
    check_iccid,
    digest_key,
    id_digest,
    luhn_complete,
    mask_id,
    mask_name,
)


@pytest.mark.parametrize(
    ("text", "e164", "region"),
    [
        ("9123 4567", "+85291234567", Region.HK),
        ("+852-6123-4567", "+85261234567", Region.HK),
        ("0085291234567", "+85291234567", Region.HK),
        ("138 1234 5678", "+8613812345678", Region.CN),
        ("+86 138-1234-5678", "+8613812345678", Region.CN),
    ],
)
def test_numbers_in_usual_spellings_become_e164(text: str, e164: str, region: Region) -> None:
    number = parse_number(text)
    assert (number.e164, number.region) == (e164, region)


@pytest.mark.parametrize(
    "text",
    ["", "12345", "2123 4567", "+1 415 555 0100", "010 1234 5678", "+86 138 1234 567"],
)
def test_what_is_not_an_hk_or_mainland_mobile_is_refused(text: str) -> None:
    with pytest.raises(InvalidNumber):
        parse_number(text)


def test_a_line_must_be_of_the_expected_side() -> None:
    with pytest.raises(InvalidNumber, match="Mainland"):
        parse_number("91234567", expect=Region.CN)


def test_masked_numbers() -> None:
    assert parse_number("91234567").masked() == "+852 9***4567"
    assert parse_number("13812345678").masked() == "+86 1******5678"


def test_iccid_check_digit() -> None:
    iccid = luhn_complete("898520012345678901")
    assert check_iccid(iccid) == iccid
    wrong = iccid[:-1] + str((int(iccid[-1]) + 1) % 10)
    with pytest.raises(InvalidIccid, match="check digit"):
        check_iccid(wrong)
    with pytest.raises(InvalidIccid):
        check_iccid("1234")


def test_id_numbers_are_masked_for_people() -> None:
    assert mask_id(IdType.HKID, "A1234563") == "A12****(3)"
    assert mask_id(IdType.HKID, "a123456(3)") == "A12****(3)"
    assert mask_id(IdType.CN_RESIDENT_ID, "11010519491231002X") == "110***********002X"
    assert mask_id(IdType.HOME_RETURN_PERMIT, "H12345678") == "H12****78"


def test_a_malformed_id_is_refused() -> None:
    with pytest.raises(InvalidIdDocument):
        mask_id(IdType.HKID, "12345")


def test_id_digest_is_keyed_and_spelling_blind() -> None:
    key = digest_key("secret-one")
    assert id_digest(key, IdType.HKID, "A123456(3)") == id_digest(key, IdType.HKID, "a1234563")
    assert id_digest(key, IdType.HKID, "A123456(3)") != id_digest(
        digest_key("secret-two"), IdType.HKID, "A123456(3)"
    )
    assert "123456" not in id_digest(key, IdType.HKID, "A123456(3)")


def test_names_are_masked() -> None:
    assert mask_name("陳大明") == "陳*明"
    assert mask_name("陳明") == "陳*"
    assert mask_name("歐陽小明") == "歐**明"
    assert mask_name("Chan Tai Man") == "C*** T** M**"


def test_line_state_transitions() -> None:
    assert can_move(SimState.ACTIVE, SimState.GRACE)
    assert can_move(SimState.GRACE, SimState.ACTIVE)
    assert can_move(SimState.SUSPENDED, SimState.ACTIVE)
    assert not can_move(SimState.ACTIVE, SimState.RECYCLED)
    assert not can_move(SimState.RECYCLED, SimState.ACTIVE)
