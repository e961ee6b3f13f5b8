"""What differs between WeChat Pay's v3 APIs, as data, and the reading of their payment
objects into ours.

Design overview
---------------
The Mainland API and the global one of WeChat Pay HK sign, encrypt and answer alike; they
differ in paths, currency and a few field names. A ``V3Api`` says those (``MAINLAND`` here,
the global one in ``wechatpay_global``), and the adapter (``WeChatPayAdapter``) and the
simulator (``simulators.wechatpay``) both read it. ``verified_payment`` and
``queried_trade`` turn a decrypted ``TRANSACTION.SUCCESS`` resource or a query's answer into
ours, taking the merchant's money — ``amount.total`` in ``amount.currency``, integer minor
units — and never what a payer's wallet paid in another currency.

A refunded trade's ``trade_state`` is ``REFUND`` (转入退款), partial or full: the payer did
pay, so it reads as PAID — what went back is the refunds' business, never the payment's.
``queried_refund`` reads one refund (``amount.refund``): SUCCESS is SUCCEEDED, PROCESSING is
PROCESSING, CLOSED and ABNORMAL are FAILED.
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
    ProviderRefund,
    ProviderTrade,
    RefundNotification,
    RefundStatus,
    TradeStatus,
    VerifiedNotification,
)

TRADE_STATES = {
    "SUCCESS": TradeStatus.PAID,
    "REFUND": TradeStatus.PAID,  # paid, then (partly or wholly) refunded: the money did come
    "CLOSED": TradeStatus.CLOSED,
    "REVOKED": TradeStatus.CLOSED,
    "NOTPAY": TradeStatus.UNPAID,
    "USERPAYING": TradeStatus.UNPAID,
    "PAYERROR": TradeStatus.FAILED,
}
REFUND_STATES = {
    "SUCCESS": RefundStatus.SUCCEEDED,
    "PROCESSING": RefundStatus.PROCESSING,
    "CLOSED": RefundStatus.FAILED,
    "ABNORMAL": RefundStatus.FAILED,  # the payer's card refused it: nothing went back
}
UNKNOWN_REFUND = "unknown"  # the reason of a refund WeChat Pay does not know


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
    refunds: str  # where refunds are asked for
    refund_by_no: str  # one refund, by ``{out_refund_no}``
    refund_id: str  # the field that carries WeChat Pay's own refund number
    merchant_in_refunds: bool  # refunds name mchid/appid (body) and mchid (query)
    bills: str  # where the day's bill is asked for
    # True: that answers where to download the gzip and its SHA-1 (Mainland); False: it
    # answers the file itself, its SHA-1 in a signed header (global statements)
    bill_download: bool

    def refund_path(self, out_refund_no: str, mchid: str) -> str:
        """Where one refund is asked about, by our number."""
        path = self.refund_by_no.format(out_refund_no=out_refund_no)
        return f"{path}?mchid={mchid}" if self.merchant_in_refunds else path


MAINLAND = V3Api(
    provider=Provider.WECHATPAY,
    name="WeChat Pay",
    currency="CNY",
    transactions="/v3/pay/transactions",
    starts={Channel.QR: ("native", "code_url"), Channel.WAP: ("h5", "h5_url")},
    transaction_id="transaction_id",
    implied_currency="CNY",
    refunds="/v3/refund/domestic/refunds",
    refund_by_no="/v3/refund/domestic/refunds/{out_refund_no}",
    refund_id="refund_id",
    merchant_in_refunds=False,
    bills="/v3/bill/tradebill",
    bill_download=True,
)


def merchant_money(amount: object, implied_currency: str | None, *, part: str = "total") -> Money:
    """The merchant's money: ``part`` (``total``, a refund's ``refund``) in ``currency`` —
    never what the payer paid in."""
    if not isinstance(amount, dict):
        raise NotificationRejected("malformed", "amount is missing")
    total, currency = amount.get(part), amount.get("currency", implied_currency)
    if isinstance(total, bool) or not isinstance(total, int) or not isinstance(currency, str):
        raise NotificationRejected("malformed", f"amount.{part} must be integer minor units")
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


def notified_refund(
    event: Mapping[str, Any], resource: dict[str, Any], api: V3Api
) -> RefundNotification:
    """A ``REFUND.*`` notification's decrypted resource (its ``refund_status``) as ours."""
    out_refund_no, notification_id = resource.get("out_refund_no"), event.get("id")
    if not isinstance(out_refund_no, str) or not isinstance(notification_id, str):
        raise NotificationRejected("malformed", "a refund notification names its refund and id")
    try:
        refund = queried_refund(
            out_refund_no, {**resource, "status": resource.get("refund_status")}, api
        )
    except ProviderError as error:
        raise NotificationRejected("malformed", str(error)) from error
    return RefundNotification(
        provider=api.provider,
        notification_id=notification_id,
        out_trade_no=str(resource.get("out_trade_no", "")),
        refund=refund,
    )


def queried_refund(out_refund_no: str, answer: dict[str, Any], api: V3Api) -> ProviderRefund:
    """A refund's answer (asked for or queried) as ours; one about another refund is an error."""
    if answer.get("out_refund_no") != out_refund_no:
        raise ProviderError(f"WeChat Pay answered about another refund than {out_refund_no}")
    # An accepted refund whose answer states no status yet (the global API's answer to the
    # request itself may not) is in process: its query tells the outcome.
    state = answer.get("status", "PROCESSING")
    if not isinstance(state, str) or state not in REFUND_STATES:
        raise ProviderError(f"WeChat Pay answered an unknown refund status {state!r}")
    try:
        amount = (
            merchant_money(answer["amount"], api.implied_currency, part="refund")
            if "amount" in answer
            else None
        )
        refunded_at = rfc3339_time(answer.get("success_time")) if state == "SUCCESS" else None
    except NotificationRejected as error:
        raise ProviderError(f"WeChat Pay answered a malformed refund: {error}") from error
    refund_id = answer.get(api.refund_id)
    status = REFUND_STATES[state]
    return ProviderRefund(
        out_refund_no=out_refund_no,
        status=status,
        amount=amount,
        provider_refund_no=refund_id if isinstance(refund_id, str) and refund_id else None,
        refunded_at=refunded_at,
        reason=state if status is RefundStatus.FAILED else None,
    )
