"""The rules of keeping a number alive, without I/O: billing dates, the day a SIM lapses, and
what the daily run does to one SIM on one day.

Design overview
---------------
Days are Hong Kong calendar days (``date``); the run for a day looks at each SIM once.

* **Monthly fee** (月租保號): the fee is due on the SIM's billing day — the day of the month
  it was issued, or the month's last day when the month is shorter (issued on 31 January:
  28 or 29 February, then 31 March). An active SIM whose balance covers the fee pays it; one
  whose balance does not owes it (arrears) and moves to ``grace``. A SIM in grace or
  suspended owes each further fee as it falls due.
* **Validity** (有效期): the SIM is active through the Hong Kong day its validity ends; on
  the next day it moves to ``grace``.
* ``grace`` lasts the plan's ``grace_days``, ``suspended`` its ``suspension_days``, counted in
  days from the day the state began; then ``suspended``, then ``recycled``.
* At most one move per SIM and day, so every move has its own day and reason: a code
  (``fee_unpaid``, ``validity_ended``, ``grace_over``, ``suspension_over``) that the pages
  put in the reader's words.

``lapses_on`` is the first day a SIM would no longer be active if nothing were done: for a
validity plan the day after its validity ends; for a monthly fee the billing date of the
first fee its balance cannot cover (none for a free plan).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from simkeep.clock import in_hong_kong
from simkeep.sims.model import Retention, SimAccount, SimState, extended_validity


def billing_date(year: int, month: int, billing_day: int) -> date:
    """The billing day in that month, or the month's last day when it has fewer days."""
    return date(year, month, min(billing_day, calendar.monthrange(year, month)[1]))


def next_billing(after: date, billing_day: int) -> date:
    """The billing date in the month after ``after``'s."""
    year, month = (after.year + 1, 1) if after.month == 12 else (after.year, after.month + 1)
    return billing_date(year, month, billing_day)


def first_fee(issued: datetime) -> tuple[int, date]:
    """A SIM issued at ``issued``: its billing day and its first fee's date (a month on)."""
    day = in_hong_kong(issued).date()
    return day.day, next_billing(day, day.day)


def billing(
    retention: Retention, billing_day: int | None, next_fee_on: date | None, issued: datetime
) -> tuple[int | None, date | None]:
    """A SIM's billing day and next fee date as stored — or, for a monthly-fee SIM issued
    before the retention run existed (none stored), from its issue date."""
    if retention is Retention.MONTHLY_FEE and next_fee_on is None:
        return first_fee(issued)
    return billing_day, next_fee_on


def day_of(instant: datetime) -> date:
    """The Hong Kong calendar day of an instant."""
    return in_hong_kong(instant).date()


@dataclass(frozen=True, slots=True)
class Line:
    """What the run and the lapse date need to know of one SIM."""

    sim_id: int
    state: SimState
    state_since: date
    retention: Retention
    fee: int  # minor units a month; 0 on a validity plan
    grace_days: int
    suspension_days: int
    balance: int  # minor units
    arrears: int  # fees owed, minor units
    validity_until: datetime | None
    billing_day: int | None
    next_fee_on: date | None


REMIND_DAYS = (14, 3, 0)  # days before the last day kept: an SMS each


@dataclass(frozen=True, slots=True)
class Notice:
    """An SMS the run sends a SIM: a reminder of the last day it is kept (``kind``
    ``reminder``), or its new state (``grace``, ``suspended``, ``recycled``) with the last
    day of that state (None for ``recycled``)."""

    kind: str
    until: date | None


@dataclass(frozen=True, slots=True)
class Step:
    """What the run does to one SIM on one day; ``None`` fields change nothing."""

    sim_id: int
    charge: int = 0  # the fee paid from the balance now
    owe: int = 0  # the fee added to the arrears now
    fee_on: date | None = None  # the date of the fee charged or owed
    next_fee_on: date | None = None
    move_to: SimState | None = None
    reason: str = ""
    forfeit: int = 0  # the balance forfeited on recycling
    notice: Notice | None = None

    @property
    def changes(self) -> bool:
        return bool(self.charge or self.owe or self.move_to or self.next_fee_on)


def step(line: Line, day: date) -> Step:
    """The run's work on ``line`` for ``day``."""
    charge = owe = 0
    fee_on = next_fee_on = None
    move_to: SimState | None = None
    reason = ""
    if _fee_due(line, day):
        assert line.next_fee_on is not None
        assert line.billing_day is not None
        fee_on = line.next_fee_on
        next_fee_on = next_billing(line.next_fee_on, line.billing_day)
        if line.state is SimState.ACTIVE and line.balance >= line.fee:
            charge = line.fee
        else:
            owe = line.fee
            if line.state is SimState.ACTIVE:
                move_to, reason = SimState.GRACE, "fee_unpaid"
    if move_to is None:
        move_to, reason = _lapse(line, day)
    forfeit = line.balance if move_to is SimState.RECYCLED else 0
    after = (
        replace(line, balance=line.balance - charge, next_fee_on=next_fee_on or line.next_fee_on)
        if charge or next_fee_on
        else line
    )
    notice = _notice(after, move_to, day)
    return Step(line.sim_id, charge, owe, fee_on, next_fee_on, move_to, reason, forfeit, notice)


