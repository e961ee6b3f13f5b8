"""WeChat Pay API v3, merchant side.

Design overview
---------------
``WeChatPayAdapter`` implements ``PaymentProviderAdapter`` over an injected
``httpx.AsyncClient`` and ``Clock``, talking through a ``V3Client`` (``wechatpay_client``:
every request signed ``WECHATPAY2-SHA256-RSA2048`` with the merchant key, every answer and
notification believed only once the platform public key verifies its ``Wechatpay-*``
headers). A notification's ``resource`` is decrypted (AES-256-GCM, key = APIv3 key) and
checked for our ``mchid`` and ``appid``. Amounts are integer fen in CNY. The signing helpers
(``wechatpay_signing``) are public because the simulator speaks the same protocol from the
platform side.

What differs between WeChat Pay's v3 APIs — the Mainland one here, the global one of WeChat
Pay HK (``wechatpay_global``) — is data: a ``V3Api`` (``wechatpay_api``: paths, currency,
the field naming WeChat Pay's transaction), read by this one adapter class.

A refund is asked for by our ``out_refund_no`` (WeChat Pay refunds once per number, so a
retry is always the same number) and read with ``queried_refund``. Only a refusal WeChat
Pay signed is believed (FAILED, with its code and message): an unsigned 4xx could be anyone's,
and a refund taken as failed that was in fact made would be paid again under a new number.
401 and 429 say nothing about the refund, and a 5xx or an unreachable WeChat Pay leaves it
unknown: those raise ``ProviderError``, so that it is asked again under the same number.

The day's bill (``bill``): ``GET /v3/bill/tradebill?bill_date=…&bill_type=ALL&tar_type=GZIP``,
signed and verified as every call, answers its ``download_url`` and ``hash_value``; the
download is a signed GET too, but its answer is unsigned, so the gzip's contents are believed
only when their SHA-1 is that ``hash_value`` (``payments.bills.wechatpay``).
``STATEMENT_CREATING`` is a bill not made yet (``BillNotReady``); ``NO_STATEMENT_EXIST`` is a
day without payments or refunds — an empty bill once the day is over, not ready before.

An H5 order's ``h5_url`` gets the order's return URL appended as ``redirect_url``
(URL-encoded), WeChat Pay's way of sending the payer back to the merchant's page once the
payment is done or abandoned; WeChat Pay accepts it only on the merchant's registered H5
domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx

from simkeep.clock import Clock, in_shanghai
from simkeep.payment_methods import Channel
from simkeep.payments.bills import wechatpay as wechatpay_bill
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
    RefundNotification,
    RefundRequest,
    RefundStatus,
    TradeStatus,
    VerifiedNotification,
    json_object,
    require_currency,
)
from simkeep.payments.providers.wechatpay_api import (
    MAINLAND,
    UNKNOWN_REFUND,
    V3Api,
    notified_refund,
    queried_refund,
    queried_trade,
    verified_payment,
)
from simkeep.payments.providers.wechatpay_client import (
    V3Client,
    error_code,
    error_message,
    expect,
)
from simkeep.payments.providers.wechatpay_signing import PUBLIC_KEY_ID_PREFIX, json_bytes
from simkeep.reconciliation.bill import Bill, BillNotReady

CURRENCY = MAINLAND.currency
DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
# WeChat Pay also takes |*@ in a refund number; these need no escaping in the query's path.
OUT_REFUND_NO_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
REFUND_REASON_CHARS = 80
NOT_FOUND = frozenset({"RESOURCE_NOT_EXISTS", "ORDER_NOT_EXIST"})
RETRYABLE = frozenset({401, 429})  # our signature or clock, or too many requests: not a refusal
STATEMENT_CREATING, NO_STATEMENT_EXIST = "STATEMENT_CREATING", "NO_STATEMENT_EXIST"


@dataclass(frozen=True, slots=True, repr=False)
class WeChatPayConfig:
    """One merchant's WeChat Pay v3 credentials (public-key mode)."""

    mchid: str
    appid: str
    merchant_private_key_pem: bytes
    merchant_serial_no: str
    apiv3_key: str
    platform_public_key_pem: bytes
    platform_public_key_id: str
    base_url: str = DEFAULT_BASE_URL

    def __post_init__(self) -> None:
        if len(self.apiv3_key) != 32 or not self.apiv3_key.isascii():
            raise ValueError("the APIv3 key is 32 ASCII characters")
        if not self.platform_public_key_id.startswith(PUBLIC_KEY_ID_PREFIX):
            raise ValueError(f"the platform public key id starts with {PUBLIC_KEY_ID_PREFIX}")


