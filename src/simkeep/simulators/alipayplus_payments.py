"""The AlipayHK (Alipay+) simulator's records: payments and their state machine (a paid one
with the fee Alipay+ charges the merchant), the test accounts, notifications and their
attempts, faults, AMS ``result`` answers, and the AMS retry schedule (0 s, 2 min, 10 min,
10 min, 1 h, 2 h, 6 h, 15 h: eight attempts)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from simkeep.clock import HONG_KONG, in_hong_kong
from simkeep.payments.providers.alipayplus_signing import parse_ams_time
from simkeep.simulators.delivery import Reply

RETRY_SCHEDULE_SECONDS = (0, 120, 600, 600, 3600, 7200, 21600, 54000)
DEFAULT_EXPIRY = timedelta(minutes=14)
CANCEL_UNTIL = time(0, 15)  # Hong Kong time, the day after the payment
CENTS = re.compile(r"^[1-9][0-9]{0,17}$")
DEMO_PASSWORD = "123456"  # noqa: S105 - printed on the cashier page on purpose
TRANSITIONS = {
    "PROCESSING": frozenset({"SUCCESS", "FAIL", "CANCELLED"}),
    "SUCCESS": frozenset({"CANCELLED"}),  # a refund, within the cancellable period
    "FAIL": frozenset({"CANCELLED"}),
    "CANCELLED": frozenset[str](),
}


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    balance: int  # HKD cents


ACCOUNTS = {
    "buyer@alipayhk.test": Account("Chan Tai Man", 10_000_00),
    "empty@alipayhk.test": Account("Wong Siu Ming", 0),  # every payment is declined
}
DEFAULT_ACCOUNT = "buyer@alipayhk.test"
DECLINED_ACCOUNT = "empty@alipayhk.test"


class SimulatorError(Exception):
    """An AMS ``result`` that is not a success."""

    def __init__(self, code: str, message: str, status: str = "F") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def answer(self) -> dict[str, Any]:
        return result(self.status, self.code, self.message)


@dataclass(slots=True)
class Faults:
    """Notification faults, settable per simulator."""

    drop: bool = False
    duplicate: bool = False
    bad_signature: bool = False
    tampered_amount: bool = False
    stale_timestamp: bool = False


@dataclass(slots=True)
class SimPayment:
    payment_request_id: str
    payment_id: str
    amount: int
    currency: str
    description: str
    notify_url: str
    redirect_url: str | None
    terminal_type: str
    created_at: datetime
    expires_at: datetime
    state: str = "PROCESSING"
    result: tuple[str, str, str] = ("U", "PAYMENT_IN_PROCESS", "payment in process")
    paid_at: datetime | None = None
    payer: str | None = None
    cancelled_at: datetime | None = None
    fee: int = 0  # cents Alipay+ charges the merchant for it, once paid
    refunded: int = 0  # cents paid back by refunds so far
    fee_refunded: int = 0  # what of the fee those refunds gave back


@dataclass(slots=True)
class Delivery:
    """One notification and its attempts; ``signed_body`` differs when the amount is tampered."""

    payment_request_id: str
    url: str
    body: bytes
    signed_body: bytes
    next_at: datetime
    attempts: int = 0
    replies: list[Reply] = field(default_factory=list)
    acknowledged: bool = False
    done: bool = False


def accepted(reply: Reply) -> bool:
    """The merchant took it: HTTP 200 and the fixed ``result`` ``S`` / ``SUCCESS``."""
    if reply.status != 200:
        return False
    try:
        result = json.loads(reply.body).get("result")
    except (ValueError, AttributeError):
        return False
    return isinstance(result, dict) and (result.get("resultStatus"), result.get("resultCode")) == (
        "S",
        "SUCCESS",
    )


def result(status: str, code: str, message: str) -> dict[str, Any]:
    return {"result": {"resultCode": code, "resultStatus": status, "resultMessage": message}}


def cancellable_until(payment: SimPayment) -> datetime:
    paid = in_hong_kong(payment.paid_at or payment.created_at)
    return datetime.combine(paid.date() + timedelta(days=1), CANCEL_UNTIL, tzinfo=HONG_KONG)


def required_text(request: Mapping[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value:
        raise SimulatorError("PARAM_ILLEGAL", f"{name} is required")
    return value


def payment_from(request: Mapping[str, Any], now: datetime) -> SimPayment:
    if request.get("productCode") != "CASHIER_PAYMENT":
        raise SimulatorError("PARAM_ILLEGAL", "productCode must be CASHIER_PAYMENT")
    method, order, env = (request.get(n) for n in ("paymentMethod", "order", "env"))
    if not isinstance(method, dict) or method.get("paymentMethodType") != "ALIPAY_HK":
        raise SimulatorError("PAYMENT_METHOD_NOT_SUPPORTED", "only ALIPAY_HK is offered here")
    if not isinstance(order, dict) or not isinstance(env, dict):
        raise SimulatorError("PARAM_ILLEGAL", "order and env are required")
    if env.get("terminalType") not in ("WEB", "WAP"):
        raise SimulatorError("PARAM_ILLEGAL", "env.terminalType must be WEB or WAP")
    redirect = request.get("paymentRedirectUrl")
    return SimPayment(
        payment_request_id=required_text(request, "paymentRequestId"),
        payment_id=f"{in_hong_kong(now):%Y%m%d%H%M%S}{secrets.randbelow(10**18):018d}",
        amount=_cents(request.get("paymentAmount"), order.get("orderAmount")),
        currency="HKD",
        description=required_text(order, "orderDescription"),
        notify_url=required_text(request, "paymentNotifyUrl"),
        redirect_url=redirect if isinstance(redirect, str) and redirect else None,
        terminal_type=str(env["terminalType"]),
        created_at=now,
        expires_at=_expiry(request.get("paymentExpiryTime"), now),
    )


def _cents(amount: object, ordered: object) -> int:
    """HKD cents, positive, written as digits, and the same as the order's amount."""
    if not isinstance(amount, dict):
        raise SimulatorError("PARAM_ILLEGAL", "paymentAmount is required")
    value = amount.get("value")
    if not isinstance(value, str) or not CENTS.fullmatch(value):
        raise SimulatorError("PARAM_ILLEGAL", "paymentAmount.value must be positive cents")
    if amount != ordered or amount.get("currency") != "HKD":
        raise SimulatorError("CURRENCY_NOT_SUPPORT", "AlipayHK is paid in HKD, as ordered")
    return int(value)


def _expiry(text: object, now: datetime) -> datetime:
    if text is None:
        return now + DEFAULT_EXPIRY
    try:
        expires_at = parse_ams_time(str(text))
    except ValueError as error:
        raise SimulatorError("PARAM_ILLEGAL", "paymentExpiryTime is not ISO 8601") from error
    if expires_at <= now:
        raise SimulatorError("PARAM_ILLEGAL", "paymentExpiryTime is in the past")
    return expires_at
