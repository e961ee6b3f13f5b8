"""Alipay+ (Antom AMS API) for AlipayHK, platform side: a simulator for the embedded default,
the fault harness and the tests.

Design overview
---------------
``AlipayPlusSimulator`` knows one merchant (its ``Client-Id`` and public key), holds the
Alipay+ platform key pair (generated, or kept in ``key_dir`` by ``simulators.keys`` so that
every process signs alike), keeps payments in memory and reads time from an injected
``Clock``. ``alipayplus_routes.router`` serves the AMS endpoints (pay, inquiryPayment,
cancel, refund, inquiryRefund), whose requests must be signed by the merchant within five
minutes and whose answers — errors included, all HTTP 200 with a ``result`` as AMS does —
are signed with the platform key; a cashier page where a payer logs in to a test AlipayHK
account and pays with a 6-digit password; and a test hook.

A payment moves only along ``TRANSITIONS``: PROCESSING to SUCCESS (paid), FAIL (declined, or
left unpaid past its ``paymentExpiryTime``) or CANCELLED; a cancel of a paid payment before
00:15 the next day (Hong Kong) refunds it, as AMS does. Every final result is notified
(``PAYMENT_RESULT``, ``S`` or ``F``), signed afresh for each attempt over the notify URL's
path, and sent through the injected ``deliver`` on the AMS schedule (0 s, 2 min, 10 min,
10 min, 1 h, 2 h, 6 h, 15 h, scaled by ``time_scale``) until the merchant answers the fixed
``SUCCESS`` result (``accepted``). ``deliver_due(now=…)`` sends what is due and lets overdue
payments expire, so tests move a ``FixedClock`` instead of sleeping. ``faults`` injects
drop, duplicate, bad signature, tampered amount and stale time.

Refunds of a paid payment (``alipayplus_refunds``) are paid back at once; a payment with
refunds can no longer be cancelled. ``snapshot`` and ``restore`` keep the payments, refunds
and notifications across restarts (``simulators.records``).

Each paid payment costs the merchant Alipay+'s fee (``fee_rate_bp``, 1.2 % unless told
otherwise), which its refunds give back pro rata; ``bills`` (``alipayplus_bill``) answers the
report download with the day's transaction details, written from these records.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from simkeep.clock import Clock
from simkeep.payments.providers.alipayplus_signing import (
    MAX_SKEW,
    ams_time,
    json_bytes,
    parse_ams_time,
    parse_signature_header,
    signed_content,
    signed_headers,
)
from simkeep.payments.signing import (
    KeyPair,
    SignatureError,
    load_private_key,
    load_public_key,
    verify_sha256_rsa,
)
from simkeep.simulators.alipayplus_bill import AlipayPlusBills
from simkeep.simulators.alipayplus_payments import (
    ACCOUNTS,
    DEMO_PASSWORD,
    RETRY_SCHEDULE_SECONDS,
    TRANSITIONS,
    Delivery,
    Faults,
    SimPayment,
    SimulatorError,
    cancellable_until,
    payment_from,
    result,
)
from simkeep.simulators.alipayplus_payments import (
    accepted as accepted,
)
from simkeep.simulators.alipayplus_refunds import RefundDesk
from simkeep.simulators.bill_rules import fee_of
from simkeep.simulators.delivery import Deliver, http_deliver
from simkeep.simulators.keys import kept_key_pair

FEE_RATE_BP = 120  # Alipay+'s fee on an AlipayHK payment, 1.2 %


class AlipayPlusSimulator:
    """Alipay+ for one merchant: AlipayHK cashier payments, signatures, notifications."""

    def __init__(
        self,
        *,
        client_id: str,
        merchant_public_key_pem: bytes,
        clock: Clock,
        public_base_url: str = "http://127.0.0.1:8000/_sim/alipayhk",
        key_dir: Path | None = None,
        key_version: str = "1",
        deliver: Deliver = http_deliver,
        time_scale: float = 1.0,
        fee_rate_bp: int = FEE_RATE_BP,
    ) -> None:
        self.client_id = client_id
        self.platform_keys = (
            KeyPair.generate() if key_dir is None else kept_key_pair(key_dir, "alipayplus")
        )
        self.public_base_url = public_base_url.rstrip("/")
        self.key_version = key_version
        self.faults = Faults()
        self.payments: dict[str, SimPayment] = {}
        self.deliveries: list[Delivery] = []
        self.refund_desk = RefundDesk()
        self._merchant_key = load_public_key(merchant_public_key_pem)
        self._platform_key = load_private_key(self.platform_keys.private_pem)
        self._clock = clock
        self._deliver = deliver
        self._time_scale = time_scale
        self.fee_rate_bp = fee_rate_bp
        self.bills = AlipayPlusBills(self, clock=clock)

    def snapshot(self) -> dict[str, Any]:
        """What Alipay+ remembers across restarts (``simulators.records``): the payments,
        their refunds and the notifications with their attempts."""
        refunds = self.refund_desk.snapshot()
        return {"payments": self.payments, "deliveries": self.deliveries, "refunds": refunds}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take back a ``snapshot``, just after being built."""
        self.payments, self.deliveries = snapshot["payments"], snapshot["deliveries"]
        self.refund_desk.restore(snapshot["refunds"])

    def check_request(self, *, path: str, headers: Mapping[str, str], body: bytes) -> None:
        """Refuse (``INVALID_SIGNATURE`` …) unless the merchant signed exactly this, just now."""
        lowered = {name.lower(): value for name, value in headers.items()}
        if lowered.get("client-id") != self.client_id:
            raise SimulatorError("INVALID_CLIENT", "unknown Client-Id")
        sent = lowered.get("request-time", "")
        try:
            items = parse_signature_header(lowered.get("signature", ""))
            late = abs(self._clock.now() - parse_ams_time(sent)) > MAX_SKEW
        except (SignatureError, ValueError) as error:
            raise SimulatorError("INVALID_SIGNATURE", str(error)) from error
        if items["keyVersion"] != self.key_version:
            raise SimulatorError("KEY_NOT_FOUND", f"no key version {items['keyVersion'][:8]}")
        if late:
            raise SimulatorError("INVALID_SIGNATURE", "Request-Time is more than 5 minutes off")
        content = signed_content(path=path, client_id=self.client_id, time=sent, body=body)
        if not verify_sha256_rsa(self._merchant_key, content, items["signature"]):
            raise SimulatorError("INVALID_SIGNATURE", "the signature does not verify")

    def sign_response(self, path: str, body: bytes) -> dict[str, str]:
        return self._signed(path, body, "Response-Time", self._clock.now())

    def create_payment(self, request: Mapping[str, Any]) -> SimPayment:
        """``payments/pay``; the same ``paymentRequestId`` again must repeat the same terms."""
        payment = payment_from(request, self._clock.now())
        known = self.payments.get(payment.payment_request_id)
        if known is None:
            self.payments[payment.payment_request_id] = payment
            return payment
        if (known.amount, known.currency) != (payment.amount, payment.currency):
            raise SimulatorError("REPEAT_REQ_INCONSISTENT", "the request id was used for others")
        return self.find(known.payment_request_id)

    def find(self, payment_request_id: str) -> SimPayment:
        payment = self.payments.get(payment_request_id)
        if payment is None:
            raise SimulatorError("ORDER_NOT_EXIST", "the payment does not exist")
        self._expire_if_overdue(payment, self._clock.now())
        return payment

    def by_payment_id(self, payment_id: str) -> SimPayment:
        found = [p for p in self.payments.values() if p.payment_id == payment_id]
        if not found:
            raise SimulatorError("ORDER_NOT_EXIST", "the payment does not exist")
        return self.find(found[0].payment_request_id)

    def pay_answer(self, payment: SimPayment) -> dict[str, Any]:
        cashier = f"{self.public_base_url}/cashier/{payment.payment_id}"
        answer = result(*payment.result) | self._summary(payment) | {"normalUrl": cashier}
        if payment.terminal_type == "WEB":
            code = {"codeValue": f"{cashier}?qr=1", "displayType": "TEXT"}
            answer["orderCodeForm"] = {
                "codeDetails": [code],
                "expireTime": ams_time(payment.expires_at),
            }
        else:
            answer["applinkUrl"] = cashier
            answer["schemeUrl"] = f"alipayhk://platformapi/startapp?url={quote(cashier, safe='')}"
        return answer

    def inquiry_answer(self, payment: SimPayment) -> dict[str, Any]:
        _, code, message = payment.result
        answer = result("S", "SUCCESS", "success") | self._summary(payment)
        answer |= {"paymentStatus": payment.state, "paymentResultCode": code}
        answer["paymentResultMessage"] = message
        if payment.paid_at is not None:
            answer["paymentTime"] = ams_time(payment.paid_at)
        return answer

    def cancel(self, payment_request_id: str) -> SimPayment:
        """Close an unpaid payment, or refund a paid one within the cancellable period."""
        payment = self.find(payment_request_id)
        if payment.state == "CANCELLED":
            return payment
        if payment.refunded:
            raise SimulatorError("ORDER_STATUS_INVALID", "the payment has refunds")
        if payment.state == "SUCCESS" and self._clock.now() >= cancellable_until(payment):
            raise SimulatorError("ORDER_STATUS_INVALID", "past the cancellable period")
        self._move(payment, "CANCELLED")
        payment.result = ("F", "ORDER_IS_CANCELED", "the payment was cancelled")
        payment.cancelled_at = self._clock.now()
        return payment

    def cancel_answer(self, payment: SimPayment) -> dict[str, Any]:
        return result("S", "SUCCESS", "success") | {
            "paymentId": payment.payment_id,
            "paymentRequestId": payment.payment_request_id,
            "cancelTime": ams_time(payment.cancelled_at or self._clock.now()),
        }

    def refund(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``payments/refund``: the same ``refundRequestId`` again is the same answer."""
        return self.refund_desk.refund(request, self._refunded_payment, self._clock.now())

    def inquire_refund(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self.refund_desk.inquiry(request)

    def pay(
        self, payment_request_id: str, *, account: str, password: str, notify: bool = True
    ) -> SimPayment:
        """The payer confirms with the payment password; too little balance declines it.
        The result is notified, unless not ``notify``."""
        payment = self.find(payment_request_id)
        holder = ACCOUNTS.get(account)
        if holder is None:
            raise SimulatorError("USER_NOT_EXIST", "no such AlipayHK account")
        if password != DEMO_PASSWORD:
            raise SimulatorError("INVALID_PASSWORD", "wrong payment password")
        now = self._clock.now()
        if holder.balance < payment.amount:
            self._move(payment, "FAIL")
            payment.result = ("F", "USER_BALANCE_NOT_ENOUGH", "the balance is not enough")
        else:
            self._move(payment, "SUCCESS")
            payment.result = ("S", "SUCCESS", "success")
            payment.paid_at, payment.payer = now, account
            payment.fee = fee_of(payment.amount, self.fee_rate_bp)
        if notify:
            self.deliveries.append(self._notification(payment, now))
        return payment

    async def deliver_due(self, now: datetime | None = None) -> None:
        """Expire what is overdue, then send every notification attempt due at ``now``."""
        instant = now or self._clock.now()
        for payment in self.payments.values():
            self._expire_if_overdue(payment, instant)
        for delivery in [d for d in self.deliveries if not d.done and d.next_at <= instant]:
            await self._attempt(delivery, instant)

    def next_due(self) -> datetime | None:
        return min((d.next_at for d in self.deliveries if not d.done), default=None)

    def records(self) -> list[dict[str, Any]]:
        """Every payment as the fault harness compares it with the ledger."""
        return [
            {
                "out_trade_no": p.payment_request_id,
                "paid": p.state == "SUCCESS",
                "state": p.state,
                "amount_minor": p.amount,
                "fee_minor": p.fee,
                "currency": p.currency,
                "attempts": sum(d.attempts for d in self._deliveries_of(p)),
                "acknowledged": any(d.acknowledged for d in self._deliveries_of(p)),
                "refunded_minor": p.refunded,
                "refunds": [
                    {
                        "refund_no": r.refund_request_id,
                        "amount_minor": r.amount,
                        "fee_refunded_minor": r.fee_back,
                    }
                    for r in self.refund_desk.refunds.values()
                    if r.payment is p
                ],
            }
            for p in self.payments.values()
        ]

    def _refunded_payment(self, request: Mapping[str, Any]) -> SimPayment:
        """The payment a refund names by ``paymentId`` or ``paymentRequestId`` (both: the same)."""
        payment_id, request_id = request.get("paymentId"), request.get("paymentRequestId")
        if isinstance(payment_id, str) and payment_id:
            payment = self.by_payment_id(payment_id)
            if request_id not in (None, payment.payment_request_id):
                raise SimulatorError("ORDER_NOT_EXIST", "paymentId and paymentRequestId differ")
            return payment
        if not isinstance(request_id, str) or not request_id:
            raise SimulatorError("PARAM_ILLEGAL", "paymentId or paymentRequestId is required")
        return self.find(request_id)

    def _deliveries_of(self, payment: SimPayment) -> list[Delivery]:
        return [d for d in self.deliveries if d.payment_request_id == payment.payment_request_id]

    def _move(self, payment: SimPayment, state: str) -> None:
        if state not in TRANSITIONS[payment.state]:
            raise SimulatorError("ORDER_STATUS_INVALID", f"the payment is {payment.state}")
        payment.state = state

    def _expire_if_overdue(self, payment: SimPayment, now: datetime) -> None:
        if payment.state == "PROCESSING" and now > payment.expires_at:
            self._move(payment, "FAIL")
            payment.result = ("F", "ORDER_IS_CLOSED", "the payment expired unpaid")
            self.deliveries.append(self._notification(payment, now))

    def _summary(self, payment: SimPayment) -> dict[str, Any]:
        return {
            "paymentRequestId": payment.payment_request_id,
            "paymentId": payment.payment_id,
            "paymentAmount": {"currency": payment.currency, "value": str(payment.amount)},
            "paymentCreateTime": ams_time(payment.created_at),
        }

    def _notification(self, payment: SimPayment, now: datetime) -> Delivery:
        signed = self._notice(payment, payment.amount)
        body = signed
        if self.faults.tampered_amount:
            body = self._notice(payment, payment.amount // 100 or 1)
        return Delivery(payment.payment_request_id, payment.notify_url, body, signed, now)

    def _notice(self, payment: SimPayment, amount: int) -> bytes:
        notice: dict[str, Any] = {"notifyType": "PAYMENT_RESULT"} | result(*payment.result)
        notice |= self._summary(payment)
        notice["paymentAmount"] = {"currency": payment.currency, "value": str(amount)}
        if payment.paid_at is not None:
            notice["paymentTime"] = ams_time(payment.paid_at)
            notice["pspCustomerInfo"] = {"pspName": "ALIPAY_HK", "displayCustomerId": "b***r"}
        return json_bytes(notice)

    async def _attempt(self, delivery: Delivery, now: datetime) -> None:
        if self.faults.drop:
            delivery.done = True
            return
        for _ in range(2 if self.faults.duplicate else 1):
            headers = self._notification_headers(delivery, now)
            delivery.replies.append(await self._deliver(delivery.url, headers, delivery.body))
        delivery.attempts += 1
        delivery.acknowledged = accepted(delivery.replies[-1])
        if delivery.acknowledged or delivery.attempts >= len(RETRY_SCHEDULE_SECONDS):
            delivery.done = True
            return
        delay = RETRY_SCHEDULE_SECONDS[delivery.attempts] * self._time_scale
        delivery.next_at = now + timedelta(seconds=delay)

    def _notification_headers(self, delivery: Delivery, now: datetime) -> dict[str, str]:
        sent_at = now - 2 * MAX_SKEW if self.faults.stale_timestamp else now
        path = urlsplit(delivery.url).path or "/"
        key = self._platform_key
        if self.faults.bad_signature:
            key = load_private_key(KeyPair.generate().private_pem)
        headers = self._signed(path, delivery.signed_body, "Request-Time", sent_at, key=key)
        return {"Content-Type": "application/json; charset=UTF-8", **headers}

    def _signed(
        self,
        path: str,
        body: bytes,
        time_header: str,
        at: datetime,
        *,
        key: rsa.RSAPrivateKey | None = None,
    ) -> dict[str, str]:
        return signed_headers(
            key or self._platform_key,
            key_version=self.key_version,
            path=path,
            client_id=self.client_id,
            time_header=time_header,
            time=ams_time(at),
            body=body,
        )