class WeChatPayAdapter:
    """The merchant half of WeChat Pay v3: Native and H5 orders, query, close, refunds,
    notifications."""

    api: ClassVar[V3Api] = MAINLAND
    provider = MAINLAND.provider
    currencies = frozenset({MAINLAND.currency})

    def __init__(self, *, config: WeChatPayConfig, client: httpx.AsyncClient, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._v3 = V3Client(config=config, client=client, clock=clock)

    def signs_locally(self, channel: Channel) -> bool:
        """Native and H5 orders are both placed with WeChat Pay first."""
        return False

    async def start(self, request: PaymentRequest) -> PaymentStart:
        """Create a Native (QR) or H5 (WAP) order and return its ``code_url`` or ``h5_url``."""
        api = self.api
        require_currency(request.amount, self.currencies, provider=api.name)
        if request.channel not in api.starts:
            raise ValueError(f"{api.name} has no {request.channel} channel here (use qr or wap)")
        endpoint, answer_field = api.starts[request.channel]
        _check_out_trade_no(request.out_trade_no)
        path = f"{api.transactions}/{endpoint}"
        response = await self._v3.call("POST", path, self._order(request))
        answer = expect(response, 200).get(answer_field)
        if not isinstance(answer, str) or not answer:
            raise ProviderError(f"WeChat Pay answered without {answer_field}")
        if request.channel is Channel.QR:
            return PaymentStart(qr_payload=answer)
        return PaymentStart(redirect_url=_returning_to(answer, request.return_url))

    async def query(self, out_trade_no: str) -> ProviderTrade:
        """Ask what became of a trade; one WeChat Pay does not know is UNPAID."""
        _check_out_trade_no(out_trade_no)
        path = f"{self.api.transactions}/out-trade-no/{out_trade_no}?mchid={self._config.mchid}"
        response = await self._v3.call("GET", path, None)
        if response.status_code == 404 and error_code(response) == "ORDER_NOT_EXIST":
            return ProviderTrade(out_trade_no=out_trade_no, status=TradeStatus.UNPAID)
        return queried_trade(out_trade_no, expect(response, 200), self.api)

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid trade (WeChat Pay answers 204); a trade WeChat Pay never made
        (its start failed) needs no closing."""
        _check_out_trade_no(out_trade_no)
        path = f"{self.api.transactions}/out-trade-no/{out_trade_no}/close"
        response = await self._v3.call("POST", path, {"mchid": self._config.mchid})
        if response.status_code == 404 and error_code(response) == "ORDER_NOT_EXIST":
            return
        expect(response, 204)

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """Ask WeChat Pay to pay back ``request.amount`` of a paid trade (the same
        ``out_refund_no`` again answers with that refund); a refusal it signed is FAILED."""
        _check_out_trade_no(request.out_trade_no)
        _check_out_refund_no(request.out_refund_no)
        order = self._refund_order(request)
        response = await self._v3.call("POST", self.api.refunds, order, refusals=True)
        if response.is_client_error and response.status_code not in RETRYABLE:
            reason = f"{error_code(response) or response.status_code}: {error_message(response)}"
            return _failed(request.out_refund_no, reason)
        return queried_refund(request.out_refund_no, expect(response, 200), self.api)

    async def query_refund(self, request: RefundRequest) -> ProviderRefund:
        """Ask what became of a refund; one WeChat Pay does not know is FAILED ``unknown``."""
        _check_out_refund_no(request.out_refund_no)
        path = self.api.refund_path(request.out_refund_no, self._config.mchid)
        response = await self._v3.call("GET", path, None, refusals=True)
        if response.status_code == 404 and error_code(response) in NOT_FOUND:
            return _failed(request.out_refund_no, UNKNOWN_REFUND)
        return queried_refund(request.out_refund_no, expect(response, 200), self.api)

    def verify_notification(
        self, raw: RawNotification, *, now: datetime
    ) -> VerifiedNotification | RefundNotification:
        """Verify the signature over the raw body, decrypt ``resource``, check the merchant; a
        ``REFUND.*`` event tells a refund's outcome."""
        event = self._v3.notification(raw, now=now)
        payment = json_object(self._v3.decrypt(event.get("resource")), what="the resource")
        if str(event.get("event_type", "")).startswith("REFUND."):
            if payment.get("mchid") != self._config.mchid:
                raise NotificationRejected("wrong_merchant", "the refund is for another mchid")
            return notified_refund(event, payment, self.api)
        if payment.get("mchid") != self._config.mchid or payment.get("appid") != self._config.appid:
            raise NotificationRejected("wrong_merchant", "the payment is for another mchid/appid")
        if payment.get("trade_state") != "SUCCESS":
            raise NotificationRejected("not_success", "only a SUCCESS payment is notified")
        return verified_payment(event, payment, self.api)

    async def bill(self, day: date) -> Bill:
        """The trade bill of a Beijing day, downloaded, its SHA-1 checked and read;
        ``BillNotReady`` while WeChat Pay has not made it."""
        data = await self._bill_file(day)
        if data is None:
            return Bill(provider=self.provider, day=day, rows=())
        return wechatpay_bill.parse(data, day=day, provider=self.provider)

    async def _bill_file(self, day: date) -> bytes | None:
        """The day's file, its digest checked; None when WeChat Pay says there was nothing."""
        query = f"bill_date={day.isoformat()}&bill_type=ALL&tar_type=GZIP"
        response = await self._v3.call("GET", f"{self.api.bills}?{query}", None, refusals=True)
        if self._no_bill(response, day):
            return None
        answer = expect(response, 200)
        url, digest = answer.get("download_url"), answer.get("hash_value")
        if (
            answer.get("hash_type") != "SHA1"
            or not isinstance(url, str)
            or not isinstance(digest, str)
        ):
            raise ProviderError("WeChat Pay's bill answer lacks a SHA1 hash_value or download_url")
        data = await self._v3.download_bill(url)
        data = wechatpay_bill.gunzip(data, day=day, provider=self.provider)
        wechatpay_bill.check_digest(data, digest, day=day, provider=self.provider)
        return data

    def _no_bill(self, response: httpx.Response, day: date) -> bool:
        """Whether WeChat Pay (in a signed refusal) says the day had nothing; a bill not made
        yet is ``BillNotReady``."""
        if response.status_code != 400:
            return False
        code = error_code(response)
        day_over = in_shanghai(self._clock.now()).date() > day
        if code == STATEMENT_CREATING or (code == NO_STATEMENT_EXIST and not day_over):
            raise BillNotReady(f"{self.api.name} has no bill of {day} yet")
        return code == NO_STATEMENT_EXIST

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        """204 with no body when accepted; 400 with ``{"code":"FAIL"}`` asks for a retry (any
        4xx or 5xx does; a 5xx would say that simkeep failed, where it refused)."""
        if accepted:
            return Acknowledgement(status=204, body=b"")
        body = json_bytes({"code": "FAIL", "message": "the notification was not accepted"})
        return Acknowledgement(status=400, body=body, content_type="application/json")

    def _order(self, request: PaymentRequest) -> dict[str, Any]:
        order: dict[str, Any] = {
            "appid": self._config.appid,
            "mchid": self._config.mchid,
            "description": request.subject[:127],
            "out_trade_no": request.out_trade_no,
            "time_expire": in_shanghai(request.expires_at).isoformat(timespec="seconds"),
            "notify_url": request.notify_url,
            "amount": {"total": request.amount.minor, "currency": request.amount.currency},
        }
        if request.channel is Channel.WAP:
            order["scene_info"] = {"payer_client_ip": request.payer_ip, "h5_info": {"type": "Wap"}}
        return order

    def _refund_order(self, request: RefundRequest) -> dict[str, Any]:
        order: dict[str, Any] = {
            "out_trade_no": request.out_trade_no,
            "out_refund_no": request.out_refund_no,
            "amount": {
                "refund": request.amount.minor,
                "total": request.total.minor,
                "currency": request.amount.currency,
            },
        }
        if request.reason:
            order["reason"] = request.reason[:REFUND_REASON_CHARS]
        if request.notify_url:
            order["notify_url"] = request.notify_url
        if self.api.merchant_in_refunds:
            order |= {"mchid": self._config.mchid, "appid": self._config.appid}
        return order


def _returning_to(h5_url: str, return_url: str | None) -> str:
    """The H5 cashier's link, sending the payer back to ``return_url`` afterwards."""
    if not return_url:
        return h5_url
    separator = "&" if "?" in h5_url else "?"
    return f"{h5_url}{separator}{urlencode({'redirect_url': return_url})}"


def _check_out_trade_no(out_trade_no: str) -> None:
    _check_number(out_trade_no, OUT_TRADE_NO_PATTERN, "out_trade_no")


def _check_out_refund_no(out_refund_no: str) -> None:
    _check_number(out_refund_no, OUT_REFUND_NO_PATTERN, "out_refund_no")


def _check_number(number: str, pattern: str, name: str) -> None:
    if not re.fullmatch(pattern, number):
        raise ValueError(f"{number!r} is not a valid {name}")


def _failed(out_refund_no: str, reason: str) -> ProviderRefund:
    return ProviderRefund(out_refund_no=out_refund_no, status=RefundStatus.FAILED, reason=reason)
