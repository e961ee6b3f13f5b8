"""Alipay refunds, provider side: ``alipay.trade.refund`` and
``alipay.trade.fastpay.refund.query`` on an ``AlipaySimulator``'s gateway.

Design overview
---------------
``AlipayRefunds`` registers both methods on the simulator (``AlipaySimulator.extend``), so
they are checked and signed exactly as the trade methods are. A trade keeps its refunds by
the merchant's ``out_request_no``; a request without one is a refund of the whole trade,
numbered by its ``out_trade_no``, as at Alipay.

A refund is made once per ``out_request_no``: asked again with the same amount, it answers
with the refund already made and ``fund_change=N`` (nothing moves); with another amount it
is refused ``ACQ.DISCORDANT_REPEAT_REQUEST``. A new one must be positive
(``ACQ.REASON_TRADE_REFUND_FEE_ERR``), in the trade's currency (``ACQ.CURRENCY_NOT_SUPPORT``),
of a paid trade (``ACQ.TRADE_NOT_EXIST``, ``ACQ.TRADE_STATUS_ERROR`` unpaid,
``ACQ.TRADE_HAS_CLOSE``, ``ACQ.TRADE_HAS_FINISHED``) and keep the refunded total within what
was paid (``ACQ.REFUND_AMT_NOT_EQUAL_TOTAL``); the fault ``SELLER_BALANCE_NOT_ENOUGH`` refuses
it ``ACQ.SELLER_BALANCE_NOT_ENOUGH``. The answer's ``refund_fee`` is the trade's refunded
total; each refund gives back its share of the trade's fee (``bill_rules.fee_back``). A
trade refunded in full is ``TRADE_CLOSED``; each refund queues the notification
Alipay sends: ``TRADE_SUCCESS`` (or ``TRADE_CLOSED`` once refunded in full) with
``refund_fee``, ``gmt_refund`` and ``out_biz_no``.

The refund query answers ``refund_status=REFUND_SUCCESS`` with the refund's amount, and for a
number it does not know a success without ``refund_amount``; a trade it does not know is
``TRADE_NOT_EXIST`` (this method's own code, without the ``ACQ.`` prefix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from simkeep.clock import in_shanghai
from simkeep.money import InvalidAmount, Money
from simkeep.payments.providers.alipay_signing import GatewayRefusal, beijing_time, yuan
from simkeep.simulators.alipay_trades import AlipayFault, SimRefund, SimTrade
from simkeep.simulators.bill_rules import fee_back

if TYPE_CHECKING:
    from simkeep.simulators.alipay import AlipaySimulator

REFUND_METHOD = "alipay.trade.refund"
REFUND_QUERY_METHOD = "alipay.trade.fastpay.refund.query"
REFUSALS = {  # sub_code → Alipay's sub_msg
    "ACQ.DISCORDANT_REPEAT_REQUEST": "不一致的请求",
    "ACQ.REASON_TRADE_REFUND_FEE_ERR": "退款金额无效",
    "ACQ.CURRENCY_NOT_SUPPORT": "退款币种不支持",
    "ACQ.TRADE_STATUS_ERROR": "交易状态非法",
    "ACQ.TRADE_HAS_CLOSE": "交易已关闭",
    "ACQ.TRADE_HAS_FINISHED": "交易已完结",
    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL": "退款金额超限",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH": "卖家余额不足",
}
NOT_REFUNDABLE = {  # trade_status → why a new refund is refused
    "WAIT_BUYER_PAY": "ACQ.TRADE_STATUS_ERROR",
    "TRADE_CLOSED": "ACQ.TRADE_HAS_CLOSE",
    "TRADE_FINISHED": "ACQ.TRADE_HAS_FINISHED",
}


class AlipayRefunds:
    """The refunds of one simulated Alipay merchant app's trades."""

    def __init__(self, sim: AlipaySimulator) -> None:
        self.sim = sim
        sim.extend(
            handlers={REFUND_METHOD: self._refund, REFUND_QUERY_METHOD: self._query},
            redirects={},
        )

    def _refund(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        trade = self.sim.known_trade(biz)
        number = str(biz.get("out_request_no") or trade.out_trade_no)
        amount = _refund_amount(trade, biz)
        made = trade.refunds.get(number)
        if made is not None:  # a retry: the same refund again, nothing paid twice
            if made.amount != amount:
                _refuse("ACQ.DISCORDANT_REPEAT_REQUEST")
            return _answer(trade, made, fund_change="N")
        _check_refundable(trade, amount, whole=number == trade.out_trade_no)
        if AlipayFault.SELLER_BALANCE_NOT_ENOUGH in self.sim.faults:
            _refuse("ACQ.SELLER_BALANCE_NOT_ENOUGH")
        now = self.sim.clock.now()
        reason = str(biz.get("refund_reason", ""))
        refund = SimRefund(number, amount, reason, now, fee_back=_fee_back(trade, amount))
        trade.refunds[number] = refund
        if trade.refunded == trade.amount:
            trade.status = "TRADE_CLOSED"  # Alipay closes a trade refunded in full
        self.sim.queue_notification(trade, now)
        return _answer(trade, refund, fund_change="Y")

    def _query(self, params: Mapping[str, str], biz: dict[str, Any]) -> dict[str, str]:
        trade = self.sim.known_trade(biz, missing="TRADE_NOT_EXIST")
        answer = {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}
        number = str(biz.get("out_request_no") or trade.out_trade_no)
        refund = trade.refunds.get(number)
        if refund is None:  # Alipay's "no such refund": a success saying nothing
            return answer
        answer |= {
            "out_request_no": number,
            "total_amount": yuan(trade.amount),
            "refund_amount": yuan(refund.amount),
            "refund_status": "REFUND_SUCCESS",
            "refund_reason": refund.reason,
        }
        options = biz.get("query_options")
        if isinstance(options, list) and "gmt_refund_pay" in options:
            answer["gmt_refund_pay"] = beijing_time(refund.refunded_at)
        return answer


def refund_fields(trade: SimTrade) -> dict[str, str]:
    """What a notification after a refund adds: the refunded total, the latest refund's time
    (Alipay's ``gmt_refund`` has milliseconds) and number, and when a full refund closed it."""
    if not trade.refunds:
        return {}
    latest = list(trade.refunds.values())[-1]
    at = in_shanghai(latest.refunded_at)
    fields = {
        "refund_fee": yuan(trade.refunded),
        "gmt_refund": f"{beijing_time(at)}.{at.microsecond // 1000:03d}",
        "out_biz_no": latest.out_request_no,
    }
    if trade.status == "TRADE_CLOSED":
        fields["gmt_close"] = beijing_time(at)
    return fields


def _fee_back(trade: SimTrade, amount: Money) -> Money:
    """What of the trade's fee this refund gives back (``bill_rules.fee_back``)."""
    fee = trade.fee or Money.zero(trade.amount.currency)
    back = fee_back(
        fee=fee.minor,
        total=trade.amount.minor,
        refunded_before=trade.refunded.minor,
        refund=amount.minor,
        fee_back_before=trade.fee_given_back.minor,
    )
    return Money(back, fee.currency)


def _refund_amount(trade: SimTrade, biz: Mapping[str, Any]) -> Money:
    currency = str(biz.get("refund_currency") or trade.amount.currency)
    if currency != trade.amount.currency:
        _refuse("ACQ.CURRENCY_NOT_SUPPORT")
    try:
        amount = Money.parse(str(biz.get("refund_amount", "")), currency)
    except InvalidAmount:
        amount = Money.zero(currency)  # unreadable: as invalid as nothing
    if amount.minor <= 0:
        _refuse("ACQ.REASON_TRADE_REFUND_FEE_ERR")
    return amount


def _check_refundable(trade: SimTrade, amount: Money, *, whole: bool) -> None:
    refused = NOT_REFUNDABLE.get(trade.status)
    if refused is not None:
        _refuse(refused)
    # Without an out_request_no only the whole trade may be refunded, in one go.
    if trade.refunded + amount > trade.amount or (whole and amount != trade.amount):
        _refuse("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")


def _answer(trade: SimTrade, refund: SimRefund, *, fund_change: str) -> dict[str, str]:
    return {
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "buyer_logon_id": "159****5620",
        "buyer_user_id": "2088102177846880",
        "fund_change": fund_change,
        "refund_fee": yuan(trade.refunded),  # the trade's refunded total, not this refund
        "gmt_refund_pay": beijing_time(refund.refunded_at),
    }


def _refuse(sub_code: str) -> NoReturn:
    raise GatewayRefusal("40004", sub_code, REFUSALS[sub_code])
