"""Alipay simulator's records: trades and their refunds (each with the fee Alipay charges or
gives back), notifications and their attempts, faults, the notifier's HTTP delivery, and the
retry ladder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx

from simkeep.money import Money

RETRY_DELAYS = tuple(
    timedelta(minutes=minutes) for minutes in (4, 10, 10, 60, 120, 360, 900)
)  # after the immediate first attempt: 8 notifications within about 25 h
DEMO_PASSWORD = "123456"  # noqa: S105 - printed on the demo cashier, never checked
CASHIER_METHODS = frozenset({"alipay.trade.page.pay", "alipay.trade.wap.pay"})
TAMPER_BY = Money.parse("100.00", "CNY")

Deliver = Callable[[str, Mapping[str, str]], Awaitable[str]]
Handler = Callable[[Mapping[str, str], dict[str, Any]], dict[str, str]]
Redirect = Callable[[Mapping[str, str], dict[str, Any]], str]  # a page method: where to go


async def http_deliver(url: str, form: Mapping[str, str]) -> str:
    """POST the notification form to the merchant and return the body it answered."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.post(url, data=dict(form))
    return response.text


class AlipayFault(StrEnum):
    DROP = "drop"  # the notification is never sent
    DUPLICATE = "duplicate"  # every attempt is sent twice
    BAD_SIGNATURE = "bad_signature"  # signed over other content
    TAMPERED_AMOUNT = "tampered_amount"  # total_amount raised after signing
    SELLER_BALANCE_NOT_ENOUGH = "seller_balance_not_enough"  # refunds refused: no funds


class TradeNotFound(LookupError):
    """No trade with that ``out_trade_no``."""


class TradeStateError(ValueError):
    """The trade is not waiting for payment."""


@dataclass(frozen=True, slots=True)
class SimRefund:
    """One refund of a trade, known by the merchant's ``out_request_no``."""

    out_request_no: str
    amount: Money
    reason: str
    refunded_at: datetime
    fee_back: Money  # what of the trade's fee this refund gives back to the merchant


@dataclass
class SimTrade:
    out_trade_no: str
    trade_no: str
    amount: Money
    subject: str
    notify_url: str
    return_url: str
    created_at: datetime
    opened: bool
    time_expire: datetime | None = None
    status: str = "WAIT_BUYER_PAY"
    paid_at: datetime | None = None
    fee: Money | None = None  # what Alipay charges the merchant, once paid
    refunds: dict[str, SimRefund] = field(default_factory=dict)  # by out_request_no, in order

    @property
    def refunded(self) -> Money:
        """What all the refunds of this trade paid back together (Alipay's ``refund_fee``)."""
        return sum((r.amount for r in self.refunds.values()), Money.zero(self.amount.currency))

    @property
    def fee_given_back(self) -> Money:
        """What of the fee its refunds gave back together."""
        zero = Money.zero(self.amount.currency)
        return sum((r.fee_back for r in self.refunds.values()), zero)


@dataclass
class Delivery:
    """One notification and its attempts; ``next_due`` is None once answered or given up."""

    url: str
    form: dict[str, str]
    next_due: datetime | None
    copies: int = 1
    attempts: int = 0
    answers: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return "success" in self.answers


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    """Either signed JSON text or a trade whose cashier page should be shown."""

    json_text: str | None = None
    cashier_trade: SimTrade | None = None
    redirect_url: str | None = None
