"""UnionPay online gateway (全渠道, ACP 5.1.0), merchant side: bank-card payments.

Design overview
---------------
``UnionPayAdapter`` implements ``PaymentProviderAdapter`` over an injected
``httpx.AsyncClient`` and ``Clock``. A consume (``txnType`` 01, ``bizType`` 000201) asks the
gateway nothing: ``start`` signs the form with the merchant key and returns it with the
gateway's ``frontTransReq.do`` URL, and the payer's browser posts it there (``channelType``
07 on a desktop, 08 on a phone). ``payTimeout`` is the order's expiry: the gateway refuses
payment after it, which is why ``close`` asks nothing — UnionPay has no close for an unpaid
consume, and none is needed.

The forms, their signing and the checks of what comes back are ``unionpay_gateway``'s: every
answer and notification is believed only once its ``signPubKeyCert`` chains to the
configured root and middle certificates and the signature verifies with its key, and a
consume's ``txnTime`` comes from the order number (``T<yyyyMMdd><id>``: midnight, Beijing
time, of that day), so that ``query``, given the order number only, finds the trade. A
notification must then be for our ``merId``, a consume, ``respCode`` 00, and fresh: its
``txnTime`` no older than ``FRESHNESS`` (3 days — UnionPay retries for about a day after a
payment, and ``txnTime`` is the start of the order's day) nor ahead of our clock by more
than ``SKEW``. Its id is ``queryId`` + ``respCode``, so a delivery made again is the same
notification. Amounts are integer minor units in ``txnAmt``, in 156 (CNY) or
344 (HKD); which of these the acquirer settles is configuration.

A refund is a back transaction (``backTransReq.do``, 退货: ``txnType`` 04) of the consume's
``queryId`` (``origQryId``), under our refund number as its ``orderId`` (its ``txnTime``
comes from that number: ``unionpay_refunds``). ``respCode`` 00 only means taken: the refund
is PROCESSING until a query says otherwise. The same ``orderId`` again is refused as a
duplicate (``12``), which is answered by asking what became of the first — so a retry never
pays twice. The gateway's other refusals are FAILED with its code; a refund's result comes
by a back-notification to ``notify_url`` too, which this adapter does not read yet.

``bill`` downloads a day's flow file by the file transfer (对账文件下载, ``unionpay_files``)
from ``file_url``, UnionPay's file host; the answer is signed and checked like every other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx

from simkeep.clock import Clock
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.model import (
    Acknowledgement,
    NotificationRejected,
    PaymentRequest,
    PaymentStart,
    ProviderError,
    ProviderRefund,
    ProviderTrade,
    RawNotification,
    RefundNotification,
    RefundRequest,
    RefundStatus,
    TradeStatus,
    VerifiedNotification,
    require_currency,
)
from simkeep.payments.providers.unionpay_files import (
    DEFAULT_FILE_URL,
    bill_from_answer,
    transfer_fields,
)
from simkeep.payments.providers.unionpay_gateway import UnionPayGateway, txn_time_of
from simkeep.payments.providers.unionpay_refunds import (
    IN_PROCESS,
    REFUND_TYPE,
    failed,
    refund_from_query,
    refund_notification,
    refund_txn_time,
    said,
)
from simkeep.payments.providers.unionpay_signing import (
    SUCCESS,
    beijing_time,
    currency_code,
    parse_amount,
    parse_beijing_time,
    parse_form,
    trace_instant,
)
from simkeep.payments.signing import key_file
from simkeep.reconciliation.bill import Bill
from simkeep.settings import Settings

DEFAULT_GATEWAY_URL = "https://gateway.95516.com/gateway/api"
NOTIFY_PATH = "/api/v1/payments/unionpay/notify"
FRONT_PATH, QUERY_PATH, BACK_PATH = "/frontTransReq.do", "/queryTrans.do", "/backTransReq.do"
CHANNEL_TYPES = {Channel.PAGE: "07", Channel.WAP: "08"}
CONSUME = {"txnType": "01", "txnSubType": "01", "bizType": "000201"}
QUERY = {"txnType": "00", "txnSubType": "00", "bizType": "000000"}
REFUND = {"txnType": "04", "txnSubType": "00", "bizType": "000201"}
NO_SUCH_TRADE = "34"
DUPLICATE = "12"  # 重复交易: this orderId was taken before
FRESHNESS = timedelta(days=3)
SKEW = timedelta(minutes=10)
NOTIFICATION_FIELDS = (
    *("merId", "orderId", "queryId", "respCode", "txnType", "txnTime", "txnAmt"),
    "currencyCode",
)


@dataclass(frozen=True, slots=True, repr=False)
class UnionPayConfig:
    """One merchant at UnionPay: its ``merId``, signing key and that key's ``certId``, and
    UnionPay's root and middle certificates; ``notify_url`` is where refunds are notified."""

    mer_id: str
    merchant_private_key_pem: bytes
    cert_id: str
    root_cert_pem: bytes
    middle_cert_pem: bytes
    gateway_url: str = DEFAULT_GATEWAY_URL
    currencies: frozenset[str] = frozenset({"CNY"})
    notify_url: str = ""
    file_url: str = DEFAULT_FILE_URL


