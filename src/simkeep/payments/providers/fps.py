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
bank masked it, which a refund needs.

A refund is an outgoing FPS transfer to that account through the bank's payout API
(``fps_payouts``): ``POST {bank}/v1/fps/payouts`` with our refund number as its instruction
id, so asking again after a timeout answers the same payout and never pays twice; ``GET
{bank}/v1/fps/payouts/{instruction_id}`` says what became of it. ``ACSP`` is PROCESSING,
``ACSC`` SUCCEEDED, ``RJCT`` FAILED with the bank's reason code and message; a payout the bank
does not know is FAILED ``unknown``. Every answer, errors included, is believed only once
the bank's signature, our client id and its freshness verify; anything else (unreachable,
5xx, unsigned, malformed, or about another payout) is a ``ProviderError``, so the caller asks
again with the same refund number. A refund without the payer's account is FAILED at once:
there is nowhere to send it.

``bill`` is the bank's statement of the account for a day (``payments.bills.fps``), from
its statement API, signed like every answer: 404 ``statement_not_ready`` is no statement
yet (``BillNotReady``); a SHA-256 that is not the file's, or a statement that does not add
up, is ``BillRefused``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from simkeep.clock import Clock
from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.payments.bills.fps import NOT_READY, STATEMENTS_PATH, read_answer
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
    json_object,
    require_currency,
)
from simkeep.payments.providers.fps_bank import (
    CREDITS_PATH,
    CURRENCY,
    Credit,
    check_bank_signature,
    error_code,
    json_bytes,
    parse_credit,
    request_headers,
)
from simkeep.payments.providers.fps_payouts import (
    PAYOUTS_PATH,
    Payee,
    PayoutAnswer,
    PayoutOrder,
    PayoutStatus,
    parse_answer,
)
from simkeep.payments.providers.fps_qr import FpsQr, ProxyType, QrError, build_payload
from simkeep.payments.signing import key_file, load_private_key, load_public_key
from simkeep.reconciliation.bill import Bill, BillNotReady
from simkeep.settings import Settings

EVENT_TYPE = "fps.credit"
RECEIVED = b'{"received":true}'
REFUND_STATUS = {
    PayoutStatus.ACSP: RefundStatus.PROCESSING,
    PayoutStatus.ACSC: RefundStatus.SUCCEEDED,
    PayoutStatus.RJCT: RefundStatus.FAILED,
}
NO_PAYER = "no_payer_account: the payment came without the payer's FPS proxy to send it back to"


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
        require_currency(request.amount, self.currencies, provider="FPS")
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
        _, answer = await self._call("GET", path, accept=frozenset({200}))
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

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """Pay the payer back: an outgoing FPS transfer to the account the payment came from."""
        if not request.payer_account:
            # A push payment has no card to reverse onto: without the payer's proxy the
            # money has nowhere to go, and asking the bank would not change that.
            return ProviderRefund(request.out_refund_no, RefundStatus.FAILED, reason=NO_PAYER)
        body = json_bytes(payout_order(request).to_json())
        _, answer = await self._call("POST", PAYOUTS_PATH, body, accept=frozenset({200, 201}))
        return _refund(request, answer)

    async def query_refund(self, request: RefundRequest) -> ProviderRefund:
        """Ask the bank what became of the payout with our refund number."""
        path = f"{PAYOUTS_PATH}/{quote(request.out_refund_no, safe='')}"
        status, answer = await self._call("GET", path, accept=frozenset({200, 404}))
        if status == 404:
            if error_code(answer) != "not_found":
                raise ProviderError(f"the FPS bank answered 404 without not_found: {answer}")
            return ProviderRefund(request.out_refund_no, RefundStatus.FAILED, reason="unknown")
        return _refund(request, answer)

    async def bill(self, day: date) -> Bill:
        """The bank's statement of ``day``: signed answer, its SHA-256 and totals checked."""
        path = f"{STATEMENTS_PATH}?{urlencode({'date': day.isoformat()})}"
        status, answer = await self._call("GET", path, accept=frozenset({200, 404}))
        if status == 404:
            if error_code(answer) != NOT_READY:
                raise ProviderError(f"the FPS bank answered 404 without {NOT_READY}: {answer}")
            raise BillNotReady(f"the bank has no statement of {day} yet")
        return read_answer(answer, day=day)

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

    async def _call(
        self, method: str, path: str, body: bytes = b"", *, accept: frozenset[int]
    ) -> tuple[int, dict[str, Any]]:
        """Send a request signed by us; an answer with a status in ``accept`` is believed
        once the bank's signature verifies, any other is a ``ProviderError``."""
        response = await self._send(method, path, body)
        if response.status_code not in accept:
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
            return response.status_code, json_object(response.content, what="the answer")
        except NotificationRejected as error:
            raise ProviderError(f"the FPS bank's answer refused ({error.code}): {error}") from error

    async def _send(self, method: str, path: str, body: bytes) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        request = self._client.build_request(
            method, self._config.bank_api_url.rstrip("/") + path, headers=headers, content=body
        )
        request.headers.update(
            request_headers(
                private_key=self._private_key,
                client_id=self._config.bank_client_id,
                method=method,
                path=request.url.raw_path.decode("ascii"),
                body=body,
                now=self._clock.now(),
            )
        )
        try:
            return await self._client.send(request)
        except httpx.HTTPError as error:
            raise ProviderError(f"the FPS bank could not be reached: {error}") from error


def payout_order(request: RefundRequest) -> PayoutOrder:
    """The payout that pays ``request`` back to the account the payment came from."""
    if not request.payer_account:
        raise ValueError(NO_PAYER)
    return PayoutOrder(
        instruction_id=request.out_refund_no,
        amount_minor=request.amount.minor,
        currency=request.amount.currency,
        payee=Payee.of(request.payer_account),
        remittance_reference=f"REFUND {request.out_trade_no}",
        original_fps_txn_id=request.provider_trade_no,
    )


def _refund(request: RefundRequest, answer: dict[str, Any]) -> ProviderRefund:
    """The refund a verified payout answer tells of, once it is the payout asked about."""
    try:
        payout = parse_answer(answer)
    except NotificationRejected as error:
        raise ProviderError(f"the bank answered a malformed payout: {error}") from error
    if payout.instruction_id != request.out_refund_no:
        raise ProviderError(f"the bank answered about payout {payout.instruction_id}")
    amount = _payout_amount(payout)
    if payout.status is not PayoutStatus.RJCT and amount != request.amount:
        # Paying out another amount than asked is not this refund: let a person look.
        raise ProviderError(f"the bank holds {request.out_refund_no} for {amount}")
    reason = f"{payout.reason_code}: {payout.reason_message}" if payout.reason_code else None
    return ProviderRefund(
        out_refund_no=request.out_refund_no,
        status=REFUND_STATUS[payout.status],
        amount=amount,
        provider_refund_no=payout.fps_txn_id,
        refunded_at=payout.settled_at,
        reason=reason,
    )


def _payout_amount(payout: PayoutAnswer) -> Money:
    try:
        return Money(payout.amount_minor, payout.currency)
    except ValueError as error:
        raise ProviderError(f"the bank answered an amount that is not money: {error}") from error


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
            merchant_private_key_pem=key_file(settings.fps_private_key_file),
            bank_public_key_pem=key_file(settings.fps_bank_public_key_file),
            bank_api_url=settings.fps_bank_api_url,
        ),
        client=http,
        clock=clock,
    )
