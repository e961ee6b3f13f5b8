"""Ledger rules without I/O: account types, postings, journal requests and their checks.

Design overview
---------------
* Amounts are signed integers in minor units: a **debit is positive, a credit negative**,
  so the postings of a journal sum to zero in every currency.
* An account's stored balance is on its *normal side*: assets and expenses grow with debits,
  liabilities, income and equity with credits. ``normal_sign`` converts (+1 / -1), so a SIM
  (a liability) holding HK$100 has balance +10000 and postings summing to -10000.
* A floor (``min_balance``) bounds the normal-side balance less outgoing holds: 0 means
  "never below zero", a negative number is a credit limit, None means no floor.
* A *hot* account keeps its balance in several slot rows so that concurrent journals do not
  queue behind one row lock; it cannot have a floor (a floor needs one locked row).
* Every journal carries a client-chosen id; its content hash decides whether a replay is the
  same request (return the first journal) or a conflict (refuse).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from simkeep.money import Money, check_currency

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._/-]{0,127}$")
MAX_AMOUNT = 2**62  # far beyond any real amount, far inside a signed 64-bit column


class LedgerError(Exception):
    """Base of every refusal the ledger gives; ``code`` is machine-readable."""

    code = "ledger_error"


class InvalidJournal(LedgerError):
    code = "invalid_journal"


class JournalConflict(LedgerError):
    code = "journal_conflict"


class UnknownAccount(LedgerError):
    code = "unknown_account"


class AccountConflict(LedgerError):
    code = "account_conflict"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"


class PendingNotOpen(LedgerError):
    code = "pending_not_open"


class PendingExpired(LedgerError):
    code = "pending_expired"


class AlreadyReversed(LedgerError):
    code = "already_reversed"


class JournalArchived(LedgerError):
    """The journal is in a month taken out of the books (``ledger.partitions``)."""

    code = "journal_archived"


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    INCOME = "income"
    EXPENSE = "expense"
    EQUITY = "equity"

    @property
    def normal_sign(self) -> int:
        return 1 if self in (AccountType.ASSET, AccountType.EXPENSE) else -1


class JournalKind(StrEnum):
    STANDARD = "standard"
    PENDING = "pending"
    POST = "post"
    REVERSAL = "reversal"


class PendingOutcome(StrEnum):
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """What an account is; ``code`` is its stable, unique business name."""

    code: str
    name: str
    currency: str
    type: AccountType
    owner_type: str | None = None
    owner_id: str | None = None
    min_balance: int | None = None
    hot_slots: int = 1

    def __post_init__(self) -> None:
        check_currency(self.currency)
        if not self.code or len(self.code) > 200:
            raise InvalidJournal("account code must be 1–200 characters")
        if self.hot_slots < 1:
            raise InvalidJournal("hot_slots must be at least 1")
        if self.hot_slots > 1 and self.min_balance is not None:
            raise InvalidJournal(f"hot account {self.code} cannot have a floor")
        if (self.owner_type is None) != (self.owner_id is None):
            raise InvalidJournal("owner_type and owner_id go together")


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    code: str
    name: str
    currency: str
    type: AccountType
    owner_type: str | None
    owner_id: str | None
    hot_slots: int
    min_balance: int | None

    def matches(self, spec: AccountSpec) -> bool:
        return (
            self.code == spec.code
            and self.currency == spec.currency
            and self.type is spec.type
            and self.owner_type == spec.owner_type
            and self.owner_id == spec.owner_id
            and (self.hot_slots > 1) == (spec.hot_slots > 1)
        )


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of a journal: a signed amount (debit +, credit -) on one account."""

    account_id: int
    amount: int
    currency: str

    @classmethod
    def debit(cls, account_id: int, money: Money) -> Posting:
        return cls(account_id, money.minor, money.currency)

    @classmethod
    def credit(cls, account_id: int, money: Money) -> Posting:
        return cls(account_id, -money.minor, money.currency)


