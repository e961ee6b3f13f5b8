"""WeChat Pay simulator's records: trades and their refunds (each with the fee WeChat Pay
charges or gives back), notifications and their attempts,
faults, v3 error answers, the orders' terms, the notifier's HTTP delivery and the retry schedule.

The Mainland simulator's ``Deliver`` answers a bare status; ``replying`` makes it the generic
``simulators.delivery.Deliver`` the v3 notifier speaks, whose ``Reply`` ``accepted`` judges
by the v3 rule (200 or 204, whatever the body)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from simkeep.simulators import delivery

# Seconds before each attempt: at once, then 15s/15s/30s/3m/10m/20m/30m×3/60m/3h×3/6h×2.
RETRY_SCHEDULE_SECONDS = (
    *(0, 15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600),
    *(10800, 10800, 10800, 21600, 21600),
)
ACCEPTED = frozenset({200, 204})
PAID_STATES = frozenset({"SUCCESS", "REFUND"})  # REFUND: paid, then partly or wholly refunded
TRADE_TYPES = {"native": "NATIVE", "h5": "MWEB", "mweb": "MWEB"}  # by order endpoint
DEMO_PASSWORD = "123456"  # noqa: S105 - printed on the cashier page on purpose
SYMBOLS = {"CNY": "¥", "HKD": "HK$"}

Deliver = Callable[[str, Mapping[str, str], bytes], Awaitable[int]]


class SimulatorError(Exception):
    """A v3 error answer: HTTP status plus ``{"code", "message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class Faults:
    """Notification faults, settable per simulator."""

    drop: bool = False
    duplicate: bool = False
    bad_signature: bool = False
    signtest: bool = False
    tampered_amount: bool = False
    stale_timestamp: bool = False


@dataclass(slots=True)
class SimTrade:
    out_trade_no: str
    trade_type: str
    description: str
    total: int
    currency: str
    notify_url: str
    time_expire: datetime | None
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: datetime | None = None
    payer_total: int = 0  # what the payer's wallet paid, in its own currency
    payer_currency: str = ""
    refunded: int = 0  # what its refunds (in process or made) pay back, in ``currency``
    fee: int = 0  # what WeChat Pay charges the merchant, once paid, in ``currency``
    fee_refunded: int = 0  # what of the fee its refunds gave back

    @property
    def code_url(self) -> str:
        return f"weixin://wxpay/bizpayurl?pr={self.out_trade_no}"


@dataclass(slots=True)
class SimRefund:
    """One refund of a trade, by the merchant's ``out_refund_no``: in process until
    ``success_time``, then made."""

    out_refund_no: str
    out_trade_no: str
    transaction_id: str
    refund_id: str
    refund: int
    total: int
    currency: str
    payer_refund: int  # what goes back to the payer's wallet, in its own currency
    payer_total: int
    payer_currency: str
    reason: str
    notify_url: str
    create_time: datetime
    success_time: datetime
    fee_refunded: int  # what of the trade's fee this refund gives back to the merchant

    def status(self, now: datetime) -> str:
        return "SUCCESS" if now >= self.success_time else "PROCESSING"


@dataclass(slots=True)
class Delivery:
    """One notification and its attempts; ``signed_body`` differs when the amount is tampered."""

    out_trade_no: str
    url: str
    body: bytes
    signed_body: bytes
    next_at: datetime
    attempts: int = 0
    statuses: list[int] = field(default_factory=list)
    done: bool = False


async def http_deliver(url: str, headers: Mapping[str, str], body: bytes) -> int:
    """POST the notification over HTTP; an unreachable merchant counts as status 0."""
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, content=body, headers=dict(headers))
    except httpx.HTTPError:
        return 0
    return response.status_code


def price(minor: int, currency: str) -> str:
    """An amount as the cashier shows it: ``¥12.34``, ``HK$12.34``."""
    return f"{SYMBOLS.get(currency, currency + ' ')}{minor // 100}.{minor % 100:02d}"


def accepted(reply: delivery.Reply) -> bool:
    """Whether the merchant took a v3 notification: HTTP 200 or 204, whatever the body."""
    return reply.status in ACCEPTED


def replying(deliver: Deliver) -> delivery.Deliver:
    """A status-answering ``Deliver`` as the generic one, answering a ``Reply``."""

    async def send(url: str, headers: Mapping[str, str], body: bytes) -> delivery.Reply:
        return delivery.Reply(await deliver(url, headers, body))

    return send


def trade_from_order(
    *, kind: str, order: Mapping[str, Any], appid: str, mchid: str, currency: str
) -> SimTrade:
    """The trade a Native or H5 order asks for, or 400 ``PARAM_ERROR``."""
    if order.get("appid") != appid or order.get("mchid") != mchid:
        raise SimulatorError(400, "PARAM_ERROR", "appid and mchid must be the merchant's")
    amount = order.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    stated = amount.get("currency", "CNY") if isinstance(amount, dict) else None
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0 or stated != currency:
        raise SimulatorError(400, "PARAM_ERROR", f"amount.total must be positive, in {currency}")
    texts = [order.get(name) for name in ("out_trade_no", "description", "notify_url")]
    if not all(isinstance(text, str) and text for text in texts):
        raise SimulatorError(400, "PARAM_ERROR", "out_trade_no, description, notify_url needed")
    if TRADE_TYPES[kind] == "MWEB" and not isinstance(order.get("scene_info"), dict):
        raise SimulatorError(400, "PARAM_ERROR", "an H5 order needs scene_info")
    return SimTrade(
        out_trade_no=str(texts[0]),
        trade_type=TRADE_TYPES[kind],
        description=str(texts[1]),
        total=total,
        currency=currency,
        notify_url=str(texts[2]),
        time_expire=_parse_expiry(order.get("time_expire")),
    )


def _parse_expiry(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise SimulatorError(400, "PARAM_ERROR", "time_expire must be RFC 3339") from error
    if parsed.tzinfo is None:
        raise SimulatorError(400, "PARAM_ERROR", "time_expire needs an offset")
    return parsed