class UnionPayAdapter:
    """The merchant half of UnionPay's gateway: signed consume forms, query, refunds,
    notifications."""

    provider = Provider.UNIONPAY

    def __init__(self, *, config: UnionPayConfig, http: httpx.AsyncClient, clock: Clock) -> None:
        for currency in config.currencies:
            currency_code(currency)
        self.currencies = frozenset(config.currencies)
        self._config = config
        self._clock = clock
        self._gateway = UnionPayGateway(config=config, http=http, clock=clock)

    def signs_locally(self, channel: Channel) -> bool:
        """A consume is a form the payer's browser posts: the gateway is asked nothing."""
        return True

    async def start(self, request: PaymentRequest) -> PaymentStart:
        """The signed consume form and the gateway URL the payer's browser posts it to."""
        if request.channel not in CHANNEL_TYPES:
            raise ValueError(f"UnionPay has no {request.channel} channel here (page or wap)")
        require_currency(request.amount, self.currencies, provider="UnionPay")
        if request.amount.minor <= 0:
            raise ValueError("a consume is for a positive amount")
        fields = {
            **self._gateway.common(CONSUME, request.out_trade_no),
            "channelType": CHANNEL_TYPES[request.channel],
            "txnAmt": str(request.amount.minor),
            "currencyCode": currency_code(request.amount.currency),
            "frontUrl": request.return_url or "",
            "backUrl": request.notify_url,
            "payTimeout": beijing_time(request.expires_at),
        }
        form = self._gateway.signed(fields)
        return PaymentStart(redirect_url=self._gateway.url(FRONT_PATH), form=form)

    async def query(self, out_trade_no: str) -> ProviderTrade:
        """Ask the gateway about the consume; one it never saw (``34``) is UNPAID."""
        answer = await self._gateway.ask(
            self._gateway.url(QUERY_PATH), self._gateway.common(QUERY, out_trade_no)
        )
        code = answer.get("respCode", "")
        if code == NO_SUCH_TRADE:
            return ProviderTrade(out_trade_no=out_trade_no, status=TradeStatus.UNPAID)
        if code != SUCCESS:
            raise ProviderError(f"UnionPay refused the query: {said(answer)}")
        self._gateway.check_about(answer, out_trade_no)
        if answer.get("origRespCode") != SUCCESS:
            return ProviderTrade(out_trade_no=out_trade_no, status=TradeStatus.UNPAID)
        return _paid_trade(out_trade_no, answer)

    async def close(self, out_trade_no: str) -> None:
        """Nothing to ask: an unpaid consume has no close at UnionPay, and its ``payTimeout``
        (the order's expiry) already makes the gateway refuse to take payment after it."""
        txn_time_of(out_trade_no)

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """退货 of the paid consume: taken is PROCESSING; a duplicate is the first one's
        answer; another refusal is FAILED with UnionPay's code."""
        orig_query_id = request.provider_trade_no or await self._paid_query_id(request)
        if orig_query_id is None:
            return failed(request.out_refund_no, "the consume is not paid at UnionPay")
        number = request.out_refund_no
        fields = {
            **self._gateway.common(REFUND, number, txn_time=refund_txn_time(number)),
            "channelType": CHANNEL_TYPES[Channel.PAGE],
            "origQryId": orig_query_id,
            "txnAmt": str(request.amount.minor),
            "currencyCode": currency_code(request.amount.currency),
            "backUrl": self._config.notify_url,
        }
        answer = await self._gateway.ask(self._gateway.url(BACK_PATH), fields)
        code = answer.get("respCode", "")
        if code == DUPLICATE:
            return await self._first_answer(request)
        if code in IN_PROCESS:  # in doubt: the caller asks again with the same number
            raise ProviderError(f"UnionPay has not decided the refund: {said(answer)}")
        if code != SUCCESS:
            return failed(number, said(answer))
        self._gateway.check_about(answer, number)
        return ProviderRefund(
            out_refund_no=number,
            status=RefundStatus.PROCESSING,
            amount=request.amount,
            provider_refund_no=answer.get("queryId") or None,
        )

    async def query_refund(self, request: RefundRequest) -> ProviderRefund:
        """Ask the gateway about the refund; one it never saw (``34``) is FAILED ``unknown``."""
        number = request.out_refund_no
        fields = self._gateway.common(QUERY, number, txn_time=refund_txn_time(number))
        answer = await self._gateway.ask(self._gateway.url(QUERY_PATH), fields)
        code = answer.get("respCode", "")
        if code == NO_SUCH_TRADE:
            return failed(number, "unknown")
        if code != SUCCESS:
            raise ProviderError(f"UnionPay refused the query: {said(answer)}")
        self._gateway.check_about(answer, number)
        return refund_from_query(number, answer)

    async def bill(self, day: date) -> Bill:
        """The file transfer of ``day``'s flow file: signed answer, CRC and totals checked."""
        mer_id = self._config.mer_id
        now = self._clock.now()
        fields = transfer_fields(mer_id=mer_id, cert_id=self._config.cert_id, day=day, now=now)
        answer = await self._gateway.ask(self._config.file_url, fields)
        return bill_from_answer(answer, day=day, mer_id=mer_id)

    def verify_notification(
        self, raw: RawNotification, *, now: datetime
    ) -> VerifiedNotification | RefundNotification:
        """Chain and signature, then merchant, kind, outcome, freshness and amount."""
        fields = self._gateway.verified(parse_form(raw.body), now=now)
        missing = [name for name in NOTIFICATION_FIELDS if not fields.get(name)]
        if missing:
            raise NotificationRejected("malformed", f"missing fields: {', '.join(missing)}")
        if fields["merId"] != self._config.mer_id:
            raise NotificationRejected("wrong_merchant", "merId is not ours")
        if (fields["txnType"], fields.get("txnSubType")) == REFUND_TYPE:
            return refund_notification(fields, now=now)
        if (fields["txnType"], fields.get("txnSubType")) != ("01", "01"):
            raise NotificationRejected("unexpected_type", "only a consume is notified here")
        if fields["respCode"] != SUCCESS:
            raise NotificationRejected("not_success", f"respCode {fields['respCode']}")
        try:
            txn_time = parse_beijing_time(fields["txnTime"])
            amount = parse_amount(fields["txnAmt"], fields["currencyCode"])
            trace = fields.get("traceTime")
            paid_at = trace_instant(trace, txn_time) if trace else None
        except ValueError as error:
            raise NotificationRejected("malformed", str(error)) from error
        if not now - FRESHNESS <= txn_time <= now + SKEW:
            raise NotificationRejected("stale", f"txnTime {fields['txnTime']} is out of window")
        return VerifiedNotification(
            provider=Provider.UNIONPAY,
            notification_id=fields["queryId"] + fields["respCode"],
            out_trade_no=fields["orderId"],
            status=TradeStatus.PAID,
            amount=amount,
            merchant_id=fields["merId"],
            app_id=fields["merId"],
            provider_trade_no=fields["queryId"],
            paid_at=paid_at,
            raw=dict(fields),
            payer_account=fields.get("accNo") or None,
        )

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        """HTTP 200 ``ok`` when taken; a 400 makes UnionPay send it again later."""
        if accepted:
            return Acknowledgement(status=200, body=b"ok")
        return Acknowledgement(status=400, body=b"fail")

    async def _paid_query_id(self, request: RefundRequest) -> str | None:
        """The consume's ``queryId``, which a refund names, when the caller did not keep it."""
        trade = await self.query(request.out_trade_no)
        return trade.provider_trade_no if trade.status is TradeStatus.PAID else None

    async def _first_answer(self, request: RefundRequest) -> ProviderRefund:
        """What became of the refund a duplicate ``orderId`` names; the gateway said it
        knows it, so not finding it yet is no answer."""
        known = await self.query_refund(request)
        if known.status is RefundStatus.FAILED and known.reason == "unknown":
            raise ProviderError("UnionPay called the refund a duplicate but cannot find it")
        return known


