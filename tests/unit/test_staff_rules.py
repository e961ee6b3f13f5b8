"""Staff rules without a database: what each role may do, usernames, the TOTP step a code
belongs to within one step of drift, and what changed between an audit entry's before and
after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simkeep.staff.audit import Change, Entry, Target, flat
from simkeep.staff.model import (
    InvalidStaff,
    Permission,
    check_totp_secret,
    check_username,
    code_at,
    matching_step,
    may,
    time_step,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 11, 25, 9, 0, 10, tzinfo=UTC)


def test_an_operator_reads_and_changes_an_auditor_only_reads_an_unknown_role_nothing() -> None:
    assert may("operator", Permission.READ)
    assert may("operator", Permission.CHANGE)
    assert may("auditor", Permission.READ)
    assert not may("auditor", Permission.CHANGE)
    assert not may("root", Permission.READ)


@pytest.mark.parametrize("name", ["ab", "olive.w", "k_9-x", "a" * 32])
def test_good_usernames(name: str) -> None:
    assert check_username(f" {name.upper()} ") == name


@pytest.mark.parametrize("name", ["a", "9lives", "a b", "陳", "a" * 33, ""])
def test_bad_usernames(name: str) -> None:
    with pytest.raises(InvalidStaff):
        check_username(name)


def test_a_secret_is_base32_of_160_bits_at_least() -> None:
    assert check_totp_secret("jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp") == SECRET
    with pytest.raises(InvalidStaff):
        check_totp_secret("JBSWY3DPEHPK3PXP")  # 80 bits
    with pytest.raises(InvalidStaff):
        check_totp_secret("1" * 32)


def test_a_code_matches_its_step_within_one_step_either_way() -> None:
    step = time_step(NOW)
    assert step == int(NOW.timestamp()) // 30
    for offset in (-1, 0, 1):
        assert matching_step(SECRET, code_at(SECRET, step + offset), NOW) == step + offset
    for offset in (-2, 2):
        assert matching_step(SECRET, code_at(SECRET, step + offset), NOW) is None
    assert (
        matching_step(
            SECRET, " " + code_at(SECRET, step)[:3] + " " + code_at(SECRET, step)[3:], NOW
        )
        == step
    )
    assert matching_step(SECRET, "12345", NOW) is None
    assert matching_step(SECRET, "abcdef", NOW) is None
    later = NOW + timedelta(seconds=30)
    assert matching_step(SECRET, code_at(SECRET, step), later) == step  # one step late


def test_an_entry_lists_the_fields_that_changed_nested_ones_dotted() -> None:
    entry = Entry(
        id=1,
        at=NOW,
        staff_id=1,
        username="olive",
        origin="192.0.2.1",
        action="plan.update",
        target=Target("plan", "HK-KEEP"),
        before={"fee": 800, "names": {"en": "A", "zh": "甲"}, "days": 30},
        after={"fee": 900, "names": {"en": "B", "zh": "甲"}, "days": 30},
    )

    assert entry.changes() == [Change("fee", 800, 900), Change("names.en", "A", "B")]
    assert flat({"a": {"b": {"c": 1}}, "d": None}) == {"a.b.c": 1, "d": None}
    assert flat(None) == {}


def test_a_creation_lists_every_field_as_new() -> None:
    entry = Entry(1, NOW, None, None, "cli", "staff.add", Target("staff", 1), None, {"role": "x"})

    assert entry.changes() == [Change("role", None, "x")]
