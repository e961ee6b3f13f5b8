"""Ledger rules without a database: balance, ids, holds, accounts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simkeep.ledger.model import (
    AccountSpec,
    AccountType,
    InvalidJournal,
    JournalKind,
    JournalRequest,
    Posting,
    check_client_id,
    check_postings,
    partial_post,
    reversal_of,
)
from simkeep.money import Money

HK100 = Money(10_000, "HKD")


def test_a_balanced_journal_is_accepted() -> None:
    postings = [Posting.debit(1, HK100), Posting.credit(2, HK100)]
    assert check_postings(postings) == tuple(postings)
    assert postings[0].amount == 10_000
    assert postings[1].amount == -10_000


def test_a_journal_must_balance_in_every_currency() -> None:
    with pytest.raises(InvalidJournal, match="HKD"):
        check_postings([Posting.debit(1, HK100), Posting.credit(2, Money(9_999, "HKD"))])
    # HK$100 against ¥100 balances nothing: each currency's books stand alone.
    with pytest.raises(InvalidJournal, match="CNY"):
        check_postings([Posting.debit(1, HK100), Posting.credit(2, Money(10_000, "CNY"))])


def test_a_cross_currency_journal_balances_per_currency() -> None:
    postings = [
        Posting.debit(1, Money(9_200, "CNY")),
        Posting.credit(2, Money(9_200, "CNY")),
        Posting.debit(3, HK100),
        Posting.credit(4, HK100),
    ]
    assert len(check_postings(postings)) == 4


@pytest.mark.parametrize(
    "postings",
    [
        [],
        [Posting(1, 0, "HKD"), Posting(2, 0, "HKD")],
        [Posting(1, 100, "HKD")],
        [Posting(1, 2**63, "HKD"), Posting(2, -(2**63), "HKD")],
    ],
)
def test_degenerate_journals_are_refused(postings: list[Posting]) -> None:
    with pytest.raises(InvalidJournal):
        check_postings(postings)


@pytest.mark.parametrize("client_id", ["", " x", "a" * 129, "top up", "收款"])
def test_client_ids_are_plain_and_bounded(client_id: str) -> None:
    with pytest.raises(InvalidJournal):
        check_client_id(client_id)


def test_client_id_examples() -> None:
    assert check_client_id("topup:ord_20261125_0001") == "topup:ord_20261125_0001"


def test_content_hash_ignores_posting_order_but_not_content() -> None:
    a = JournalRequest("x", JournalKind.STANDARD, (Posting(1, 5, "HKD"), Posting(2, -5, "HKD")))
    b = JournalRequest("x", JournalKind.STANDARD, (Posting(2, -5, "HKD"), Posting(1, 5, "HKD")))
    c = JournalRequest("x", JournalKind.STANDARD, (Posting(1, 6, "HKD"), Posting(2, -6, "HKD")))
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != c.content_hash()
    expiring = JournalRequest(
        "x", JournalKind.PENDING, a.postings, expires_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert expiring.content_hash() != a.content_hash()


def test_partial_post_within_the_hold() -> None:
    held = (Posting(1, 10_000, "HKD"), Posting(2, -10_000, "HKD"))
    assert partial_post(held, None) == held
    part = (Posting(1, 4_000, "HKD"), Posting(2, -4_000, "HKD"))
    assert partial_post(held, part) == part


@pytest.mark.parametrize(
    "asked",
    [
        (Posting(1, 10_001, "HKD"), Posting(2, -10_001, "HKD")),  # more than held
        (Posting(1, -100, "HKD"), Posting(2, 100, "HKD")),  # the other direction
        (Posting(1, 100, "HKD"), Posting(3, -100, "HKD")),  # an account not held
    ],
)
def test_partial_post_outside_the_hold_is_refused(asked: tuple[Posting, ...]) -> None:
    held = (Posting(1, 10_000, "HKD"), Posting(2, -10_000, "HKD"))
    with pytest.raises(InvalidJournal):
        partial_post(held, asked)


def test_reversal_mirrors_every_posting() -> None:
    postings = (Posting(1, 700, "CNY"), Posting(2, -700, "CNY"))
    assert reversal_of(postings) == (Posting(1, -700, "CNY"), Posting(2, 700, "CNY"))


def test_normal_side_of_each_account_type() -> None:
    assert AccountType.ASSET.normal_sign == 1
    assert AccountType.EXPENSE.normal_sign == 1
    assert AccountType.LIABILITY.normal_sign == -1
    assert AccountType.INCOME.normal_sign == -1
    assert AccountType.EQUITY.normal_sign == -1


def test_a_hot_account_cannot_have_a_floor() -> None:
    with pytest.raises(InvalidJournal, match="hot"):
        AccountSpec("x", "x", "HKD", AccountType.ASSET, min_balance=0, hot_slots=8)
