"""Manual balance adjustments without I/O: what may be entered, its states, who may decide
(docs/staff.md, "Adjustments").

Design overview
---------------
* A member of staff enters an adjustment of a SIM's money balance — an amount with a sign
  (a credit ``+12.50`` puts money on the SIM, a debit ``-12.50`` takes it off), in the SIM's
  currency, with a reason — and it waits, ``pending``, until **another** member of staff
  decides: maker–checker. ``check_checker`` refuses the maker; the database refuses it too
  (a CHECK on the table, migration 0024).
* States: ``pending → approved | rejected``. ``TRANSITIONS`` lists every move; a decision is
  one conditional update from ``pending``, so of two decisions at once one wins and the
  other is told it was decided already.
* Approval posts one journal through the ledger (``ledger.rules.balance_adjustment``); a
  debit never takes the SIM below zero — the ledger's floor refuses it and nothing changes.
* Limits at the edge: at most ``MAX_MAJOR`` in major units either way, two decimals,
  a reason of 1 to ``REASON_CHARS`` characters, a decision note of at most that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from simkeep.errors import Refusal
from simkeep.money import Money, minor_exponent
from simkeep.sims.model import SimState

REASON_CHARS = 500
MAX_MAJOR = 100_000  # the most one adjustment moves, in major units of the SIM's currency
KEY_CHARS = 64  # the form's one-time key: a second submission of the same form is the first
_AMOUNT = re.compile(r"[+-]?\d{1,6}(\.\d{1,2})?")


class AdjustmentError(Refusal):
    code = "adjustment_error"


class InvalidAdjustment(AdjustmentError):
    """Bad input, naming the field to mark."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


class OwnAdjustment(AdjustmentError):
    code = "own_adjustment"


class AdjustmentDecided(AdjustmentError):
    code = "adjustment_decided"


class UnknownAdjustment(AdjustmentError):
    code = "unknown_adjustment"


class UnknownSim(AdjustmentError):
    code = "unknown_sim"


class BelowZero(AdjustmentError):
    code = "below_zero"


class SimRecycled(AdjustmentError):
    code = "sim_recycled"


class AdjustmentState(StrEnum):
    PENDING = "pending"  # entered, waiting for another member of staff
    APPROVED = "approved"  # its journal is posted
    REJECTED = "rejected"  # nothing moved


TRANSITIONS: dict[AdjustmentState, frozenset[AdjustmentState]] = {
    AdjustmentState.PENDING: frozenset({AdjustmentState.APPROVED, AdjustmentState.REJECTED}),
    AdjustmentState.APPROVED: frozenset(),
    AdjustmentState.REJECTED: frozenset(),
}


def can_move(current: AdjustmentState, target: AdjustmentState) -> bool:
    return target in TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class Adjustment:
    id: int
    sim_id: int
    amount: Money  # signed: positive puts money on the SIM, negative takes it off
    reason: str
    state: AdjustmentState
    made_by: int
    made_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str | None
    journal_id: int | None

    @property
    def credit(self) -> bool:
        return self.amount.minor > 0

    def audit_view(self) -> dict[str, Any]:
        """What the audit log keeps of it."""
        return {
            "sim_id": self.sim_id,
            "amount": str(self.amount),
            "reason": self.reason,
            "state": self.state.value,
            "decision_note": self.decision_note,
            "journal_id": self.journal_id,
        }


def parse_amount(text: str, currency: str) -> Money:
    """``+12.50`` or ``-12.50`` (a sign optional for a credit) in major units of
    ``currency``; never zero, at most ``MAX_MAJOR`` either way."""
    typed = text.strip().replace(",", "")
    if not _AMOUNT.fullmatch(typed):
        raise InvalidAdjustment("amount", "invalid_amount", "enter an amount like +12.50 or -12.50")
    amount = Money.parse(typed, currency)
    if amount.is_zero():
        raise InvalidAdjustment("amount", "zero_amount", "an adjustment moves some money")
    if abs(amount.minor) > MAX_MAJOR * 10 ** minor_exponent(currency):
        raise InvalidAdjustment(
            "amount", "amount_too_large", f"one adjustment moves at most {MAX_MAJOR:,}"
        )
    return amount


def check_reason(text: str) -> str:
    """Why, for the audit log and the checker: 1 to ``REASON_CHARS`` characters."""
    reason = text.strip()
    if not reason:
        raise InvalidAdjustment("reason", "reason_missing", "write why the balance changes")
    if len(reason) > REASON_CHARS:
        raise InvalidAdjustment(
            "reason", "reason_too_long", f"write at most {REASON_CHARS} characters"
        )
    return reason


def check_note(text: str) -> str:
    """A decision's note: trimmed, at most ``REASON_CHARS`` characters."""
    note = text.strip()
    if len(note) > REASON_CHARS:
        raise InvalidAdjustment("note", "note_too_long", f"write at most {REASON_CHARS} characters")
    return note


def check_key(text: str) -> str:
    """The form's one-time key: letters, digits, ``-`` and ``_``, 16 to ``KEY_CHARS``."""
    key = text.strip()
    if not re.fullmatch(rf"[A-Za-z0-9_-]{{16,{KEY_CHARS}}}", key):
        raise InvalidAdjustment("key", "invalid_key", "open the form again and send it once")
    return key


def check_adjustable(state: SimState) -> None:
    """A recycled SIM's balance was forfeited and its numbers released: nothing to adjust."""
    if state is SimState.RECYCLED:
        raise SimRecycled("this SIM was recycled: its balance cannot be adjusted")


def check_checker(adjustment: Adjustment, checker_id: int | None) -> None:
    """Only another member of staff decides an adjustment: never the one who entered it."""
    if checker_id is None:
        raise OwnAdjustment("a member of staff signed in decides an adjustment")
    if checker_id == adjustment.made_by:
        raise OwnAdjustment("another member of staff must decide an adjustment you entered")
