"""Alipay (classic ``gateway.do`` protocol), merchant side.

Design overview
---------------
``AlipayAdapter`` implements ``PaymentProviderAdapter`` over an injected ``httpx.AsyncClient``
and ``Clock``, talking through an ``AlipayGateway`` (``alipay_gateway``: every call signed
RSA2 and its answer believed only once Alipay's signature verifies over it as received).
Page and mobile-web payments need no call: the payer is redirected to a signed gateway URL.

Notifications are verified over the URL-decoded fields minus ``sign`` and ``sign_type`` with
the Alipay public key, then checked for our ``app_id``/``seller_id``; amounts are parsed as
CNY decimals, never floats.

A refund is ``alipay.trade.refund`` numbered by our ``out_refund_no`` (Alipay's
``out_request_no``), so a retry answers with the refund already made (``fund_change=N``)
instead of paying twice; ``N`` is confirmed with ``alipay.trade.fastpay.refund.query``, as
Alipay advises. Only a signed ``40004`` business refusal is definitive (``FAILED``, with its
``sub_code``); anything else — no answer, an unsigned or unverifiable one, a system error —
raises ``ProviderError`` so that the same refund is asked for again.

The day's trade bill is ``alipay.data.dataservice.bill.downloadurl.query`` (``bill_type=trade``),
whose signed answer names a ``bill_download_url``; the zip it gives is unsigned, so it is
believed only once its own totals add up (``payments.bills.alipay``). ``isp.bill_not_exist``
is Alipay's "no bill for that day (yet)": ``BillNotReady``, asked again later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from simkeep.clock import Clock
from simkeep.money import InvalidAmount, Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.bills import alipay as alipay_bill
from simkeep.payments.model import (
    Acknowledgement,
    NotificationRejected,
    PaymentRequest,
    PaymentStart,
    ProviderError,
    ProviderRefund,
    ProviderTrade,
    RawNotification,
    RefundRequest,
    RefundStatus,
    TradeStatus,
    VerifiedNotification,
)
from simkeep.payments.providers.alipay_gateway import AlipayError, AlipayGateway
from simkeep.payments.providers.alipay_signing import (
    CURRENCY,
    amount_text,
    beijing_time,
    optional_beijing_time,
    parse_beijing_time,
    yuan,
)
from simkeep.reconciliation.bill import Bill, BillNotReady

TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
TRADE_STATUS_ERROR = "ACQ.TRADE_STATUS_ERROR"
BUSINESS_FAILED = "40004"
# Refused for now, not for good: Alipay's remedy for both is asking again, unchanged (a
# discordant repeat means a refund with that number exists — it must not read as "none").
REFUND_RETRY_CODES = frozenset({"ACQ.SYSTEM_ERROR", "ACQ.DISCORDANT_REPEAT_REQUEST"})
# The refund query's own code for an unknown trade has no ``ACQ.`` prefix.
REFUND_TRADE_UNKNOWN = frozenset({"TRADE_NOT_EXIST", TRADE_NOT_EXIST})
REFUND_SUCCESS = "REFUND_SUCCESS"
UNKNOWN_REFUND = "unknown"
BILL_METHOD = "alipay.data.dataservice.bill.downloadurl.query"
BILL_NOT_EXIST = "isp.bill_not_exist"
TRADE_STATUSES = {
    "WAIT_BUYER_PAY": TradeStatus.UNPAID,
    "TRADE_SUCCESS": TradeStatus.PAID,
    "TRADE_FINISHED": TradeStatus.PAID,
    "TRADE_CLOSED": TradeStatus.CLOSED,
}
NOTIFIED_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"})
REQUIRED_NOTIFICATION_FIELDS = (
    "notify_id",
    "app_id",
    "seller_id",
    "out_trade_no",
    "trade_no",
    "trade_status",
    "total_amount",
)
REDIRECT_METHODS = {
    Channel.PAGE: ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    Channel.WAP: ("alipay.trade.wap.pay", "QUICK_WAP_WAY"),
}


@dataclass(frozen=True, slots=True)
class AlipayConfig:
    app_id: str
    seller_id: str
    app_private_key_pem: bytes | str
    alipay_public_key_pem: bytes | str
    gateway_url: str


class AlipayAdapter:
    """The merchant half of Alipay: start, query, close and refund trades, verify
    notifications."""

    provider = Provider.ALIPAY
    currencies = frozenset({CURRENCY})

    def __init__(self, *, config: AlipayConfig, http: httpx.AsyncClient, clock: Clock) -> None:
        self._config = config
        self._gateway = AlipayGateway(config=config, http=http, clock=clock)

    def signs_locally(self, channel: Channel) -> bool:
        """Page and WAP payment are a signed link to Alipay's cashier; QR asks Alipay."""
        return channel in REDIRECT_METHODS

    async def start(self, request: PaymentRequest) -> PaymentStart:
        """QR: precreate the trade and return its ``qr_code``; page/WAP: a signed URL."""
        biz = {
            "out_trade_no": request.out_trade_no,
            "total_amount": yuan(request.amount),
            "subject": request.subject,
            "time_expire": beijing_time(request.expires_at),
        }
        extra = {"notify_url": request.notify_url, "return_url": request.return_url or ""}
        if request.channel is Channel.QR:
            biz["product_code"] = "FACE_TO_FACE_PAYMENT"
            answer = await self._gateway.call("alipay.trade.precreate", biz, extra=extra)
            return PaymentStart(qr_payload=_required(answer, "qr_code"))
        method, product_code = REDIRECT_METHODS[request.channel]
        biz["product_code"] = product_code
        return PaymentStart(redirect_url=self._gateway.link(method, biz, extra=extra))

    async def query(self, out_trade_no: str) -> ProviderTrade:
        """``alipay.trade.query``; a trade Alipay does not know yet is UNPAID."""
        try:
            answer = await self._gateway.call("alipay.trade.query", {"out_trade_no": out_trade_no})
        except AlipayError as error:
            if error.sub_code == TRADE_NOT_EXIST:
                return ProviderTrade(out_trade_no=out_trade_no, status=TradeStatus.UNPAID)
            raise
        status = TRADE_STATUSES.get(_required(answer, "trade_status"))
        if status is None:
            raise ProviderError(f"unknown Alipay trade_status {answer['trade_status']!r}")
        paid_at = answer.get("send_pay_date")
        return ProviderTrade(
            out_trade_no=out_trade_no,
            status=status,
            amount=_money(_required(answer, "total_amount")),
            provider_trade_no=answer.get("trade_no"),
            paid_at=parse_beijing_time(paid_at) if paid_at else None,
        )

    async def close(self, out_trade_no: str) -> None:
        """``alipay.trade.close``; a trade Alipay never saw needs no closing, and one Alipay
        closed itself at its ``time_expire`` (refused as ``ACQ.TRADE_STATUS_ERROR``, like a
        paid one) is closed already — the query tells the two apart."""
        try:
            await self._gateway.call("alipay.trade.close", {"out_trade_no": out_trade_no})
        except AlipayError as error:
            if error.sub_code == TRADE_NOT_EXIST:
                return
            if error.sub_code == TRADE_STATUS_ERROR:
                trade = await self.query(out_trade_no)
                if trade.status is TradeStatus.CLOSED:
                    return
            raise

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """``alipay.trade.refund``: ``fund_change=Y`` is this refund paid now; ``N`` is one
        made before (a retry), which the refund query confirms."""
        biz = {
            "out_trade_no": request.out_trade_no,
            "refund_amount": amount_text(request.amount),
            "out_request_no": request.out_refund_no,
            "refund_reason": request.reason,
        }
        if request.amount.currency != CURRENCY:  # asked as such, so that Alipay says no
            biz["refund_currency"] = request.amount.currency
        try:
            answer = await self._gateway.call("alipay.trade.refund", biz)
        except AlipayError as error:
            if not _refused_for_good(error):
                raise
            reason = f"{error.sub_code}: {error.message}"
            return _refund(request, RefundStatus.FAILED, reason=reason)
        if answer.get("fund_change") != "Y":
            confirmed = await self.query_refund(request)
            if confirmed.status is RefundStatus.FAILED:  # accepted, not yet to be seen
                return _refund(request, RefundStatus.PROCESSING)
            return confirmed
        refunded_at = optional_beijing_time(answer.get("gmt_refund_pay"))
        return _refund(request, RefundStatus.SUCCEEDED, request.amount, refunded_at)

    async def query_refund(self, request: RefundRequest) -> ProviderRefund:
        """``alipay.trade.fastpay.refund.query``: an answer without ``refund_amount`` is a
        refund Alipay does not know; one with it is done (``refund_status`` is
        ``REFUND_SUCCESS``, or left out by older merchant setups)."""
        biz = {
            "out_trade_no": request.out_trade_no,
            "out_request_no": request.out_refund_no,
            "query_options": ["gmt_refund_pay"],
        }
        try:
            answer = await self._gateway.call("alipay.trade.fastpay.refund.query", biz)
        except AlipayError as error:
            if error.signed and error.sub_code in REFUND_TRADE_UNKNOWN:
                return _refund(request, RefundStatus.FAILED, reason=UNKNOWN_REFUND)
            raise
        if not answer.get("refund_amount"):
            return _refund(request, RefundStatus.FAILED, reason=UNKNOWN_REFUND)
        status = answer.get("refund_status") or REFUND_SUCCESS
        if status != REFUND_SUCCESS:
            raise ProviderError(f"unknown Alipay refund_status {status!r}")
        amount = _money(_required(answer, "refund_amount"))
        refunded_at = optional_beijing_time(answer.get("gmt_refund_pay"))
        return _refund(request, RefundStatus.SUCCEEDED, amount, refunded_at)

    async def bill(self, day: date) -> Bill:
        """The trade bill of a Beijing day: its download URL asked for (signed both ways),
        the zip fetched and read; ``BillNotReady`` while Alipay has none."""
        biz = {"bill_type": "trade", "bill_date": day.isoformat()}
        try:
            answer = await self._gateway.call(BILL_METHOD, biz)
        except AlipayError as error:
            if error.signed and error.sub_code == BILL_NOT_EXIST:
                raise BillNotReady(f"Alipay has no bill of {day} yet") from error
            raise
        data = await self._gateway.download_bill(_required(answer, "bill_download_url"))
        return alipay_bill.parse(data, day=day)

    def verify_notification(self, raw: RawNotification, *, now: datetime) -> VerifiedNotification:
        """RSA2 over the decoded fields minus ``sign``/``sign_type``, then merchant and shape.

        Alipay notifications carry no freshness window (retries span 25 h with one
        ``notify_id``), so ``now`` is not needed: idempotency is the caller's defence.
        """
        fields = self._gateway.notification(raw)
        missing = [name for name in REQUIRED_NOTIFICATION_FIELDS if not fields.get(name)]
        if missing:
            raise NotificationRejected("malformed", f"missing fields: {', '.join(missing)}")
        if (fields["app_id"], fields["seller_id"]) != (self._config.app_id, self._config.seller_id):
            raise NotificationRejected("wrong_merchant", "app_id or seller_id is not ours")
        return _verified(fields)

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        """Alipay wants the bare text ``success``; anything else means "send it again"."""
        return Acknowledgement(status=200, body=b"success" if accepted else b"fail")