@dataclass(frozen=True, slots=True)
class JournalRequest:
    """A journal as a client asks for it, before the database has seen it."""

    client_id: str
    kind: JournalKind
    postings: tuple[Posting, ...]
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None
    pending_id: int | None = None
    reverses_id: int | None = None

    def content_hash(self) -> str:
        """A digest of everything the client asked for; equal requests hash equal."""
        lines = sorted(f"{p.account_id}:{p.currency}:{p.amount}" for p in self.postings)
        meta = json.dumps(dict(self.metadata), sort_keys=True) if self.metadata else "{}"
        canonical = "\x1f".join(
            (
                self.kind.value,
                ",".join(lines),
                self.description,
                meta,
                self.expires_at.isoformat() if self.expires_at else "",
                str(self.pending_id or ""),
                str(self.reverses_id or ""),
            )
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def check_client_id(client_id: str) -> str:
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.match(client_id):
        raise InvalidJournal(
            f"client id {client_id!r} must be 1–128 characters of letters, digits and :._/-"
        )
    return client_id


MAX_POSTINGS = 100  # in one journal


def check_postings(postings: Sequence[Posting]) -> tuple[Posting, ...]:
    """Two or more non-zero postings that sum to zero in every currency."""
    if len(postings) < 2:
        raise InvalidJournal("a journal needs at least two postings")
    if len(postings) > MAX_POSTINGS:
        raise InvalidJournal(f"a journal has at most {MAX_POSTINGS} postings")
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        if isinstance(posting.amount, bool) or not isinstance(posting.amount, int):
            raise InvalidJournal(f"amount {posting.amount!r} is not an integer of minor units")
        if posting.amount == 0:
            raise InvalidJournal("a posting of zero moves nothing")
        if abs(posting.amount) > MAX_AMOUNT:
            raise InvalidJournal(f"amount {posting.amount} is out of range")
        check_currency(posting.currency)
        totals[posting.currency] += posting.amount
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        detail = ", ".join(f"{c} {t:+d}" for c, t in sorted(unbalanced.items()))
        raise InvalidJournal(f"journal does not balance: debits minus credits = {detail}")
    return tuple(postings)


def reversal_of(postings: Sequence[Posting]) -> tuple[Posting, ...]:
    return tuple(Posting(p.account_id, -p.amount, p.currency) for p in postings)


def partial_post(
    pending: Sequence[Posting], requested: Sequence[Posting] | None
) -> tuple[Posting, ...]:
    """The postings a post of a hold writes: all of it, or a smaller balanced part.

    A partial post may name only accounts of the hold, with the same direction and no more
    than the held amount on each.
    """
    if requested is None:
        return tuple(pending)
    held: dict[tuple[int, str], int] = defaultdict(int)
    for p in pending:
        held[(p.account_id, p.currency)] += p.amount
    asked: dict[tuple[int, str], int] = defaultdict(int)
    for p in check_postings(requested):
        asked[(p.account_id, p.currency)] += p.amount
    for key, amount in asked.items():
        limit = held.get(key, 0)
        if limit == 0 or (amount > 0) != (limit > 0) or abs(amount) > abs(limit):
            raise InvalidJournal(
                f"posting {amount:+d} {key[1]} on account {key[0]} exceeds the hold ({limit:+d})"
            )
    return tuple(requested)


@dataclass(frozen=True, slots=True)
class Journal:
    id: int
    client_id: str
    kind: JournalKind
    postings: tuple[Posting, ...]
    description: str
    metadata: Mapping[str, str]
    created_at: datetime
    expires_at: datetime | None
    pending_id: int | None
    reverses_id: int | None


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's money: posted, held by pending journals, and what is available."""

    account_id: int
    currency: str
    posted: int
    pending_out: int
    pending_in: int
    min_balance: int | None

    @property
    def available(self) -> int:
        return self.posted - self.pending_out

    def money(self) -> Money:
        return Money(self.posted, self.currency)

    def available_money(self) -> Money:
        return Money(self.available, self.currency)


@dataclass(frozen=True, slots=True)
class HistoryLine:
    posting_id: int
    journal_id: int
    client_id: str
    kind: JournalKind
    amount: int
    currency: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryPage:
    lines: tuple[HistoryLine, ...]
    next_before: int | None
