"""The rules of auto keep-alive, without I/O: what a rule tops up, when it notifies, when it
charges, when it tries again (docs/retention.md, "Auto keep-alive").

Design overview
---------------
A rule belongs to one SIM and one payment agreement (``payments.agreements``): ``fixed``
tops up a chosen denomination, ``enough`` the smallest denomination that keeps the SIM
active one more period — the next monthly fee (after what the balance still covers), or
the next validity step (a validity plan's smallest top-up).

The period is the day the SIM would lapse (``retention.model.lapses_on``). ``NOTICE_DAYS``
before it the subscriber is told what will be topped up and when; ``CHARGE_DAYS`` before it
the top-up is charged. A charge the provider declines is tried again after ``RETRY_AFTER``
(1 h, 6 h, 24 h, then daily) while the SIM is still active; the deadline is the start of
the lapse day (Hong Kong). Times are instants; days are Hong Kong days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from simkeep.clock import HONG_KONG
from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.retention.model import Line
from simkeep.sims.model import Retention
from simkeep.topups.model import DENOMINATIONS

NOTICE_DAYS = 7  # the notice goes out this many days before the lapse day
CHARGE_DAYS = 3  # the top-up is charged this many days before it
CHARGE_AT = time(10, 0)  # … from this Hong Kong time on that day
RETRY_AFTER = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24))
PAY_CURRENCY = "CNY"  # Alipay and WeChat Pay (Mainland) charge in yuan


class KeepAliveError(Refusal):
    code = "keep_alive_error"


class AmountNotOffered(KeepAliveError):
    code = "amount_not_offered"


class AgreementExists(KeepAliveError):
    code = "keep_alive_exists"


class Mode(StrEnum):
    FIXED = "fixed"
    ENOUGH = "enough"  # enough to stay active


class RuleState(StrEnum):
    SIGNING = "signing"
    ACTIVE = "active"
    ENDED = "ended"


class AttemptState(StrEnum):
    WAITING = "waiting"  # noticed; charged at next_at
    CHARGING = "charging"  # claimed by a worker until next_at
    PENDING = "pending"  # the provider took the charge; the order is being credited
    PAID = "paid"
    FAILED = "failed"  # declined until the deadline
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    subscriber_id: int
    sim_id: int
    provider: Provider
    agreement_ref: str
    provider_agreement_no: str | None
    state: RuleState
    mode: Mode
    amount_minor: int | None
    created_at: datetime
    signed_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    rule_id: int
    period: date
    state: AttemptState
    amount: Money
    tries: int
    next_at: datetime | None
    order_no: str | None
    last_error: str | None
    noticed_at: datetime
    updated_at: datetime


def check_rule(mode: Mode, amount_minor: int | None) -> int | None:
    """The rule's amount as stored: a denomination for ``fixed``, none for ``enough``."""
    if mode is Mode.ENOUGH:
        if amount_minor is not None:
            raise AmountNotOffered("'enough to stay active' takes no amount")
        return None
    if amount_minor not in DENOMINATIONS:
        raise AmountNotOffered("choose 50, 100, 200 or 300")
    return amount_minor


def top_up_amount(line: Line, *, mode: Mode, amount_minor: int | None) -> int:
    """What the rule tops up (minor units of the SIM's currency) before the lapse day."""
    if mode is Mode.FIXED:
        assert amount_minor is not None
        return amount_minor
    if line.retention is Retention.VALIDITY or line.fee <= 0:
        return DENOMINATIONS[0]
    needed = line.arrears + line.fee - line.balance % line.fee
    return next((d for d in DENOMINATIONS if d >= needed), DENOMINATIONS[-1])


def deadline(lapse: date) -> datetime:
    """The start of the lapse day: after it, the top-up comes too late."""
    return datetime.combine(lapse, time(0), HONG_KONG)


def notice_due(lapse: date, today: date) -> bool:
    return (lapse - today).days <= NOTICE_DAYS and today < lapse


def charge_at(lapse: date) -> datetime:
    """When the top-up is first charged."""
    return datetime.combine(lapse - timedelta(days=CHARGE_DAYS), CHARGE_AT, HONG_KONG)


def next_try(tries: int, *, now: datetime, lapse: date) -> datetime | None:
    """After ``tries`` declined charges: when to try again, or None (the deadline is near)."""
    wait = RETRY_AFTER[min(tries, len(RETRY_AFTER)) - 1]
    at = now + wait
    return at if at < deadline(lapse) else None
