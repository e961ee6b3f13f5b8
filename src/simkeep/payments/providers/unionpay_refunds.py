"""UnionPay refunds (退货), merchant side: the refund's ``txnTime`` and reading what the
gateway says about a refund into ``ProviderRefund``.

Design overview
---------------
UnionPay finds a refund, like a consume, by ``merId``, ``orderId`` and ``txnTime``, and
``query_refund`` is given our refund number only. So, as for consumes, ``txnTime`` is
derived from the number, which carries the refund's date (``F<yyMMdd><id>``, the same date
in Hong Kong and Beijing): midnight, Beijing time, of that day. Every retry of one refund
and every query of it send the same ``txnTime``.

A query answers ``respCode`` 00 and the refund's own result in ``origRespCode``: 00 paid
back, 03/04/05 still in process, anything else refused for good (its code and message are
kept as the reason).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from simkeep.payment_methods import Provider
from simkeep.payments.model import (
    NotificationRejected,
    ProviderError,
    ProviderRefund,
    RefundNotification,
    RefundStatus,
)
from simkeep.payments.providers.unionpay_signing import (
    SUCCESS,
    beijing_time,
    parse_amount,
    parse_beijing_time,
    trace_instant,
)

REFUND_TYPE = ("04", "00")  # txnType, txnSubType of a refund (退货)
REFUND_FRESHNESS = timedelta(days=4)  # its txnTime is the midnight of the refund's date
REFUND_NO = re.compile(r"^F([0-9]{6})[0-9A-Za-z]{1,25}$")  # ACP orderId: 8-32, no - or _
IN_PROCESS = frozenset({"03", "04", "05"})  # 交易状态未明 / 已受理: ask again later


def refund_txn_time(out_refund_no: str) -> str:
    """The refund's ``txnTime``: midnight, Beijing time, of the refund number's date."""
    match = REFUND_NO.fullmatch(out_refund_no)
    if match is None:
        raise ValueError(f"{out_refund_no!r} is not a refund number F<yyMMdd><id>")
    try:
        return beijing_time(parse_beijing_time(f"20{match.group(1)}000000"))
    except ValueError as error:
        raise ValueError(f"{out_refund_no!r} carries no valid date") from error


def said(answer: Mapping[str, str], code: str = "respCode", message: str = "respMsg") -> str:
    """A UnionPay code and its message, as a refusal's reason."""
    return f"{answer.get(code, '')} {answer.get(message, '')}".strip()


def failed(out_refund_no: str, reason: str) -> ProviderRefund:
    return ProviderRefund(out_refund_no=out_refund_no, status=RefundStatus.FAILED, reason=reason)


def refund_notification(fields: Mapping[str, str], *, now: datetime) -> RefundNotification:
    """A verified back-notification of one of our refunds: its outcome (``respCode``), as a
    query's ``origRespCode`` would say it."""
    order_id = fields["orderId"]
    try:
        txn_time = parse_beijing_time(fields["txnTime"])
    except ValueError as error:
        raise NotificationRejected("malformed", str(error)) from error
    if not now - REFUND_FRESHNESS <= txn_time <= now:
        raise NotificationRejected("stale", f"txnTime {fields['txnTime']} is out of window")
    outcome = {"origRespCode": fields["respCode"], "origRespMsg": fields.get("respMsg", "")}
    as_queried = {**fields, **outcome}
    try:
        refund = refund_from_query(order_id, as_queried)
    except ProviderError as error:
        raise NotificationRejected("malformed", str(error)) from error
    return RefundNotification(
        provider=Provider.UNIONPAY,
        notification_id=f"{fields['queryId']}{fields['respCode']}",
        out_trade_no=fields.get("origQryId", ""),
        refund=refund,
    )


def refund_from_query(out_refund_no: str, answer: Mapping[str, str]) -> ProviderRefund:
    """A query's ``respCode`` 00 answer about one refund, by its ``origRespCode``."""
    orig = answer.get("origRespCode", "")
    if orig not in IN_PROCESS and orig != SUCCESS:
        return failed(out_refund_no, said(answer, "origRespCode", "origRespMsg"))
    try:
        txn_time = parse_beijing_time(answer.get("txnTime", ""))
        amount = parse_amount(answer.get("txnAmt", ""), answer.get("currencyCode", ""))
        trace = answer.get("traceTime")
        refunded_at = trace_instant(trace, txn_time) if trace and orig == SUCCESS else None
    except ValueError as error:
        raise ProviderError(f"UnionPay answered a malformed refund: {error}") from error
    return ProviderRefund(
        out_refund_no=out_refund_no,
        status=RefundStatus.SUCCEEDED if orig == SUCCESS else RefundStatus.PROCESSING,
        amount=amount,
        provider_refund_no=answer.get("queryId") or None,
        refunded_at=refunded_at,
    )
