"""Reading what Alipay+ sends: AMS answers (``result``, payment status, order code, refunds)
and payment notifications, into our types.

Design overview
---------------
AMS writes every field as a string: an amount is ``{"currency": "HKD", "value": "12345"}``,
cents as digits, and is read only as such — a decimal point, a sign, a space or a number
type is malformed, never rounded. Times are ISO 8601 with an offset. A notification that
does not read is ``NotificationRejected`` (``malformed``); an answer that does not read is a
``ProviderError``.

A refund's answer is ``S`` (paid back), ``U`` with ``REFUND_IN_PROCESS`` (taken, in
process) or ``F`` (refused for good, its code kept as the reason). Any other ``U`` is no
answer, and neither is ``REPEAT_REQ_INCONSISTENT``: that refund number is another refund,
which may well have been paid, so calling this one FAILED could pay the payer twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from simkeep.money import InvalidAmount, Money
from simkeep.payments.model import (
    NotificationRejected,
    ProviderError,
    ProviderRefund,
    ProviderTrade,
    RefundStatus,
    TradeStatus,
)
from simkeep.payments.providers.alipayplus_signing import parse_ams_time

PAYMENT_STATUSES = {
    "SUCCESS": TradeStatus.PAID,
    "FAIL": TradeStatus.FAILED,
    "CANCELLED": TradeStatus.CLOSED,
    "PROCESSING": TradeStatus.UNPAID,
    "PENDING": TradeStatus.UNPAID,
}
REFUND_STATUSES = {
    "SUCCESS": RefundStatus.SUCCEEDED,
    "PROCESSING": RefundStatus.PROCESSING,
    "FAIL": RefundStatus.FAILED,
}
NOT_ANSWERS = frozenset({"REPEAT_REQ_INCONSISTENT"})
VALUE = re.compile(r"^(0|[1-9][0-9]{0,17})$")  # cents, as AMS writes them


def answer_result(answer: Mapping[str, Any]) -> dict[str, str]:
    result = answer.get("result")
    if not isinstance(result, dict) or result.get("resultStatus") not in ("S", "U", "F"):
        raise ProviderError("Alipay+ answered without a result")
    return {
        name: str(result.get(name, "")) for name in ("resultStatus", "resultCode", "resultMessage")
    }


def said(result: Mapping[str, str]) -> str:
    return f"{result['resultStatus']} {result['resultCode']} {result['resultMessage'][:200]}"


def code_value(answer: Mapping[str, Any]) -> str:
    form = answer.get("orderCodeForm")
    details = form.get("codeDetails") if isinstance(form, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("displayType") == "TEXT":
            value = detail.get("codeValue")
            if isinstance(value, str) and value:
                return value
    raise ProviderError("Alipay+ answered without an orderCodeForm TEXT code")


def payment_amount(amount: object) -> Money:
    """``{"currency": "HKD", "value": "12345"}``: cents as digits, nothing else."""
    if not isinstance(amount, dict):
        raise NotificationRejected("malformed", "paymentAmount is missing")
    value, currency = amount.get("value"), amount.get("currency")
    if not isinstance(value, str) or not VALUE.fullmatch(value) or not isinstance(currency, str):
        raise NotificationRejected("malformed", "paymentAmount.value must be cents as digits")
    try:
        return Money(int(value), currency)
    except InvalidAmount as error:
        raise NotificationRejected("malformed", str(error)) from error


def optional_time(text: object) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_ams_time(str(text))
    except ValueError as error:
        raise NotificationRejected("malformed", f"{str(text)[:40]!r} is not a time") from error


def notified_status(notice: Mapping[str, Any]) -> TradeStatus:
    """PAYMENT_RESULT ``S`` is paid, ``F`` failed; PAYMENT_PENDING (paid, result to come)
    moves nothing."""
    kind, result = notice.get("notifyType"), notice.get("result")
    status = result.get("resultStatus") if isinstance(result, dict) else None
    if kind == "PAYMENT_PENDING" and status == "S":
        return TradeStatus.UNPAID
    if kind != "PAYMENT_RESULT" or not isinstance(result, dict):
        raise NotificationRejected("malformed", "not a PAYMENT_RESULT notification")
    if status == "S" and result.get("resultCode") == "SUCCESS":
        return TradeStatus.PAID
    if status == "F":
        return TradeStatus.FAILED
    raise NotificationRejected("malformed", "the result is neither S SUCCESS nor F")


def trade_from_inquiry(out_trade_no: str, answer: Mapping[str, Any]) -> ProviderTrade:
    status = answer.get("paymentStatus")
    if not isinstance(status, str) or status not in PAYMENT_STATUSES:
        raise ProviderError(f"Alipay+ answered an unknown paymentStatus {str(status)[:40]!r}")
    try:
        amount = payment_amount(answer["paymentAmount"]) if "paymentAmount" in answer else None
        paid_at = optional_time(answer.get("paymentTime"))
    except NotificationRejected as error:
        raise ProviderError(f"Alipay+ answered a malformed payment: {error}") from error
    payment_id = answer.get("paymentId")
    return ProviderTrade(
        out_trade_no=out_trade_no,
        status=PAYMENT_STATUSES[status],
        amount=amount,
        provider_trade_no=payment_id if isinstance(payment_id, str) else None,
        paid_at=paid_at if PAYMENT_STATUSES[status] is TradeStatus.PAID else None,
    )


def refund_from_answer(out_refund_no: str, answer: Mapping[str, Any]) -> ProviderRefund:
    """A ``payments/refund`` answer: S paid back, U in process, F refused with its code."""
    result = answer_result(answer)
    status, code = result["resultStatus"], result["resultCode"]
    if status == "F" and code not in NOT_ANSWERS:
        reason = f"{code} {result['resultMessage'][:200]}".strip()
        return ProviderRefund(
            out_refund_no=out_refund_no, status=RefundStatus.FAILED, reason=reason
        )
    if status == "S":
        return _refund(out_refund_no, RefundStatus.SUCCEEDED, answer)
    if (status, code) == ("U", "REFUND_IN_PROCESS"):
        return _refund(out_refund_no, RefundStatus.PROCESSING, answer)
    raise ProviderError(f"Alipay+ did not decide the refund: {said(result)}")


def refund_from_inquiry(out_refund_no: str, answer: Mapping[str, Any]) -> ProviderRefund:
    """A successful ``payments/inquiryRefund`` answer, by its ``refundStatus``."""
    status = answer.get("refundStatus")
    if not isinstance(status, str) or status not in REFUND_STATUSES:
        raise ProviderError(f"Alipay+ answered an unknown refundStatus {str(status)[:40]!r}")
    if REFUND_STATUSES[status] is RefundStatus.FAILED:
        return ProviderRefund(
            out_refund_no=out_refund_no, status=RefundStatus.FAILED, reason=status
        )
    return _refund(out_refund_no, REFUND_STATUSES[status], answer)


def _refund(out_refund_no: str, status: RefundStatus, answer: Mapping[str, Any]) -> ProviderRefund:
    if answer.get("refundRequestId") not in (None, out_refund_no):
        raise ProviderError("Alipay+ answered about another refund")
    try:
        amount = payment_amount(answer["refundAmount"]) if "refundAmount" in answer else None
        refunded_at = optional_time(answer.get("refundTime"))
    except NotificationRejected as error:
        raise ProviderError(f"Alipay+ answered a malformed refund: {error}") from error
    refund_id = answer.get("refundId")
    return ProviderRefund(
        out_refund_no=out_refund_no,
        status=status,
        amount=amount,
        provider_refund_no=refund_id if isinstance(refund_id, str) else None,
        refunded_at=refunded_at if status is RefundStatus.SUCCEEDED else None,
    )
