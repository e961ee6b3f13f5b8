"""AlipayHK through Alipay+ (the Antom AMS online payment API), merchant side.

Design overview
---------------
``AlipayPlusAdapter`` implements ``PaymentProviderAdapter`` for ``Provider.ALIPAYHK`` over an
injected ``httpx.AsyncClient`` and ``Clock``. It calls three endpoints, each a signed JSON
``POST`` (``alipayplus_signing``): ``payments/pay`` with ``productCode CASHIER_PAYMENT`` and
``paymentMethodType ALIPAY_HK`` (a phone gets the cashier's ``normalUrl``; a desktop gets
``WEB`` and shows the ``orderCodeForm`` text as a QR code), ``payments/inquiryPayment`` and
``payments/cancel``, and for refunds ``payments/refund`` and ``payments/inquiryRefund``. An
answer is believed only after its ``Response-Time`` and
``Signature`` verify with the Alipay+ public key; AMS answers HTTP 200 and says how it went in
``result`` (``S`` done, ``U`` in process, ``F`` refused, with a ``resultCode``).

Amounts are HKD in cents, written as strings of digits (``"12345"`` is HK$123.45) and read
back only as such: a decimal point, a sign or a space is malformed, never rounded.

A cancel of a payment that is already paid refunds it (AMS allows it until 00:15 the next
day), so ``close`` asks first and cancels only a payment still in process; one paid just
before is left to be credited by the poll. Alipay+ closes an unpaid payment itself at its
``paymentExpiryTime``, which is the order's expiry.

A refund is asked under our refund number as ``refundRequestId``, which AMS keeps for
idempotency: the same number again answers the same refund and never pays a second. It
names the payment by ``paymentRequestId`` (and ``paymentId`` when known).

Notifications come to our notify URL signed over its path (``RawNotification`` has no path,
so the adapter is told it: ``notify_path``), with our ``Client-Id`` and a ``Request-Time``
within five minutes. ``acknowledge`` answers the fixed ``SUCCESS`` JSON (unsigned, as AMS
asks) or a failure, which Alipay+ sends again later.

``bill`` downloads a day's transaction details report (``payments.bills.alipayplus``): Antom
delivers it by SFTP; here it is a signed AMS call, ``reports/download``, whose answer carries
the file and its SHA-256. ``REPORT_NOT_READY`` is no report yet (``BillNotReady``); a digest
that is not the file's, or a file that does not add up, is ``BillRefused``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from simkeep.clock import Clock
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.bills.alipayplus import (
    REPORT_NOT_READY,
    REPORT_TYPE,
    REPORTS_PATH,
    read_answer,
)
from simkeep.payments.model import (
    OUT_TRADE_NO_PATTERN,
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
    json_object,
    require_currency,
)
from simkeep.payments.providers.alipayplus_messages import (
    answer_result,
    code_value,
    notified_status,
    optional_time,
    payment_amount,
    refund_from_answer,
    refund_from_inquiry,
    said,
    trade_from_inquiry,
)
from simkeep.payments.providers.alipayplus_signing import (
    ams_time,
    check_signed,
    json_bytes,
    key_pem,
    signed_headers,
)
from simkeep.payments.signing import key_file, load_private_key, load_public_key
from simkeep.reconciliation.bill import Bill, BillNotReady
from simkeep.settings import Settings

CURRENCY = "HKD"
PAYMENT_METHOD = "ALIPAY_HK"
DEFAULT_GATEWAY_URL = "https://open-sea-global.alipay.com"
NOTIFY_PATH = "/api/v1/payments/alipayhk/notify"
TERMINAL_TYPES = {Channel.WAP: "WAP", Channel.QR: "WEB"}
ORDER_NOT_EXIST = "ORDER_NOT_EXIST"
REFUND_NOT_EXIST = "REFUND_NOT_EXIST"
ACCEPTED = {"result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}}
REFUSED = {
    "result": {"resultCode": "PROCESS_FAIL", "resultStatus": "F", "resultMessage": "not taken"}
}


@dataclass(frozen=True, slots=True, repr=False)
class AlipayPlusConfig:
    """One merchant's AMS credentials: its Client-Id and key, and the Alipay+ public key."""

    client_id: str
    merchant_private_key_pem: bytes
    alipayplus_public_key_pem: bytes
    key_version: str = "1"
    gateway_url: str = DEFAULT_GATEWAY_URL
    notify_path: str = NOTIFY_PATH

    @property
    def api_root(self) -> str:
        """AMS serves sandbox Client-Ids (``SANDBOX_…``) under its own path."""
        sandbox = self.client_id.startswith("SANDBOX_")
        return "/ams/sandbox/api/v1" if sandbox else "/ams/api/v1"

    @property
    def api_prefix(self) -> str:
        return f"{self.api_root}/payments"