def _notice(after: Line, move_to: SimState | None, day: date) -> Notice | None:
    """The SMS of the day: the new state, with its last day; or, for a SIM that stays
    active, a reminder 14, 3 and 0 days before its last day kept."""
    if move_to is SimState.GRACE:
        return Notice("grace", day + timedelta(after.grace_days - 1))
    if move_to is SimState.SUSPENDED:
        return Notice("suspended", day + timedelta(after.suspension_days - 1))
    if move_to is SimState.RECYCLED:
        return Notice("recycled", None)
    lapse = lapses_on(after)
    if lapse is not None and (lapse - timedelta(days=1) - day).days in REMIND_DAYS:
        return Notice("reminder", lapse - timedelta(days=1))
    return None


def _fee_due(line: Line, day: date) -> bool:
    return (
        line.retention is Retention.MONTHLY_FEE
        and line.fee > 0
        and line.billing_day is not None
        and line.next_fee_on is not None
        and line.next_fee_on <= day
    )


def _lapse(line: Line, day: date) -> tuple[SimState | None, str]:
    """The move a SIM makes on ``day`` whatever its fee: validity ended, grace or suspension
    over."""
    ended = line.validity_until is not None and day_of(line.validity_until) < day
    if line.state is SimState.ACTIVE and line.retention is Retention.VALIDITY and ended:
        return SimState.GRACE, "validity_ended"
    if line.state is SimState.GRACE and line.state_since + timedelta(line.grace_days) <= day:
        return SimState.SUSPENDED, "grace_over"
    suspended_for = timedelta(line.suspension_days)
    if line.state is SimState.SUSPENDED and line.state_since + suspended_for <= day:
        return SimState.RECYCLED, "suspension_over"
    return None, ""


def lapses_on(line: Line) -> date | None:
    """The first day the SIM would not be active if nothing were done (None: it is not
    active now, or nothing would end it)."""
    if line.state is not SimState.ACTIVE:
        return None
    if line.retention is Retention.VALIDITY:
        return None if line.validity_until is None else day_of(line.validity_until) + timedelta(1)
    if line.fee <= 0 or line.next_fee_on is None or line.billing_day is None:
        return None
    covered = line.balance // line.fee  # each fee the balance covers moves the date a month on
    month = line.next_fee_on.year * 12 + line.next_fee_on.month - 1 + covered
    return billing_date(month // 12, month % 12 + 1, line.billing_day)


def line_of(account: SimAccount) -> Line:
    """The rules' view of a SIM as its holder sees it (a SIM issued before the run existed
    is billed from its issue date, as the run will bill it)."""
    sim, plan = account.sim, account.plan
    billing_day, next_fee_on = billing(
        plan.retention, sim.billing_day, sim.next_fee_on, sim.created_at
    )
    return Line(
        sim_id=sim.id,
        state=sim.state,
        state_since=day_of(sim.state_since or sim.created_at),
        retention=plan.retention,
        fee=plan.monthly_fee,
        grace_days=plan.grace_days,
        suspension_days=plan.suspension_days,
        balance=account.balance.minor,
        arrears=sim.arrears_minor,
        validity_until=sim.validity_until,
        billing_day=billing_day,
        next_fee_on=next_fee_on,
    )


def kept_until(account: SimAccount) -> date | None:
    """The last day the SIM keeps its number active if nothing is done (None: it is not
    active, or nothing would end it)."""
    lapse = lapses_on(line_of(account))
    return None if lapse is None else lapse - timedelta(days=1)


def kept_until_after(
    account: SimAccount, *, credit: int, validity_days: int, now: datetime
) -> date | None:
    """The last day the SIM keeps its number after a top-up of ``credit`` (minor units):
    the arrears paid first, a lapsed SIM active again if they are covered, a validity plan's
    date moved on. None if it would still not be active, or nothing would end it."""
    line = line_of(account)
    balance, state = line.balance + credit, line.state
    if state in (SimState.GRACE, SimState.SUSPENDED):
        if balance < line.arrears:
            return None
        balance, state = balance - line.arrears, SimState.ACTIVE
    validity = line.validity_until
    if line.retention is Retention.VALIDITY:
        validity = extended_validity(validity, validity_days, now)
    lapse = lapses_on(replace(line, state=state, balance=balance, validity_until=validity))
    return None if lapse is None else lapse - timedelta(days=1)
