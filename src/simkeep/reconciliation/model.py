"""Reconciliation rules without I/O: how a row of a provider's bill and simkeep's own record
of the same payment or refund are classed, what may be done about a difference, the day's
window and its carry-over, and what a bill adds up to (docs/reconciliation.md).

Design overview
---------------
* A provider's Beijing day (Hong Kong's) is matched from both sides. Each row of the bill
  is looked up at simkeep — a payment by its order number, a refund by its refund number,
  of the same provider — and ``classify`` classes it: ``matched`` (simkeep took it —
  credited the order, or paid the refund — for the same amount and currency),
  ``amount_mismatch`` (another amount), ``paid_not_credited`` (the provider has the money;
  simkeep has not credited the order or recorded the refund paid), ``provider_only`` (no
  such order or refund here). What simkeep took on the day that no bill accounts for is
  ``local_only``, or ``carried`` when taken within the carry-over of the day's end
  (``classify_local``): looked for again in the next day's bill, once — found there it is
  ``matched``, still missing ``local_only``. ``CLASS_MOVES`` lists those moves.
* What was done about a row, ``Action``: ``none`` (flagged for staff; a paid-but-not-credited
  row simkeep can still take — an order still payable, a refund on its way — is first asked
  about: ``queryable``), ``credited`` (the provider said paid: the order was credited, or
  the refund recorded paid, through their own paths), ``query_unpaid`` (it said not paid:
  flagged), ``carried``, ``resolved`` (by staff, with a note). ``ACTION_MOVES`` lists every
  move; each is one conditional update, so two runs at once credit once and of two members
  of staff one resolves (``may_resolve``).
* A provider's day, ``RunState``: ``waiting`` (no bill yet: asked again later) or
  ``refused`` (the bill did not add up: nothing matched), ``running`` (being matched),
  ``querying`` (matched; the provider still to be asked about rows it has and simkeep has
  not), ``done``. ``RUN_MOVES`` lists every move: a day matched already stays matched when
  it is matched again, and a refusal never overwrites it.
* ``Reading`` goes over the bill once, row by row, as it is loaded: its digest (SHA-256 of
  the rows as read, whatever file they came from: one day is matched against one bill) and
  per currency its payments, refunds and fees (``Totals``). The fees a provider kept on the
  day's payments, less those it gave back on refunds, are booked once per provider, day and
  currency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from simkeep.clock import HONG_KONG, in_hong_kong
from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.reconciliation.bill import BillRow, RowKind
from simkeep.refunds.model import RefundState
from simkeep.topups.model import CREDITED_ONCE, PAYABLE

S = TypeVar("S", bound=StrEnum)

NOTE_CHARS = 500
ANSWER_CHARS = 500  # of a provider's answer (or of why it could not be asked) kept on a row
CARRY = timedelta(minutes=10)  # the carry-over when none is set (SIMKEEP_RECONCILE_CARRY_MINUTES)
LEASE = timedelta(minutes=10)  # a day being matched is left alone this long by the job
NOT_READY_RETRY = timedelta(minutes=30)  # a bill not out yet, or not fetched: asked again
QUERY_RETRY = timedelta(minutes=15)  # a provider that did not answer a query: asked again


class ReconcileError(Refusal):
    code = "reconcile_error"


class DayNotOver(ReconcileError):
    code = "day_not_over"


class NoBill(ReconcileError):
    """A way to pay that has no provider and no bill (an outlet's counter, a voucher)."""

    code = "no_bill"


class OtherBill(ReconcileError):
    code = "other_bill"


class UnknownDifference(ReconcileError):
    code = "unknown_difference"


class AlreadyResolved(ReconcileError):
    code = "already_resolved"


class NotResolvable(ReconcileError):
    code = "not_resolvable"


class InvalidNote(ReconcileError):
    code = "invalid_note"


class Stage(StrEnum):
    """Where a run is, for a progress bar."""

    LOAD = "load"  # the bill's rows into the database
    ASK = "ask"  # the provider asked about what it has and simkeep has not


Progress = Callable[[Stage, int, int], None]  # (stage, done, of how many)


class Side(StrEnum):
    BILL = "bill"  # a row of the bill
    LOCAL = "local"  # a payment or refund simkeep took that the bill lacks


class RowClass(StrEnum):
    MATCHED = "matched"
    AMOUNT_MISMATCH = "amount_mismatch"
    PAID_NOT_CREDITED = "paid_not_credited"
    PROVIDER_ONLY = "provider_only"
    LOCAL_ONLY = "local_only"
    CARRIED = "carried"


class Action(StrEnum):
    NONE = "none"
    CREDITED = "credited"
    QUERY_UNPAID = "query_unpaid"
    CARRIED = "carried"
    RESOLVED = "resolved"


class RunState(StrEnum):
    WAITING = "waiting"
    REFUSED = "refused"
    RUNNING = "running"
    QUERYING = "querying"
    DONE = "done"


CLASS_MOVES: dict[RowClass, frozenset[RowClass]] = {
    # looked for in the next day's bill: there after all, or still missing
    RowClass.CARRIED: frozenset({RowClass.MATCHED, RowClass.LOCAL_ONLY}),
    # another day's bill, matched after this one, had it
    RowClass.LOCAL_ONLY: frozenset({RowClass.MATCHED}),
    # the provider, asked, says it was paid another amount
    RowClass.PAID_NOT_CREDITED: frozenset({RowClass.AMOUNT_MISMATCH}),
    RowClass.MATCHED: frozenset(),
    RowClass.AMOUNT_MISMATCH: frozenset(),
    RowClass.PROVIDER_ONLY: frozenset(),
}
ACTION_MOVES: dict[Action, frozenset[Action]] = {
    Action.NONE: frozenset({Action.CREDITED, Action.QUERY_UNPAID, Action.RESOLVED}),
    Action.QUERY_UNPAID: frozenset({Action.RESOLVED}),
    Action.CARRIED: frozenset({Action.NONE}),  # still missing the next day: flagged
    Action.CREDITED: frozenset(),
    Action.RESOLVED: frozenset(),
}
_UNMATCHED = frozenset({RunState.WAITING, RunState.REFUSED, RunState.RUNNING})
RUN_MOVES: dict[RunState, frozenset[RunState]] = {
    RunState.WAITING: _UNMATCHED,
    RunState.REFUSED: _UNMATCHED,
    # a run stopped half way (its transaction rolled back) is run again; a matched day is
    # matched again without leaving its state: a refusal never overwrites it
    RunState.RUNNING: _UNMATCHED | {RunState.QUERYING, RunState.DONE},
    RunState.QUERYING: frozenset({RunState.QUERYING, RunState.DONE}),
    RunState.DONE: frozenset({RunState.QUERYING, RunState.DONE}),
}
OPEN = frozenset({Action.NONE, Action.QUERY_UNPAID})  # flagged, waiting for staff
RESOLVABLE = frozenset(
    {
        RowClass.AMOUNT_MISMATCH,
        RowClass.PAID_NOT_CREDITED,
        RowClass.PROVIDER_ONLY,
        RowClass.LOCAL_ONLY,
    }
)
CLASSIFIED = frozenset({RunState.QUERYING, RunState.DONE})  # its bill is matched
# What simkeep's own states say: taken (an order credited, whatever was refunded of it
# since; a refund paid), or still to be taken once the provider confirms.
SETTLED: dict[RowKind, frozenset[str]] = {
    RowKind.PAY: frozenset(state.value for state in CREDITED_ONCE),
    RowKind.REFUND: frozenset({RefundState.PAID.value}),
}
QUERYABLE: dict[RowKind, frozenset[str]] = {
    RowKind.PAY: frozenset(state.value for state in PAYABLE),
    RowKind.REFUND: frozenset({RefundState.APPROVED.value, RefundState.PROCESSING.value}),
}


def sources(moves: Mapping[S, frozenset[S]], target: S) -> frozenset[S]:
    """The states (classes, actions) that may move to ``target``."""
    return frozenset(state for state, targets in moves.items() if target in targets)


@dataclass(frozen=True, slots=True)
class Taken:
    """simkeep's record of a bill row's payment or refund: what it is for, and whether
    simkeep took it (the order credited, the refund paid)."""

    amount: Money
    settled: bool


def classify(billed: Money, taken: Taken | None) -> RowClass:
    """The class of a row of the bill, from what simkeep holds of it (``None``: nothing)."""
    if taken is None:
        return RowClass.PROVIDER_ONLY
    if billed != taken.amount:
        return RowClass.AMOUNT_MISMATCH
    return RowClass.MATCHED if taken.settled else RowClass.PAID_NOT_CREDITED


@dataclass(frozen=True, slots=True)
class Window:
    """A Hong Kong (and Beijing) day as instants: from its start up to the next day's."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, day: date) -> Window:
        start = datetime.combine(day, time(0), HONG_KONG).astimezone(UTC)
        return cls(start, start + timedelta(days=1))

    def holds(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def carry_from(self, carry: timedelta) -> datetime:
        """From when on what simkeep took is looked for in the next day's bill too."""
        return self.end - carry


def classify_local(taken_at: datetime, window: Window, carry: timedelta) -> RowClass:
    """The class of something simkeep took on the day that the day's bill lacks."""
    return RowClass.CARRIED if taken_at >= window.carry_from(carry) else RowClass.LOCAL_ONLY


def first_action(row_class: RowClass) -> Action:
    """What is done about a row when it is classed."""
    return Action.CARRIED if row_class is RowClass.CARRIED else Action.NONE


def queryable(kind: RowKind, row_class: RowClass, local_state: str | None) -> bool:
    """Whether the provider is asked about a row before it is left to staff: something it
    has and simkeep can still take."""
    return row_class is RowClass.PAID_NOT_CREDITED and local_state in QUERYABLE[kind]


def may_resolve(row_class: RowClass, action: Action) -> bool:
    """Whether staff may resolve a row: a difference nothing has settled yet."""
    return row_class in RESOLVABLE and action in OPEN


def check_day(day: date, now: datetime) -> date:
    """A day whose bill can exist: over in Hong Kong."""
    if day >= in_hong_kong(now).date():
        raise DayNotOver(f"{day} is not over in Hong Kong yet: its bill comes the day after")
    return day


def check_note(note: str) -> str:
    """A resolution's note: what was found or done, 1 to ``NOTE_CHARS`` characters."""
    note = note.strip()
    if not 1 <= len(note) <= NOTE_CHARS:
        raise InvalidNote(f"write what was found or done, in at most {NOTE_CHARS} characters")
    return note


@dataclass(slots=True)
class Totals:
    """What a bill adds up to in one currency, in minor units."""

    currency: str
    payments: int = 0
    paid: int = 0
    refunds: int = 0
    paid_back: int = 0
    fees: int = 0  # kept on payments
    fees_back: int = 0  # given back on refunds

    @property
    def net_fee(self) -> Money:
        """The day's fees less those given back: negative when more came back."""
        return Money(self.fees - self.fees_back, self.currency)


@dataclass(slots=True)
class Reading:
    """One pass over a bill, row by row: its digest, its size and its totals."""

    rows: int = 0
    totals: dict[str, Totals] = field(default_factory=dict)
    _hash: Any = field(default_factory=hashlib.sha256)

    def add(self, row: BillRow) -> None:
        self.rows += 1
        line = (
            f"{row.kind.value}\t{row.order_no}\t{row.refund_no}\t{row.trade_no}\t"
            f"{row.amount.minor}\t{row.amount.currency}\t{row.fee.minor}\t"
            f"{row.at.astimezone(UTC).isoformat()}\n"
        )
        self._hash.update(line.encode())
        totals = self.totals.get(row.amount.currency)
        if totals is None:
            totals = self.totals[row.amount.currency] = Totals(row.amount.currency)
        if row.kind is RowKind.PAY:
            totals.payments += 1
            totals.paid += row.amount.minor
            totals.fees += row.fee.minor
        else:
            totals.refunds += 1
            totals.paid_back += row.amount.minor
            totals.fees_back += row.fee.minor

    @property
    def digest(self) -> str:
        return str(self._hash.hexdigest())


@dataclass(frozen=True, slots=True)
class Counts:
    """A day's rows by class: a row of the bill with no difference recorded is matched."""

    matched: int = 0
    amount_mismatch: int = 0
    paid_not_credited: int = 0
    provider_only: int = 0
    local_only: int = 0
    carried: int = 0

    @classmethod
    def of(cls, bill_rows: int, recorded: Mapping[tuple[Side, RowClass], int]) -> Counts:
        """From the bill's size and the rows recorded, by side and class."""
        by_class = dict.fromkeys(RowClass, 0)
        for (_, row_class), count in recorded.items():
            by_class[row_class] += count
        on_the_bill = sum(count for (side, _), count in recorded.items() if side is Side.BILL)
        unrecorded = bill_rows - on_the_bill
        return cls(
            matched=by_class[RowClass.MATCHED] + unrecorded,
            amount_mismatch=by_class[RowClass.AMOUNT_MISMATCH],
            paid_not_credited=by_class[RowClass.PAID_NOT_CREDITED],
            provider_only=by_class[RowClass.PROVIDER_ONLY],
            local_only=by_class[RowClass.LOCAL_ONLY],
            carried=by_class[RowClass.CARRIED],
        )

    @property
    def differences(self) -> int:
        return (
            self.amount_mismatch
            + self.paid_not_credited
            + self.provider_only
            + self.local_only
            + self.carried
        )
