"""Refund rules without I/O: what may go back, its states, when a rule approves it
(docs/refunds.md).

Design overview
---------------
* What an order can give back is worked out from ``OrderFacts`` by ``refundable``: the
  part of its credit not refunded yet and still on the SIM (the balance never goes below
  zero). The bonus money the order's promotions granted is taken back first: what is left
  of it from the bonus account, and what was used of it is deducted from the refund (it
  goes back to the promotion expense). A wrong-number top-up that nobody used therefore
  comes back in full. A cross-currency order pays back in the currency paid, pro rata at
  the order's own rate, rounded down; the refund that empties the order pays the rest, so
  the payer never gets more than they paid, nor loses a cent to rounding.
* States: ``requested → approved → (processing →) paid``, or ``refused`` by staff, or
  ``failed`` when the provider refuses for good (the money goes back on the SIM).
  ``TRANSITIONS`` lists every move; each is one conditional update.
* ``auto_approves``: the rule that lets a request through without staff — a wrong-number
  top-up, all of it unused, at most the set amount, asked within the set time of its credit.
* A top-up made at an outlet is paid back by its agent: the refund is paid to the agent's
  float, and the payer gets the money at one of the agent's counters, the way the top-up was
  paid (``way_back``: cash for cash, back to the card for a card). The commission the agent
  earned on the refunded part goes back (``commission_back``): pro rata of the sale's own,
  rounded down as it was, on all that the sale's refunds paid back so far — so they never
  take back more than the sale earned, and all of it once all is paid back.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from simkeep.clock import in_hong_kong
from simkeep.counter.model import InvalidPayment, Payer, Payment
from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.topups.model import request_hash

NOTE_CHARS = 500
_TOPUP_NUMBER = re.compile(r"R[0-9]{16}|T[0-9]{18}")  # a receipt's, an order's


class RefundError(Refusal):
    code = "refund_error"


class NotRefundable(RefundError):
    code = "not_refundable"


class NotOutletTopUp(NotRefundable):
    code = "not_outlet_topup"


class OtherAgent(NotRefundable):
    code = "other_agent"


class NothingToRefund(RefundError):
    code = "nothing_to_refund"


class AboveRefundable(RefundError):
    code = "above_refundable"


class RefundOpen(RefundError):
    code = "refund_open"


class RefundDecided(RefundError):
    code = "refund_decided"


class UnknownRefund(RefundError):
    code = "unknown_refund"


class UnknownTopUp(RefundError):
    code = "unknown_topup"


class InvalidTopUpNumber(RefundError):
    code = "invalid_topup_number"


class PaidOut(RefundError):
    code = "refund_paid_out"


class RefundState(StrEnum):
    REQUESTED = "requested"  # waiting for staff; its money is held on the SIM
    APPROVED = "approved"  # owed to the payer; to be sent through the provider
    PROCESSING = "processing"  # the provider took it, has not paid it out yet
    PAID = "paid"
    REFUSED = "refused"  # by staff: the hold is released
    FAILED = "failed"  # the provider refused it for good: the money is back on the SIM


TRANSITIONS: dict[RefundState, frozenset[RefundState]] = {
    RefundState.REQUESTED: frozenset({RefundState.APPROVED, RefundState.REFUSED}),
    RefundState.APPROVED: frozenset({RefundState.PROCESSING, RefundState.PAID, RefundState.FAILED}),
    RefundState.PROCESSING: frozenset({RefundState.APPROVED, RefundState.PAID, RefundState.FAILED}),
    RefundState.PAID: frozenset(),
    RefundState.REFUSED: frozenset(),
    RefundState.FAILED: frozenset(),
}
OPEN = frozenset({RefundState.REQUESTED, RefundState.APPROVED, RefundState.PROCESSING})


def sources(target: RefundState) -> frozenset[RefundState]:
    """The states a refund may move to ``target`` from."""
    return frozenset(state for state, targets in TRANSITIONS.items() if target in targets)


class Reason(StrEnum):
    WRONG_NUMBER = "wrong_number"  # topped up a number that is not the payer's
    NOT_NEEDED = "not_needed"  # the credit is not wanted any more
    CHARGED_TWICE = "charged_twice"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What a refund of one order is worked out from, read in one transaction."""

    credit: Money  # what the order credited, in the SIM's currency
    pay: Money  # what the payer paid
    taken_before: Money  # left the SIM for earlier refunds of the order (with deductions)
    deducted_before: Money  # of that, bonus used, deducted
    paid_back_before: Money  # what earlier refunds paid back, in the currency paid
    balance: Money  # the SIM's spendable balance now
    bonus_granted: Money  # bonus money of the order's promotions, not taken back yet
    bonus_left: Money  # of that, still unused
    credited_at: datetime


@dataclass(frozen=True, slots=True)
class Amounts:
    """One refund's money."""

    taken: Money  # leaves the SIM's balance
    deducted: Money  # of it, bonus money that was used: back to the promotion expense
    bonus_back: Money  # unused bonus money taken back from the bonus account
    pay: Money  # what goes back to the payer, in the currency paid
    full: bool  # nothing of the order is left to refund after this one

    @property
    def credit(self) -> Money:
        """What is refunded, in the SIM's currency."""
        return self.taken - self.deducted


