"""UnionPay simulator's records: trades and their state machine, the test cards, faults,
notifications and their attempts, refusals, and the retry schedule.

Design overview
---------------
A trade is one consume, found by ``(orderId, txnTime)`` for the merchant and by its
``queryId`` on the cashier. It moves only along ``TRANSITIONS``:

* ``AWAITING`` — opened by the browser's form, not paid yet (query: ``origRespCode`` 05);
* ``SMS_SENT`` — a card that asks an SMS code took the password, the code is awaited (05);
* ``DECLINED`` — the last card was declined; the payer may try another (its code, e.g. 51);
* ``PAID`` — final (00); ``EXPIRED`` — ``payTimeout`` passed unpaid, final (01).

A paid trade carries the fee UnionPay charges the merchant for it, and what its refunds
gave back of that fee (``bill_rules``).

The test cards (Luhn-valid, printed on the cashier page) decide the outcome: one pays, one
is declined for insufficient funds, one asks an SMS code first. Any other valid number is an
unknown card (``61``). The payment password and the SMS code are printed there too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from simkeep.simulators import delivery

# Seconds before each attempt: at once, then after 1, 2, 4 … 512 minutes (about 17 hours).
RETRY_SCHEDULE_SECONDS = (0, *(60 * 2**n for n in range(10)))
PASSWORD = "123456"  # noqa: S105 - printed on the cashier page on purpose
SMS_CODE = "111111"
GOOD_CARD, DECLINED_CARD, SMS_CARD = (
    "6216610000000000016",
    "6216610000000000024",
    "6216610000000000032",
)
DECLINE = ("51", "余额不足 Insufficient funds")
UNKNOWN_CARD = ("61", "无效卡号 Unknown card")


class TradeState(StrEnum):
    AWAITING = "AWAITING"
    SMS_SENT = "SMS_SENT"
    DECLINED = "DECLINED"
    PAID = "PAID"
    EXPIRED = "EXPIRED"


TRANSITIONS: dict[TradeState, frozenset[TradeState]] = {
    TradeState.AWAITING: frozenset(
        {TradeState.SMS_SENT, TradeState.DECLINED, TradeState.PAID, TradeState.EXPIRED}
    ),
    TradeState.SMS_SENT: frozenset(
        {TradeState.SMS_SENT, TradeState.DECLINED, TradeState.PAID, TradeState.EXPIRED}
    ),
    TradeState.DECLINED: frozenset(
        {TradeState.SMS_SENT, TradeState.DECLINED, TradeState.PAID, TradeState.EXPIRED}
    ),
    TradeState.PAID: frozenset(),
    TradeState.EXPIRED: frozenset(),
}
ORIG_RESP_CODES = {
    TradeState.AWAITING: "05",
    TradeState.SMS_SENT: "05",
    TradeState.PAID: "00",
    TradeState.EXPIRED: "01",
}


class GatewayRefusal(Exception):
    """The gateway refuses a request: ACP ``respCode`` and ``respMsg``."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class CashierRefusal(Exception):
    """What the payer typed cannot pay: the cashier shows ``message`` again with the form."""


@dataclass(slots=True)
class Faults:
    """Notification faults, settable per simulator."""

    drop: bool = False
    duplicate: bool = False
    bad_signature: bool = False
    tampered_amount: bool = False
    stale_timestamp: bool = False
    self_signed_cert: bool = False


@dataclass(slots=True)
class SimTrade:
    order_id: str
    txn_time: str
    query_id: str
    amount: int
    currency_code: str
    channel_type: str
    front_url: str
    back_url: str
    pay_timeout: datetime
    state: TradeState = TradeState.AWAITING
    decline: tuple[str, str] | None = None
    card: str = ""  # the card being paid with, while an SMS code is awaited
    acc_no: str = ""  # masked, once paid
    trace_no: str = ""
    trace_time: str = ""
    settle_date: str = ""
    paid_at: datetime | None = None
    fee: int = 0  # what UnionPay charges the merchant for it, once paid (minor units)
    refunded: int = 0  # minor units taken back by refunds so far
    fee_refunded: int = 0  # what of the fee those refunds gave back

    def move(self, to: TradeState) -> None:
        """Take one transition of ``TRANSITIONS``; anything else is refused."""
        if to not in TRANSITIONS[self.state]:
            raise GatewayRefusal("35", f"the trade is {self.state.value}, it cannot be {to.value}")
        self.state = to

    @property
    def orig_resp_code(self) -> str:
        if self.state is TradeState.DECLINED and self.decline is not None:
            return self.decline[0]
        return ORIG_RESP_CODES[self.state]


@dataclass(slots=True)
class Delivery:
    """One trade's back-notification and its attempts (each copy sent is one reply)."""

    query_id: str
    url: str
    next_at: datetime
    attempts: int = 0
    replies: list[delivery.Reply] = field(default_factory=list)
    done: bool = False


def accepted(reply: delivery.Reply) -> bool:
    """Whether the merchant took a back-notification: UnionPay wants HTTP 200."""
    return reply.status == 200


def luhn_valid(number: str) -> bool:
    """The Luhn check every card number carries in its last digit."""
    if not number.isdigit() or not 13 <= len(number) <= 19:
        return False
    total = 0
    for index, digit in enumerate(int(char) for char in reversed(number)):
        doubled = digit * 2 if index % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def masked(card: str) -> str:
    """A card number as UnionPay notifies it: first and last four digits."""
    return f"{card[:4]}****{card[-4:]}"


def digits(count: int) -> str:
    """``count`` random decimal digits, as UnionPay's ids and trace numbers are."""
    return "".join(secrets.choice("0123456789") for _ in range(count))
