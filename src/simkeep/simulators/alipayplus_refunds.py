"""The AlipayHK (Alipay+) simulator's refunds: ``payments/refund`` and
``payments/inquiryRefund`` as AMS answers them.

Design overview
---------------
``refundRequestId`` is the merchant's and AMS's idempotency key: a request that reached a
final answer (``S`` or ``F``) gets that same answer again, and the same id with other terms
(another amount or payment) is ``REPEAT_REQ_INCONSISTENT``; nothing is paid twice. A new
refund is checked in this order: the amount is positive cents as digits
(``PARAM_ILLEGAL``), the payment exists (``ORDER_NOT_EXIST``) and is paid and not cancelled
(``ORDER_STATUS_INVALID``), the currency is the payment's (``CURRENCY_NOT_SUPPORT``), and
the refunds so far plus this one stay within what it charged (``REFUND_AMOUNT_EXCEED``).
AlipayHK pays refunds back at once, so one taken is answered ``S`` with its ``refundId`` and
``refundTime``, the payment's ``refunded`` grows and the refund gives back its share of the
payment's fee (``bill_rules.fee_back``); the payment itself stays
``SUCCESS``, as in AMS, and can no longer be cancelled. ``inquiryRefund`` knows only
refunds that were made (``REFUND_NOT_EXIST`` otherwise).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simkeep.clock import in_hong_kong
from simkeep.payments.providers.alipayplus_signing import ams_time
from simkeep.simulators.alipayplus_payments import (
    CENTS,
    SimPayment,
    SimulatorError,
    required_text,
    result,
)
from simkeep.simulators.bill_rules import fee_back

Terms = tuple[str, str, str]  # the payment, currency and value, as asked


@dataclass(slots=True)
class SimRefund:
    refund_request_id: str
    refund_id: str
    payment: SimPayment
    amount: int
    reason: str
    refunded_at: datetime
    fee_back: int = 0  # what of the payment's fee it gives back


class RefundDesk:
    """Every refund asked of one simulator, by ``refundRequestId``."""

    def __init__(self) -> None:
        self.refunds: dict[str, SimRefund] = {}
        self._answers: dict[str, tuple[Terms, dict[str, Any]]] = {}

    def snapshot(self) -> dict[str, Any]:
        """The refunds and the answers given, as ``simulators.records`` keeps them."""
        return {"refunds": self.refunds, "answers": self._answers}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        self.refunds, self._answers = snapshot["refunds"], snapshot["answers"]

    def refund(
        self,
        request: Mapping[str, Any],
        find: Callable[[Mapping[str, Any]], SimPayment],
        now: datetime,
    ) -> dict[str, Any]:
        """The answer to ``payments/refund``: the earlier one for a known id."""
        request_id = required_text(request, "refundRequestId")
        terms = _terms(request)
        known = self._answers.get(request_id)
        if known is not None:
            if known[0] != terms:
                raise SimulatorError(
                    "REPEAT_REQ_INCONSISTENT", "the request id was used for others"
                )
            return known[1]
        try:
            answer = self._refunded(self._take(request_id, request, find, now))
        except SimulatorError as refusal:
            answer = refusal.answer() | {"refundRequestId": request_id}
        self._answers[request_id] = (terms, answer)
        return answer

    def inquiry(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to ``payments/inquiryRefund``."""
        refund = self.refunds.get(required_text(request, "refundRequestId"))
        if refund is None:
            raise SimulatorError("REFUND_NOT_EXIST", "the refund does not exist")
        return self._refunded(refund, status="SUCCESS") | result("S", "SUCCESS", "success")

    def _take(
        self,
        request_id: str,
        request: Mapping[str, Any],
        find: Callable[[Mapping[str, Any]], SimPayment],
        now: datetime,
    ) -> SimRefund:
        amount = request.get("refundAmount")
        amount = amount if isinstance(amount, dict) else {}
        value = amount.get("value")
        if not isinstance(value, str) or not CENTS.fullmatch(value):
            raise SimulatorError("PARAM_ILLEGAL", "refundAmount.value must be positive cents")
        payment = find(request)
        if payment.state != "SUCCESS":
            raise SimulatorError("ORDER_STATUS_INVALID", f"the payment is {payment.state}")
        if amount.get("currency") != payment.currency:
            raise SimulatorError("CURRENCY_NOT_SUPPORT", f"the payment is in {payment.currency}")
        if payment.refunded + int(value) > payment.amount:
            raise SimulatorError("REFUND_AMOUNT_EXCEED", "more than is left of the payment")
        back = fee_back(
            fee=payment.fee,
            total=payment.amount,
            refunded_before=payment.refunded,
            refund=int(value),
            fee_back_before=payment.fee_refunded,
        )
        payment.refunded += int(value)
        payment.fee_refunded += back
        refund = SimRefund(
            refund_request_id=request_id,
            refund_id=f"{in_hong_kong(now):%Y%m%d%H%M%S}{secrets.randbelow(10**18):018d}",
            payment=payment,
            amount=int(value),
            reason=str(request.get("refundReason") or ""),
            refunded_at=now,
            fee_back=back,
        )
        self.refunds[request_id] = refund
        return refund

    def _refunded(self, refund: SimRefund, status: str | None = None) -> dict[str, Any]:
        answer = result("S", "SUCCESS", "success") | {
            "refundRequestId": refund.refund_request_id,
            "refundId": refund.refund_id,
            "paymentId": refund.payment.payment_id,
            "refundAmount": {"currency": refund.payment.currency, "value": str(refund.amount)},
            "refundTime": ams_time(refund.refunded_at),
        }
        return answer | ({"refundStatus": status} if status else {})


def _terms(request: Mapping[str, Any]) -> Terms:
    amount = request.get("refundAmount")
    asked = amount if isinstance(amount, dict) else {}
    payment = str(request.get("paymentRequestId") or request.get("paymentId") or "")
    return (payment, str(asked.get("currency")), str(asked.get("value")))