class AlipayPlusAdapter:
    """The merchant half of AMS cashier payments in AlipayHK: pay, inquiry, cancel, refund,
    notify."""

    provider = Provider.ALIPAYHK
    currencies = frozenset({CURRENCY})

    def __init__(self, *, config: AlipayPlusConfig, http: httpx.AsyncClient, clock: Clock) -> None:
        self._config = config
        self._http = http
        self._clock = clock
        self._private_key = load_private_key(config.merchant_private_key_pem)
        self._public_key = load_public_key(config.alipayplus_public_key_pem)

    def signs_locally(self, channel: Channel) -> bool:
        """Every cashier payment is created at Alipay+ first."""
        return False

    async def start(self, request: PaymentRequest) -> PaymentStart:
        """``payments/pay``: the cashier URL on a phone, the order code's text on a desktop."""
        require_currency(request.amount, self.currencies, provider="AlipayHK")
        if request.channel not in TERMINAL_TYPES:
            raise ValueError(f"AlipayHK has no {request.channel} channel here (use qr or wap)")
        _check_out_trade_no(request.out_trade_no)
        answer = await self._call("pay", self._payment(request))
        result = answer_result(answer)
        if (result["resultStatus"], result["resultCode"]) != ("U", "PAYMENT_IN_PROCESS"):
            raise ProviderError(f"AlipayHK refused the payment: {said(result)}")
        if request.channel is Channel.QR:
            return PaymentStart(qr_payload=code_value(answer))
        url = answer.get("normalUrl") or answer.get("applinkUrl")
        if not isinstance(url, str) or not url:
            raise ProviderError("Alipay+ answered without normalUrl")
        return PaymentStart(redirect_url=url)

    async def query(self, out_trade_no: str) -> ProviderTrade:
        """``payments/inquiryPayment``; a payment Alipay+ never saw is UNPAID."""
        answer = await self._inquire_payment(out_trade_no)
        if answer is None:
            return ProviderTrade(out_trade_no=out_trade_no, status=TradeStatus.UNPAID)
        return trade_from_inquiry(out_trade_no, answer)

    async def close(self, out_trade_no: str) -> None:
        """Cancel a payment still in process; one never made, failed or cancelled needs
        nothing, and a paid one is refused (a cancel would refund it)."""
        answer = await self._inquire_payment(out_trade_no)
        if answer is None:
            return
        status = trade_from_inquiry(out_trade_no, answer).status
        if status is TradeStatus.PAID:
            raise ProviderError(f"{out_trade_no} is paid: a cancel would refund it")
        if status is not TradeStatus.UNPAID:
            return
        result = answer_result(await self._call("cancel", {"paymentRequestId": out_trade_no}))
        if result["resultStatus"] != "S" and result["resultCode"] != ORDER_NOT_EXIST:
            raise ProviderError(f"Alipay+ did not cancel {out_trade_no}: {said(result)}")

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """``payments/refund``: paid back (S), in process (U) or refused (F, its code)."""
        _check_out_trade_no(request.out_trade_no)
        payload: dict[str, Any] = {
            "refundRequestId": request.out_refund_no,
            "paymentRequestId": request.out_trade_no,
            "refundAmount": {
                "currency": request.amount.currency,
                "value": str(request.amount.minor),
            },
            "refundReason": request.reason[:256],
        }
        if request.provider_trade_no:
            payload["paymentId"] = request.provider_trade_no
        return refund_from_answer(request.out_refund_no, await self._call("refund", payload))

    async def query_refund(self, request: RefundRequest) -> ProviderRefund:
        """``payments/inquiryRefund``; a refund Alipay+ does not know is FAILED ``unknown``."""
        number = request.out_refund_no
        payload = {"refundRequestId": number}
        answer = await self._inquire("inquiryRefund", payload, missing=REFUND_NOT_EXIST)
        if answer is None:
            return ProviderRefund(
                out_refund_no=number, status=RefundStatus.FAILED, reason="unknown"
            )
        return refund_from_inquiry(number, answer)

    async def bill(self, day: date) -> Bill:
        """``reports/download`` of ``day``'s transaction details: signed answer, the file's
        SHA-256 and its summary checked."""
        payload = {"reportType": REPORT_TYPE, "reportDate": day.isoformat()}
        answer = await self._post(self._config.api_root + REPORTS_PATH, payload)
        result = answer_result(answer)
        if (result["resultStatus"], result["resultCode"]) == ("F", REPORT_NOT_READY):
            raise BillNotReady(f"Alipay+ has no report of {day} yet: {said(result)}")
        if result["resultStatus"] != "S":
            raise ProviderError(f"Alipay+ refused the report of {day}: {said(result)}")
        return read_answer(answer, day=day)

    def verify_notification(self, raw: RawNotification, *, now: datetime) -> VerifiedNotification:
        """Signature, Client-Id and freshness over the raw body, then the payment's shape."""
        check_signed(
            headers=raw.headers,
            body=raw.body,
            path=self._config.notify_path,
            time_header="Request-Time",
            client_id=self._config.client_id,
            public_key=self._public_key,
            now=now,
        )
        notice = json_object(raw.body)
        status = notified_status(notice)
        texts = [notice.get(name) for name in ("paymentRequestId", "paymentId")]
        if not all(isinstance(text, str) and text for text in texts):
            raise NotificationRejected("malformed", "paymentRequestId or paymentId is missing")
        amount = payment_amount(notice.get("paymentAmount"))
        if amount.currency not in self.currencies:
            raise NotificationRejected("wrong_currency", f"{amount.currency} is not HKD")
        return VerifiedNotification(
            provider=self.provider,
            notification_id=f"{texts[1]}:{status.value}",
            out_trade_no=str(texts[0]),
            status=status,
            amount=amount,
            merchant_id=self._config.client_id,
            app_id=self._config.client_id,
            provider_trade_no=str(texts[1]),
            paid_at=optional_time(notice.get("paymentTime"))
            if status is TradeStatus.PAID
            else None,
            raw=notice,
        )

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        """The fixed ``SUCCESS`` result when taken; otherwise a failure Alipay+ retries."""
        body = json_bytes(ACCEPTED if accepted else REFUSED)
        return Acknowledgement(
            status=200 if accepted else 400, body=body, content_type="application/json"
        )

    def _payment(self, request: PaymentRequest) -> dict[str, Any]:
        amount = {"currency": CURRENCY, "value": str(request.amount.minor)}
        payment: dict[str, Any] = {
            "productCode": "CASHIER_PAYMENT",
            "paymentRequestId": request.out_trade_no,
            "order": {
                "referenceOrderId": request.out_trade_no,
                "orderDescription": request.subject[:256],
                "orderAmount": amount,
            },
            "paymentAmount": amount,
            "paymentMethod": {"paymentMethodType": PAYMENT_METHOD},
            "paymentNotifyUrl": request.notify_url,
            "paymentExpiryTime": ams_time(request.expires_at),
            "settlementStrategy": {"settlementCurrency": CURRENCY},
            "env": {"terminalType": TERMINAL_TYPES[request.channel], "clientIp": request.payer_ip},
        }
        if request.return_url:
            payment["paymentRedirectUrl"] = request.return_url
        return payment

    async def _inquire_payment(self, out_trade_no: str) -> dict[str, Any] | None:
        _check_out_trade_no(out_trade_no)
        payload = {"paymentRequestId": out_trade_no}
        return await self._inquire("inquiryPayment", payload, missing=ORDER_NOT_EXIST)

    async def _inquire(
        self, endpoint: str, payload: Mapping[str, Any], *, missing: str
    ) -> dict[str, Any] | None:
        """An inquiry's answer; None when Alipay+ says it has no such thing (``missing``)."""
        answer = await self._call(endpoint, payload)
        result = answer_result(answer)
        if result["resultStatus"] == "F" and result["resultCode"] == missing:
            return None
        if result["resultStatus"] != "S":
            raise ProviderError(f"Alipay+ could not say what became of it: {said(result)}")
        return answer

    async def _call(self, endpoint: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return await self._post(f"{self._config.api_prefix}/{endpoint}", payload)

    async def _post(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Sign and post ``payload`` to ``path``; the answer once its signature verifies."""
        body = json_bytes(payload)
        request = self._http.build_request(
            "POST",
            f"{self._config.gateway_url.rstrip('/')}{path}",
            content=body,
            headers={"Content-Type": "application/json; charset=UTF-8"},
        )
        path = request.url.raw_path.decode("ascii")
        request.headers.update(
            signed_headers(
                self._private_key,
                key_version=self._config.key_version,
                path=path,
                client_id=self._config.client_id,
                time_header="Request-Time",
                time=ams_time(self._clock.now()),
                body=body,
            )
        )
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as error:
            raise ProviderError(f"Alipay+ could not be reached: {error}") from error
        if response.status_code != 200:
            raise ProviderError(f"Alipay+ answered HTTP {response.status_code}")
        try:
            check_signed(
                headers=response.headers,
                body=response.content,
                path=path,
                time_header="Response-Time",
                client_id=self._config.client_id,
                public_key=self._public_key,
                now=self._clock.now(),
            )
            return json_object(response.content)
        except NotificationRejected as error:
            raise ProviderError(f"Alipay+ answer refused ({error.code}): {error}") from error


def real_adapter(settings: Settings, clock: Clock, http: httpx.AsyncClient) -> AlipayPlusAdapter:
    """The adapter for the real Alipay+ gateway, from the ``alipayhk_*`` settings (key files
    read once, here); notifications come to our public URL's notify path."""
    private_key = key_file(settings.alipayhk_private_key_file)
    public_key = key_file(settings.alipayhk_public_key_file)
    config = AlipayPlusConfig(
        client_id=settings.alipayhk_client_id,
        merchant_private_key_pem=key_pem(private_key, private=True),
        alipayplus_public_key_pem=key_pem(public_key, private=False),
        key_version=settings.alipayhk_key_version,
        gateway_url=settings.alipayhk_gateway_url,
        notify_path=urlsplit(settings.public_url).path.rstrip("/") + NOTIFY_PATH,
    )
    return AlipayPlusAdapter(config=config, http=http, clock=clock)


def _check_out_trade_no(out_trade_no: str) -> None:
    if not re.fullmatch(OUT_TRADE_NO_PATTERN, out_trade_no):
        raise ValueError(f"{out_trade_no!r} is not a valid out_trade_no")