def refundable(facts: OrderFacts, asked: Money | None = None) -> Amounts:
    """The refund of ``asked`` (in the SIM's currency), or of all that can go back."""
    currency = facts.credit.currency
    rest = facts.credit - facts.taken_before
    if rest.minor <= 0:
        raise NothingToRefund("this top-up was refunded in full already")
    used_bonus = facts.bonus_granted - facts.bonus_left
    most = min(rest.minor, max(facts.balance.minor, 0)) - used_bonus.minor
    if most <= 0:
        raise NothingToRefund("nothing of this top-up is left unused on the SIM")
    if asked is not None and asked.currency != currency:
        raise AboveRefundable(f"a refund of this top-up is in {currency}")
    credit = most if asked is None else asked.minor
    if not 0 < credit <= most:
        raise AboveRefundable(f"at most {Money(most, currency)} can be refunded")
    taken = Money(credit + used_bonus.minor, currency)
    full = taken == rest
    pay = _pay_back(facts, Money(credit, currency), used_bonus, full=full)
    if pay.minor <= 0:
        raise NothingToRefund("this amount is too small to pay back")
    return Amounts(taken, used_bonus, facts.bonus_left, pay, full)


def _pay_back(facts: OrderFacts, credit: Money, deducted: Money, *, full: bool) -> Money:
    """``credit`` in the currency paid: pro rata at the order's rate, rounded down; the
    refund that empties the order pays what is left of the payment less every deduction."""
    if facts.pay.currency == facts.credit.currency:
        return credit
    if full:
        deductions = facts.deducted_before.minor + deducted.minor
        kept = deductions * facts.pay.minor // facts.credit.minor
        return facts.pay - facts.paid_back_before - Money(kept, facts.pay.currency)
    return Money(credit.minor * facts.pay.minor // facts.credit.minor, facts.pay.currency)


@dataclass(frozen=True, slots=True)
class AutoRule:
    """Which requests are approved without staff (settings)."""

    max_credit: int  # minor units of the SIM's currency; 0 switches the rule off
    within: timedelta  # of the top-up's credit


def auto_approves(
    rule: AutoRule, *, reason: Reason, amounts: Amounts, facts: OrderFacts, now: datetime
) -> bool:
    """A wrong-number top-up, untouched, small enough and asked for soon enough."""
    untouched = amounts.full and facts.taken_before.is_zero() and amounts.deducted.is_zero()
    return (
        reason is Reason.WRONG_NUMBER
        and untouched
        and amounts.credit.minor <= rule.max_credit
        and now - facts.credited_at <= rule.within
    )


def refund_number(now: datetime) -> str:
    """A new refund's number: ``F``, the Hong Kong date, 12 random hex digits (the provider
    refund id every retry reuses; letters and digits only, as every provider takes)."""
    return f"F{in_hong_kong(now):%y%m%d}{secrets.token_hex(6).upper()}"


def check_note(note: str) -> str:
    """A reason's free text: trimmed, at most ``NOTE_CHARS`` characters."""
    note = note.strip()
    if len(note) > NOTE_CHARS:
        raise RefundError(f"write at most {NOTE_CHARS} characters")
    return note


def check_topup_number(text: str) -> str:
    """A top-up's receipt number (``R…``) or order number (``T…``) as printed on its
    receipt, spaces and case forgiven."""
    typed = "".join(text[:64].split()).upper()
    if not _TOPUP_NUMBER.fullmatch(typed):
        raise InvalidTopUpNumber(
            "type the receipt number (R and 16 digits) or the order number (T and 18 digits)"
        )
    return typed


def way_back(paid_with: Payment, payer: Payer) -> Payer:
    """How a refund of an outlet top-up goes back at the counter: as it was paid."""
    if payer.payment is not paid_with:
        if paid_with is Payment.CARD:
            raise InvalidPayment(
                "this top-up was paid by card: refund it to the card", field="payment"
            )
        raise InvalidPayment("this top-up was paid in cash: refund it in cash", field="payment")
    return payer


def commission_back(*, sale: Money, earned: Money, paid_before: Money, pay: Money) -> Money:
    """What a refund paying back ``pay`` of a sale takes back of the ``earned`` commission,
    after refunds that paid back ``paid_before``: pro rata, rounded down on the total."""

    def share(paid: int) -> int:
        return earned.minor * paid // sale.minor

    back = share(paid_before.minor + pay.minor) - share(paid_before.minor)
    return Money(back, earned.currency)


def counter_fingerprint(
    *, topup: str, reason: Reason, asked_minor: int | None, payer: Payer
) -> str:
    """What tells a replayed refund at the counter from another one sent with the same key."""
    return request_hash(
        {
            "topup": topup,
            "reason": reason.value,
            "asked": asked_minor,
            "payment": payer.payment.value,
            "terminal_ref": payer.terminal_ref,
        }
    )
