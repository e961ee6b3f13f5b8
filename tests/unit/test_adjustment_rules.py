"""Balance adjustments' rules (docs/staff.md, "Adjustments"), their journal as a worked example
(docs/ledger.md), and what each staff role may do (docs/staff.md, "Roles")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simkeep.adjustments.model import (
    REASON_CHARS,
    Adjustment,
    AdjustmentState,
    InvalidAdjustment,
    OwnAdjustment,
    SimRecycled,
    can_move,
    check_adjustable,
    check_checker,
    check_key,
    check_note,
    check_reason,
    parse_amount,
)
from simkeep.ledger import rules
from simkeep.ledger.model import InvalidJournal, Posting, check_postings
from simkeep.money import Money
from simkeep.sims.model import SimState
from simkeep.staff.model import Permission, Role, may, permissions

SIM, ADJUSTMENTS = 1, 2
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def pending(made_by: int = 7) -> Adjustment:
    return Adjustment(
        id=1,
        sim_id=3,
        amount=Money(5_000, "HKD"),
        reason="goodwill",
        state=AdjustmentState.PENDING,
        made_by=made_by,
        made_at=NOW,
        decided_by=None,
        decided_at=None,
        decision_note=None,
        journal_id=None,
    )


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("+12.50", "HKD", 1_250),
        ("12.5", "HKD", 1_250),
        ("-12.50", "CNY", -1_250),
        (" -0.01 ", "HKD", -1),
        ("1,000", "HKD", 100_000),
        ("+100000", "HKD", 10_000_000),
        ("-100000.00", "CNY", -10_000_000),
    ],
)
def test_an_amount_has_a_sign_in_the_sims_currency(typed: str, currency: str, minor: int) -> None:
    assert parse_amount(typed, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "invalid_amount"),
        ("abc", "invalid_amount"),
        ("12.345", "invalid_amount"),
        ("1e3", "invalid_amount"),
        ("--5", "invalid_amount"),
        ("NaN", "invalid_amount"),
        ("0", "zero_amount"),
        ("-0.00", "zero_amount"),
        ("100000.01", "amount_too_large"),
        ("-999999", "amount_too_large"),
    ],
)
def test_a_bad_amount_is_refused_with_its_field(typed: str, code: str) -> None:
    with pytest.raises(InvalidAdjustment) as refused:
        parse_amount(typed, "HKD")
    assert (refused.value.field, refused.value.code) == ("amount", code)


def test_a_reason_is_required_and_capped() -> None:
    assert check_reason("  a dropped call  ") == "a dropped call"
    assert check_reason("x" * REASON_CHARS) == "x" * REASON_CHARS
    for bad, code in (("   ", "reason_missing"), ("x" * (REASON_CHARS + 1), "reason_too_long")):
        with pytest.raises(InvalidAdjustment) as refused:
            check_reason(bad)
        assert (refused.value.field, refused.value.code) == ("reason", code)
    assert check_note("") == ""
    with pytest.raises(InvalidAdjustment):
        check_note("x" * (REASON_CHARS + 1))


def test_a_form_key_is_sixteen_to_sixty_four_safe_characters() -> None:
    assert check_key("abcdefghijklmnop") == "abcdefghijklmnop"
    for bad in ("short", "x" * 65, "has spaces in it!!", "ключключключключ"):
        with pytest.raises(InvalidAdjustment):
            check_key(bad)


def test_only_a_pending_adjustment_is_decided_once() -> None:
    assert can_move(AdjustmentState.PENDING, AdjustmentState.APPROVED)
    assert can_move(AdjustmentState.PENDING, AdjustmentState.REJECTED)
    for done in (AdjustmentState.APPROVED, AdjustmentState.REJECTED):
        assert not any(can_move(done, target) for target in AdjustmentState)


def test_the_maker_never_checks_their_own() -> None:
    check_checker(pending(made_by=7), 8)
    with pytest.raises(OwnAdjustment, match="another member of staff"):
        check_checker(pending(made_by=7), 7)
    with pytest.raises(OwnAdjustment):
        check_checker(pending(made_by=7), None)  # the command line decides nothing


def test_a_recycled_sim_is_not_adjusted() -> None:
    for state in (SimState.ACTIVE, SimState.GRACE, SimState.SUSPENDED):
        check_adjustable(state)
    with pytest.raises(SimRecycled):
        check_adjustable(SimState.RECYCLED)


def test_a_credit_of_hk50_comes_from_the_adjustments_account() -> None:
    postings = rules.balance_adjustment(
        sim_balance=SIM, adjustments=ADJUSTMENTS, amount=Money(5_000, "HKD")
    )
    check_postings(postings)
    assert postings == (Posting(ADJUSTMENTS, 5_000, "HKD"), Posting(SIM, -5_000, "HKD"))


def test_a_debit_of_cny20_goes_back_to_the_adjustments_account() -> None:
    postings = rules.balance_adjustment(
        sim_balance=SIM, adjustments=ADJUSTMENTS, amount=Money(-2_000, "CNY")
    )
    check_postings(postings)
    assert postings == (Posting(SIM, 2_000, "CNY"), Posting(ADJUSTMENTS, -2_000, "CNY"))


def test_an_adjustment_of_nothing_is_no_journal() -> None:
    with pytest.raises(InvalidJournal):
        rules.balance_adjustment(sim_balance=SIM, adjustments=ADJUSTMENTS, amount=Money(0, "HKD"))


EVERYTHING = {Permission.READ, Permission.CHANGE, Permission.REFUND, Permission.ADJUST}
ROLES = {
    Role.OPERATOR: EVERYTHING | {Permission.RECONCILE},
    Role.SUPPORT: {Permission.READ, Permission.REFUND},
    Role.FINANCE: {Permission.READ, Permission.ADJUST, Permission.RECONCILE},
    Role.AUDITOR: {Permission.READ},
    Role.AGENT: {Permission.AGENT_VIEW},
    Role.CLERK: {Permission.POS},
}


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_may_what_its_line_says(role: Role) -> None:
    assert permissions(role.value) == ROLES[role]
    for permission in Permission:
        assert may(role.value, permission) == (permission in ROLES[role])


def test_a_role_this_version_does_not_know_may_do_nothing() -> None:
    assert permissions("superuser") == frozenset()
    assert not any(may("superuser", permission) for permission in Permission)