def _paid_trade(out_trade_no: str, answer: Mapping[str, str]) -> ProviderTrade:
    try:
        txn_time = parse_beijing_time(answer.get("txnTime", ""))
        amount: Money = parse_amount(answer.get("txnAmt", ""), answer.get("currencyCode", ""))
        trace = answer.get("traceTime")
        paid_at = trace_instant(trace, txn_time) if trace else None
    except ValueError as error:
        raise ProviderError(f"UnionPay answered a malformed trade: {error}") from error
    return ProviderTrade(
        out_trade_no=out_trade_no,
        status=TradeStatus.PAID,
        amount=amount,
        provider_trade_no=answer.get("queryId") or None,
        paid_at=paid_at,
    )


def real_adapter(settings: Settings, clock: Clock, http: httpx.AsyncClient) -> UnionPayAdapter:
    """The adapter for the real gateway, from the ``unionpay_*`` settings (files read once)."""
    config = UnionPayConfig(
        mer_id=settings.unionpay_mer_id,
        merchant_private_key_pem=key_file(settings.unionpay_private_key_file),
        cert_id=settings.unionpay_cert_id,
        root_cert_pem=key_file(settings.unionpay_root_cert_file),
        middle_cert_pem=key_file(settings.unionpay_middle_cert_file),
        gateway_url=settings.unionpay_gateway_url,
        currencies=frozenset(settings.unionpay_currencies.split(",")),
        notify_url=settings.public_url.rstrip("/") + NOTIFY_PATH,
    )
    return UnionPayAdapter(config=config, http=http, clock=clock)
