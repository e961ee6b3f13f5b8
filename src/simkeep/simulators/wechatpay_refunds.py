"""WeChat Pay v3 refunds, platform side: what a refund request asks, whether its trade can
give it, and the refund as WeChat Pay answers and notifies it — for the Mainland API
(``/v3/refund/domestic/refunds``) and the global one (``/v3/global/refunds``) alike.

Design overview
---------------
The merchant's ``out_refund_no`` names one refund for good: asked again on the same terms,
WeChat Pay answers with that refund and pays nothing more; on other terms it refuses
(``INVALID_REQUEST``). A new refund is refused, with WeChat Pay's codes, when:

* the request is malformed — a refund number other than 1-64 of ``[0-9A-Za-z_-|*@]``, no
  order named, an amount that is not a positive integer, a reason over 80 characters, and on
  the global API another merchant's ``mchid``/``appid`` (400 ``PARAM_ERROR``);
* its trade is unknown or was never paid (404 ``RESOURCE_NOT_EXISTS``: WeChat Pay's refund
  API knows only paid orders, "未支付的订单不能发起退款");
* it is in another currency than the trade (400 ``PARAM_ERROR``);
* ``amount.total`` is not what the trade charged, or the trade's refunds would come to more
  than it charged — a wholly refunded trade among them (400 ``INVALID_REQUEST``);
* the merchant's account cannot fund it (403 ``NOT_ENOUGH``; see ``refund_funds``).

A refund taken turns its trade's ``trade_state`` to ``REFUND`` and adds to what the trade
has paid back (``SimTrade.refunded``). It is ``PROCESSING`` until its ``success_time``, a
time-scaled minute later, then ``SUCCESS``, when its ``REFUND.SUCCESS`` notification is
due at the refund's ``notify_url`` if it named one. What goes back to a payer who paid in
another currency is the same share of what they paid, rounded so that the shares add up; what
goes back to the merchant of WeChat Pay's fee is the refund's share of it
(``bill_rules.fee_back``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from simkeep.clock import in_shanghai
from simkeep.payments.providers.wechatpay_api import V3Api
from simkeep.simulators.bill_rules import fee_back
from simkeep.simulators.wechatpay_trades import PAID_STATES, SimRefund, SimTrade, SimulatorError

REFUND_SECONDS = 60  # from PROCESSING to SUCCESS, before the time scale
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
REASON_CHARS = 80
RECEIVED_ACCOUNT = "支付用户零钱"  # the payer's WeChat balance, where a balance payment returns


@dataclass(frozen=True, slots=True)
class RefundTerms:
    """What one refund request asks for."""

    out_refund_no: str
    out_trade_no: str
    transaction_id: str
    refund: int
    total: int
    currency: str
    reason: str
    notify_url: str


def refund_terms(order: Mapping[str, Any], *, api: V3Api, mchid: str, appid: str) -> RefundTerms:
    """The terms of a refund request, or 400 ``PARAM_ERROR``."""
    if api.merchant_in_refunds and (order.get("mchid"), order.get("appid")) != (mchid, appid):
        raise SimulatorError(400, "PARAM_ERROR", "appid and mchid must be the merchant's")
    number = order.get("out_refund_no")
    if not isinstance(number, str) or not OUT_REFUND_NO.fullmatch(number):
        raise SimulatorError(400, "PARAM_ERROR", "out_refund_no is 1-64 of 0-9A-Za-z_-|*@")
    names = ("out_trade_no", "transaction_id", "reason", "notify_url")
    texts = {name: order.get(name, "") for name in names}
    if not all(isinstance(text, str) for text in texts.values()):
        raise SimulatorError(400, "PARAM_ERROR", f"{', '.join(names)} are strings")
    if not (texts["out_trade_no"] or texts["transaction_id"]):
        raise SimulatorError(400, "PARAM_ERROR", "transaction_id or out_trade_no is needed")
    if len(texts["reason"]) > REASON_CHARS:
        raise SimulatorError(400, "PARAM_ERROR", f"reason is at most {REASON_CHARS} characters")
    amount = order.get("amount")
    if not isinstance(amount, dict):
        raise SimulatorError(400, "PARAM_ERROR", "amount is needed")
    refund, total, currency = (amount.get(name) for name in ("refund", "total", "currency"))
    if not (_positive(refund) and _positive(total) and isinstance(currency, str)):
        raise SimulatorError(400, "PARAM_ERROR", "amount.refund and amount.total must be > 0")
    return RefundTerms(out_refund_no=number, refund=refund, total=total, currency=currency, **texts)


def refunded_trade(trades: Mapping[str, SimTrade], terms: RefundTerms) -> SimTrade:
    """The paid trade a refund pays back, or 404 ``RESOURCE_NOT_EXISTS``."""
    if terms.out_trade_no:
        trade = trades.get(terms.out_trade_no)
    else:
        trade = next((t for t in trades.values() if t.transaction_id == terms.transaction_id), None)
    if trade is None or terms.transaction_id not in ("", trade.transaction_id):
        raise SimulatorError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    if trade.state not in PAID_STATES:
        raise SimulatorError(404, "RESOURCE_NOT_EXISTS", "订单不存在：未支付的订单不能发起退款")
    return trade


def check_refundable(trade: SimTrade, terms: RefundTerms) -> None:
    """Refuse (400) a refund its trade cannot give: another currency, another total, more
    than is left to pay back."""
    if terms.currency != trade.currency:
        raise SimulatorError(400, "PARAM_ERROR", f"退款币种 must be the order's {trade.currency}")
    if terms.total != trade.total:
        raise SimulatorError(400, "INVALID_REQUEST", "amount.total is not what the order charged")
    if trade.refunded >= trade.total:
        raise SimulatorError(400, "INVALID_REQUEST", "订单已全额退款")
    if trade.refunded + terms.refund > trade.total:
        left = trade.total - trade.refunded
        raise SimulatorError(400, "INVALID_REQUEST", f"申请退款金额超过订单可退金额 ({left})")


def same_refund(known: SimRefund, terms: RefundTerms) -> SimRefund:
    """The refund already made under this number, when asked again on the same terms."""
    asked = (terms.out_trade_no or known.out_trade_no, terms.refund, terms.total)
    if asked != (known.out_trade_no, known.refund, known.total) or terms.transaction_id not in (
        "",
        known.transaction_id,
    ):
        raise SimulatorError(400, "INVALID_REQUEST", "out_refund_no was used on other terms")
    return known


def take_refund(trade: SimTrade, terms: RefundTerms, *, now: datetime, done: datetime) -> SimRefund:
    """Record a new refund of ``trade``, in process from ``now`` until ``done``."""
    before, after = trade.refunded, trade.refunded + terms.refund
    payer_refund = _share(trade, after) - _share(trade, before)
    fee_refunded = fee_back(
        fee=trade.fee,
        total=trade.total,
        refunded_before=before,
        refund=terms.refund,
        fee_back_before=trade.fee_refunded,
    )
    trade.refunded, trade.state = after, "REFUND"
    trade.fee_refunded += fee_refunded
    return SimRefund(
        out_refund_no=terms.out_refund_no,
        out_trade_no=trade.out_trade_no,
        transaction_id=trade.transaction_id,
        refund_id="50" + "".join(secrets.choice("0123456789") for _ in range(27)),
        refund=terms.refund,
        total=trade.total,
        currency=trade.currency,
        payer_refund=payer_refund,
        payer_total=trade.payer_total,
        payer_currency=trade.payer_currency,
        reason=terms.reason,
        notify_url=terms.notify_url,
        create_time=now,
        success_time=done,
        fee_refunded=fee_refunded,
    )


def refund_answer(refund: SimRefund, api: V3Api, now: datetime) -> dict[str, Any]:
    """A refund as WeChat Pay answers a request for it or a query of it."""
    status = refund.status(now)
    answer: dict[str, Any] = {
        api.refund_id: refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": RECEIVED_ACCOUNT,
        "create_time": _rfc3339(refund.create_time),
        "status": status,
        "funds_account": "AVAILABLE",
        "amount": {
            **_amount(refund, refund.refund),
            "from": [],
            "settlement_refund": refund.refund,
            "settlement_total": refund.total,
            "discount_refund": 0,
            "currency": refund.currency,
            "payer_currency": refund.payer_currency,
        },
        "promotion_detail": [],
    }
    if status == "SUCCESS":
        answer["success_time"] = _rfc3339(refund.success_time)
    return answer


def refund_resource(refund: SimRefund, *, mchid: str, api: V3Api, amount: int) -> dict[str, Any]:
    """The decrypted plaintext of a ``REFUND.SUCCESS`` notification, of ``amount``."""
    return {
        "mchid": mchid,
        "transaction_id": refund.transaction_id,
        "out_trade_no": refund.out_trade_no,
        api.refund_id: refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "refund_status": "SUCCESS",
        "success_time": _rfc3339(refund.success_time),
        "user_received_account": RECEIVED_ACCOUNT,
        "amount": _amount(refund, amount) | _currencies(refund, api),
    }


def _currencies(refund: SimRefund, api: V3Api) -> dict[str, str]:
    """The global API names the currencies of a notification's amounts; the Mainland one's
    are yuan and unnamed."""
    if api.implied_currency is not None:
        return {}
    return {"currency": refund.currency, "payer_currency": refund.payer_currency}


def _amount(refund: SimRefund, amount: int) -> dict[str, Any]:
    return {
        "total": refund.total,
        "refund": amount,
        "payer_total": refund.payer_total,
        "payer_refund": refund.payer_refund,
    }


def _share(trade: SimTrade, refunded: int) -> int:
    """What of the payer's own payment goes back once ``refunded`` of the total has, half up."""
    return (2 * trade.payer_total * refunded + trade.total) // (2 * trade.total)


def _positive(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _rfc3339(instant: datetime) -> str:
    return in_shanghai(instant).isoformat(timespec="seconds")
