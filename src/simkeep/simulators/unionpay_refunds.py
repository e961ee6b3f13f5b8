"""UnionPay simulator's refunds (退货, ``txnType`` 04): what the gateway takes, its checks and
codes, and each refund's life.

Design overview
---------------
A refund names the consume by its ``queryId`` (``origQryId``) and is itself found by
``(orderId, txnTime)`` like any transaction, so its ``orderId`` may be no other
transaction's: the same one again is ``12`` 重复交易, whatever its terms, and nothing is
taken a second time. ``RefundBook.take`` checks, in this order: the amount is positive
integer minor units (``10``), the consume exists and is paid (``35``), the currency is the
consume's (``36``), and the refunds taken so far plus this one stay within what the consume
charged (``33``). A refund taken is added to the consume's ``refunded`` at once, so two
refunds racing for the last of it cannot both pass; it gives back its share of the consume's
fee then (``bill_rules.fee_back``: pro rata, the last refund what is left).

A taken refund is ``PROCESSING`` (query: ``origRespCode`` 05) and is paid back
``REFUND_SECONDS`` later (scaled by ``time_scale``), then ``SUCCEEDED`` (00), with its own
``traceNo``/``traceTime``/``settleDate``. The consume itself stays paid (a query of it still
says 00), as at UnionPay: a fully refunded consume simply has nothing left to refund.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simkeep.payments.providers.unionpay_signing import (
    AMOUNT,
    CURRENCIES,
    beijing_time,
    parse_beijing_time,
)
from simkeep.simulators.bill_rules import fee_back
from simkeep.simulators.unionpay_trades import GatewayRefusal, SimTrade, TradeState, digits

REFUND_SECONDS = 30  # from taken to paid back, before time_scale
REFUND_FIELDS = ("orderId", "txnTime", "origQryId", "txnAmt", "currencyCode", "backUrl")
PROCESSING, SUCCEEDED = "PROCESSING", "SUCCEEDED"
ORIG_RESP_CODES = {PROCESSING: ("05", "交易已受理"), SUCCEEDED: ("00", "成功[0000000]")}


@dataclass(slots=True)
class SimRefund:
    order_id: str
    txn_time: str
    query_id: str
    orig_query_id: str
    amount: int
    currency_code: str
    back_url: str
    due_at: datetime  # when it is paid back, and so booked
    fee_back: int = 0  # what of the consume's fee it gives back
    state: str = PROCESSING
    trace_no: str = ""
    trace_time: str = ""
    settle_date: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.order_id, self.txn_time)


class RefundBook:
    """The refunds of one simulator's consumes, by ``(orderId, txnTime)``."""

    def __init__(self, *, delay: timedelta) -> None:
        self.refunds: dict[tuple[str, str], SimRefund] = {}
        self._delay = delay

    def take(
        self, fields: Mapping[str, str], trades: Mapping[tuple[str, str], SimTrade], now: datetime
    ) -> SimRefund:
        """A refund of a paid consume, checked as UnionPay does; ``GatewayRefusal`` if not."""
        missing = [name for name in REFUND_FIELDS if not fields.get(name)]
        if missing:
            raise GatewayRefusal("13", f"报文交易要素缺失 missing fields: {', '.join(missing)}")
        key = (fields["orderId"], fields["txnTime"])
        if key in self.refunds or key in trades:
            raise GatewayRefusal("12", "重复交易 this orderId was taken already")
        try:
            parse_beijing_time(fields["txnTime"])
        except ValueError as error:
            raise GatewayRefusal("10", f"报文格式错误 {error}") from error
        if not AMOUNT.fullmatch(fields["txnAmt"]) or fields["currencyCode"] not in CURRENCIES:
            raise GatewayRefusal("10", "报文格式错误 txnAmt must be positive minor units")
        trade = _paid_consume(fields["origQryId"], trades.values())
        amount = int(fields["txnAmt"])
        if fields["currencyCode"] != trade.currency_code:
            raise GatewayRefusal("36", "与原交易信息不符 not the consume's currency")
        if trade.refunded + amount > trade.amount:
            raise GatewayRefusal("33", "交易金额超限 more than is left of the consume")
        back = fee_back(
            fee=trade.fee,
            total=trade.amount,
            refunded_before=trade.refunded,
            refund=amount,
            fee_back_before=trade.fee_refunded,
        )
        trade.refunded += amount
        trade.fee_refunded += back
        refund = SimRefund(
            order_id=key[0],
            txn_time=key[1],
            query_id=beijing_time(now)[2:] + digits(9),
            orig_query_id=trade.query_id,
            amount=amount,
            currency_code=trade.currency_code,
            back_url=fields["backUrl"],
            due_at=now + self._delay,
            fee_back=back,
        )
        self.refunds[key] = refund
        return refund

    def by_query_id(self, query_id: str) -> SimRefund | None:
        return next((r for r in self.refunds.values() if r.query_id == query_id), None)

    def pay_back_due(self, now: datetime) -> list[SimRefund]:
        """Pay back every refund whose time has come; the ones paid back just now."""
        paid = []
        for refund in self.refunds.values():
            if refund.state == PROCESSING and refund.due_at <= now:
                trace = beijing_time(refund.due_at)
                refund.state, refund.trace_time, refund.settle_date = (
                    SUCCEEDED,
                    trace[4:],
                    trace[4:8],
                )
                refund.trace_no = digits(6)
                paid.append(refund)
        return paid

    def records_of(self, query_id: str) -> list[dict[str, Any]]:
        """The refunds of one consume, by their ``orderId`` (the fault harness counts them)."""
        return [
            {"refund_no": r.order_id, "amount_minor": r.amount, "fee_refunded_minor": r.fee_back}
            for r in self.refunds.values()
            if r.orig_query_id == query_id
        ]

    def next_due(self) -> datetime | None:
        return min((r.due_at for r in self.refunds.values() if r.state == PROCESSING), default=None)


def refund_fields(refund: SimRefund) -> dict[str, str]:
    """What a query answer or a notification says of a refund."""
    fields = {
        "orderId": refund.order_id,
        "txnTime": refund.txn_time,
        "queryId": refund.query_id,
        "origQryId": refund.orig_query_id,
        "txnAmt": str(refund.amount),
        "currencyCode": refund.currency_code,
    }
    if refund.state == SUCCEEDED:
        fields.update(traceNo=refund.trace_no, traceTime=refund.trace_time)
        fields.update(settleDate=refund.settle_date, settleAmt=str(refund.amount))
        fields["settleCurrencyCode"] = refund.currency_code
    return fields


def _paid_consume(query_id: str, trades: Iterable[SimTrade]) -> SimTrade:
    for trade in trades:
        if trade.query_id == query_id and trade.state is TradeState.PAID:
            return trade
    raise GatewayRefusal("35", "原交易不存在或状态不正确 no paid consume has this queryId")
