"""What differs between WeChat Pay's v3 APIs, as data, and the reading of their payment
objects into ours.

Design overview
---------------
The Mainland API and the global one of WeChat Pay HK sign, encrypt and answer alike; they
differ in paths, currency and a field name. A ``V3Api`` says those (``MAINLAND`` here, the
global one in ``wechatpay_global``), and the adapter (``WeChatPayAdapter``) and the
simulator (``simulators.wechatpay``) both read it. ``verified_payment`` and
``queried_trade`` turn a decrypted ``TRANSACTION.SUCCESS`` resource or a query's answer into
ours, taking the merchant's money — ``amount.total`` in ``amount.currency``, integer minor
units — and never what a payer's wallet paid in another currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simkeep.money import InvalidAmount, Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import (
    NotificationRejected,
    ProviderError,
    ProviderTrade,
    TradeStatus,
    VerifiedNotification,
)

TRADE_STATES = {
    "SUCCESS": TradeStatus.PAID,
    "REFUND": TradeStatus.CLOSED,
    "CLOSED": TradeStatus.CLOSED,
    "REVOKED": TradeStatus.CLOSED,
    "NOTPAY": TradeStatus.UNPAID,
    "USERPAYING": TradeStatus.UNPAID,
    "PAYERROR": TradeStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class V3Api:
    """One WeChat Pay v3 API as data: who it is, what it charges in, where its trades live."""

    provider: Provider
    name: str
    currency: str
    transactions: str  # the path under which orders are placed, queried and closed
    starts: Mapping[Channel, tuple[str, str]]  # channel → (endpoint, field of the answer)
    transaction_id: str  # the field that carries WeChat Pay's own transaction number
    implied_currency: str | None  # what an amount without ``currency`` is in, if anything


MAINLAND = V3Api(
    provider=Provider.WECHATPAY,
    name="WeChat Pay",
    currency="CNY",
    transactions="/v3/pay/transactions",
    starts={Channel.QR: ("native", "code_url"), Channel.WAP: ("h5", "h5_url")},
    transaction_id="transaction_id",
    implied_currency="CNY",
)


def merchant_money(amount: object, implied_currency: str | None) -> Money:
    """The merchant's money: ``total`` in ``currency`` — never what the payer paid in."""
    if not isinstance(amount, dict):
        raise NotificationRejected("malformed", "amount is missing")
    total, currency = amount.get("total"), amount.get("currency", implied_currency)
    if isinstance(total, bool) or not isinstance(total, int) or not isinstance(currency, str):
        raise NotificationRejected("malformed", "amount.total must be integer minor units")
    try:
        return Money(total, currency)
    except InvalidAmount as error:
        raise NotificationRejected("malformed", str(error)) from error


def rfc3339_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise NotificationRejected("malformed", f"{text!r} is not an RFC 3339 time") from error
    if parsed.tzinfo is None:
        raise NotificationRejected("malformed", f"{text!r} has no offset")
    return parsed


def verified_payment(
    event: dict[str, Any], payment: dict[str, Any], api: V3Api
) -> VerifiedNotification:
    texts = [event.get("id"), payment.get("out_trade_no"), payment.get(api.transaction_id)]
    if not all(isinstance(value, str) and value for value in texts):
        raise NotificationRejected(
            "malformed", f"id, out_trade_no or the payment's {api.transaction_id} is missing"
        )
    return VerifiedNotification(
        provider=api.provider,
        notification_id=str(texts[0]),
        out_trade_no=str(texts[1]),
        status=TradeStatus.PAID,
        amount=merchant_money(payment.get("amount"), api.implied_currency),
        merchant_id=str(payment["mchid"]),
        app_id=str(payment["appid"]),
        provider_trade_no=str(texts[2]),
        paid_at=rfc3339_time(payment.get("success_time")),
        raw={**event, "resource": payment},
    )


def queried_trade(out_trade_no: str, answer: dict[str, Any], api: V3Api) -> ProviderTrade:
    state = answer.get("trade_state")
    if not isinstance(state, str) or state not in TRADE_STATES:
        raise ProviderError(f"WeChat Pay answered an unknown trade_state {state!r}")
    try:
        amount = (
            merchant_money(answer["amount"], api.implied_currency) if "amount" in answer else None
        )
        paid_at = rfc3339_time(answer.get("success_time"))
    except NotificationRejected as error:
        raise ProviderError(f"WeChat Pay answered a malformed trade: {error}") from error
    transaction_id = answer.get(api.transaction_id)
    return ProviderTrade(
        out_trade_no=out_trade_no,
        status=TRADE_STATES[state],
        amount=amount,
        provider_trade_no=transaction_id if isinstance(transaction_id, str) else None,
        paid_at=paid_at,
    )