def _verified(fields: Mapping[str, str]) -> VerifiedNotification:
    trade_status = fields["trade_status"]
    if trade_status not in NOTIFIED_STATUSES:
        raise NotificationRejected("unexpected_status", f"trade_status {trade_status!r}")
    try:
        amount = _money(fields["total_amount"])
        paid_at = parse_beijing_time(fields["gmt_payment"]) if fields.get("gmt_payment") else None
    except (ProviderError, ValueError) as error:
        raise NotificationRejected("malformed", str(error)) from error
    return VerifiedNotification(
        provider=Provider.ALIPAY,
        notification_id=fields["notify_id"],
        out_trade_no=fields["out_trade_no"],
        status=TRADE_STATUSES[trade_status],
        amount=amount,
        merchant_id=fields["seller_id"],
        app_id=fields["app_id"],
        provider_trade_no=fields["trade_no"],
        paid_at=paid_at,
        raw=dict(fields),
    )


def _refund(
    request: RefundRequest,
    status: RefundStatus,
    amount: Money | None = None,
    refunded_at: datetime | None = None,
    *,
    reason: str | None = None,
) -> ProviderRefund:
    # Alipay numbers a refund by our out_request_no only: there is no refund id of its own.
    return ProviderRefund(
        out_refund_no=request.out_refund_no,
        status=status,
        amount=amount,
        refunded_at=refunded_at,
        reason=reason,
    )


def _refused_for_good(error: AlipayError) -> bool:
    return (
        error.signed and error.code == BUSINESS_FAILED and error.sub_code not in REFUND_RETRY_CODES
    )


def _money(text: str) -> Money:
    try:
        return Money.parse(text, CURRENCY)
    except InvalidAmount as error:
        raise ProviderError(f"bad Alipay amount {text!r}") from error


def _required(answer: Mapping[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"the Alipay response has no {name}")
    return value
