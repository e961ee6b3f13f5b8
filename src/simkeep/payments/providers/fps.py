"""FPS (Hong Kong's Faster Payment System) through the merchant's receiving bank, merchant side.

Design overview
---------------
HKICL has no merchant API: the payer's bank pushes the money to our FPS proxy, and our
receiving bank tells us about each credit. So ``FpsAdapter.start`` asks nobody — it builds a
dynamic FPS QR code locally (``fps_qr``: our proxy and name, the amount, the order number
as its reference label) — and ``close`` asks nobody either: a push payment cannot be
stopped, and one arriving after the order expired is still reported; the payments service
then decides (money that matches no open order goes to review, never guessed).

Each bank has its own API; the one spoken here is a small signed JSON API (``fps_bank``
states it, the simulator serves it):

* Webhook ``POST notify_url``: ``{"event_id", "event_type": "fps.credit", "created_at",
  "data": {"fps_txn_id", "amount": {"value": <minor units>, "currency": "HKD"},
  "payee_proxy", "bill_reference", "payer": {"proxy", "bank_code", "name"}, "settled_at"}}``
  (times ISO 8601 in Hong Kong time), headers ``X-Bank-Client-Id`` (our client id),
  ``X-Bank-Timestamp`` and ``X-Bank-Signature`` = base64 SHA256withRSA by the bank's key over
  ``<timestamp>\\n<raw body>``. Refused (``NotificationRejected``) unless it verifies with the
  bank's public key, is stamped within 5 minutes of now, names our client id and our payee
  proxy, is in HKD, for a positive integer amount, and is well formed. Taken: 200
  ``{"received": true}``; anything else and the bank retries.
* Query ``GET {bank}/v1/fps/credits?bill_reference=<order>``, signed by us with headers
  ``X-Client-Id``, ``X-Timestamp``, ``X-Signature`` = SHA256withRSA by our key over
  ``<METHOD>\\n<path and query>\\n<timestamp>\\n<body>``; the answer ``{"credits": [...]}``
  (each as a webhook's ``data``) is signed by the bank like a webhook and believed only
  once it verifies. The first credit to our proxy in HKD is the order's payment (PAID),
  none is UNPAID.

A verified credit's ``out_trade_no`` is the reference as the payer's bank carried it — it
may be empty or another order's — and ``payer_account`` is ``<bank code>:<proxy>`` as the
bank masked it, which a refund (an outbound transfer) needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

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
    ProviderTrade,
    RawNotification,
    TradeStatus,
    VerifiedNotification,
)
from simkeep.payments.providers.fps_bank import (
    CREDITS_PATH,
    CURRENCY,
    Credit,
    check_bank_signature,
    json_object,
    parse_credit,
    request_headers,
)
from simkeep.payments.providers.fps_qr import FpsQr, ProxyType, QrError, build_payload
from simkeep.payments.signing import load_private_key, load_public_key
from simkeep.settings import Settings

EVENT_TYPE = "fps.credit"
RECEIVED = b'{"received":true}'


class CurrencyNotSupported(ValueError):
    """FPS is taken here in HKD only."""


@dataclass(frozen=True, slots=True, repr=False)
class FpsConfig:
    """Our FPS proxy and name on the QR code, and our credentials at the receiving bank."""

    proxy_id: str
    merchant_name: str
    bank_client_id: str
    merchant_private_key_pem: bytes
    bank_public_key_pem: bytes
    bank_api_url: str

    def __post_init__(self) -> None:
        ProxyType.of(self.proxy_id)  # an FPS ID, a +852- mobile number or an e-mail
        if not self.bank_client_id:
            raise ValueError("the bank client id is needed")


class FpsAdapter:
    """The merchant half of FPS: QR codes made here, credits reported by the bank."""

    provider = Provider.FPS
    currencies = frozenset({CURRENCY})

    def __init__(self, *, config: FpsConfig, client: httpx.AsyncClient, clock: Clock) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._private_key = load_private_key(config.merchant_private_key_pem)
        self._bank_key = load_public_key(config.bank_public_key_pem)

    def signs_locally(self, channel: Channel) -> bool:
        """Every FPS QR code is made here: starting a payment asks the bank nothing."""
        return True

    async def start(self, request: PaymentRequest) -> PaymentStart:
        """The dynamic FPS QR code for the order: our proxy, amount, order number."""
        if request.amount.currency != CURRENCY:
            raise CurrencyNotSupported(f"FPS takes {CURRENCY}, not {request.amount.currency}")
        if request.channel is not Channel.QR:
            raise ValueError(f"FPS has no {request.channel} channel (use qr)")
        qr = FpsQr(
            proxy=self._config.proxy_id,
            merchant_name=self._config.merchant_name,
            amount=request.amount,
            reference=request.out_trade_no,
        )
        try:
            return PaymentStart(qr_payload=build_payload(qr))
        except QrError as error:
            raise ValueError(f"no FPS QR code for {request.out_trade_no}: {error}") from error

    async def query(self, out_trade_no: str) -> ProviderTrade:
        """Ask the bank for credits carrying the order number as their reference."""
        path = f"{CREDITS_PATH}?{urlencode({'bill_reference': out_trade_no})}"
        answer = await self._get(path)
        credits = answer.get("credits")
        if not isinstance(credits, list):
            raise ProviderError("the bank answered without a credits list")
        for item in credits:
            credit = _credit_or_error(item)
            if credit.payee_proxy == self._config.proxy_id and credit.currency == CURRENCY:
                return ProviderTrade(
                    out_trade_no=out_trade_no,
                    status=TradeStatus.PAID,
                    amount=Money(credit.amount_minor, credit.currency),
                    provider_trade_no=credit.fps_txn_id,
                    paid_at=credit.settled_at,
                )
        return ProviderTrade(out_trade_no=out_trade_no, status=TradeStatus.UNPAID)

    async def close(self, out_trade_no: str) -> None:
        """Nothing to ask: a push payment cannot be stopped, and one arriving after the
        order expired is still reported (the payments service decides what it pays for)."""

    def verify_notification(self, raw: RawNotification, *, now: datetime) -> VerifiedNotification:
        """Check the bank's signature, freshness, client id, payee, currency and amount."""
        check_bank_signature(
            headers=raw.headers,
            body=raw.body,
            public_key=self._bank_key,
            client_id=self._config.bank_client_id,
            now=now,
        )
        event = json_object(raw.body, what="the notification body")
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise NotificationRejected("malformed", "the notification has no event_id")
        if event.get("event_type") != EVENT_TYPE:
            raise NotificationRejected("not_a_credit", f"only {EVENT_TYPE} events are taken")
        credit = parse_credit(event.get("data"))
        if credit.payee_proxy != self._config.proxy_id:
            raise NotificationRejected("wrong_payee", "the credit is to another FPS proxy")
        if credit.currency != CURRENCY:
            raise NotificationRejected("wrong_currency", f"the credit is not in {CURRENCY}")
        return VerifiedNotification(
            provider=self.provider,
            notification_id=event_id,
            out_trade_no=credit.bill_reference,
            status=TradeStatus.PAID,
            amount=Money(credit.amount_minor, credit.currency),
            merchant_id=credit.payee_proxy,
            app_id=self._config.bank_client_id,
            provider_trade_no=credit.fps_txn_id,
            paid_at=credit.settled_at,
            raw=event,
            payer_account=credit.payer_account,
        )

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        """200 ``{"received": true}`` when taken; 400 makes the bank deliver it again."""
        if accepted:
            return Acknowledgement(status=200, body=RECEIVED, content_type="application/json")
        body = b'{"received":false,"error":"not_accepted"}'
        return Acknowledgement(status=400, body=body, content_type="application/json")

    async def _get(self, path: str) -> dict[str, Any]:
        request = self._client.build_request(
            "GET",
            self._config.bank_api_url.rstrip("/") + path,
            headers={"Accept": "application/json"},
        )
        request.headers.update(
            request_headers(
                private_key=self._private_key,
                client_id=self._config.bank_client_id,
                method="GET",
                path=request.url.raw_path.decode("ascii"),
                body=b"",
                now=self._clock.now(),
            )
        )
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as error:
            raise ProviderError(f"the FPS bank could not be reached: {error}") from error
        if response.status_code != 200:
            raise ProviderError(
                f"the FPS bank answered {response.status_code}: {response.text[:200]}"
            )
        try:
            check_bank_signature(
                headers=response.headers,
                body=response.content,
                public_key=self._bank_key,
                client_id=self._config.bank_client_id,
                now=self._clock.now(),
            )
            return json_object(response.content, what="the answer")
        except NotificationRejected as error:
            raise ProviderError(f"the FPS bank's answer refused ({error.code}): {error}") from error


def _credit_or_error(item: object) -> Credit:
    try:
        return parse_credit(item)
    except NotificationRejected as error:
        raise ProviderError(f"the bank answered a malformed credit: {error}") from error


def real_adapter(settings: Settings, clock: Clock, http: httpx.AsyncClient) -> FpsAdapter:
    """The adapter for the real receiving bank in ``settings`` (key files read once)."""
    return FpsAdapter(
        config=FpsConfig(
            proxy_id=settings.fps_proxy_id,
            merchant_name=settings.fps_merchant_name,
            bank_client_id=settings.fps_bank_client_id,
            merchant_private_key_pem=_key_file(settings.fps_private_key_file),
            bank_public_key_pem=_key_file(settings.fps_bank_public_key_file),
            bank_api_url=settings.fps_bank_api_url,
        ),
        client=http,
        clock=clock,
    )


def _key_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read the FPS key file {path}: {error.strerror}") from error
