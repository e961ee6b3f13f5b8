"""WeChat Pay simulator's records: trades, notifications and their attempts, faults, v3 error
answers, the notifier's HTTP delivery, and the retry schedule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import httpx

# Seconds before each attempt: at once, then 15s/15s/30s/3m/10m/20m/30m×3/60m/3h×3/6h×2.
RETRY_SCHEDULE_SECONDS = (
    *(0, 15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600),
    *(10800, 10800, 10800, 21600, 21600),
)
ACCEPTED = frozenset({200, 204})
TRADE_TYPES = {"native": "NATIVE", "h5": "MWEB"}
DEMO_PASSWORD = "123456"  # noqa: S105 - printed on the cashier page on purpose

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

    @property
    def code_url(self) -> str:
        return f"weixin://wxpay/bizpayurl?pr={self.out_trade_no}"


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
