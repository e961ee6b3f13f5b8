"""Payment types shared by every provider adapter: pure data, no I/O.

Design overview
---------------
A provider adapter turns an order into a way to pay (a redirect URL or a QR payload), asks
the provider what became of a trade, closes unpaid trades, and turns a raw notification into
a ``VerifiedNotification`` — or refuses it with ``NotificationRejected`` and a reason. Only a
verified notification or a server-side query may ever lead to a credit, and only after the
amount, currency and merchant match the stored order (done by the payments service).

A paid trade is paid back with ``refund``: ``out_refund_no`` is ours and stays the same on
every retry of one refund, so asking twice (after a timeout, after a crash) returns that
refund, never a second one; ``query_refund`` says what became of it. Several refunds of one
trade (partial refunds) each have their own ``out_refund_no``. A provider that notifies a
refund's outcome gets it verified into a ``RefundNotification``.

``bill`` fetches the provider's bill of a day for reconciliation, checked against its own
digest and totals and read into a ``reconciliation.bill.Bill``.

``InboxRecord`` is what the inbox keeps of a notification: a verified one whole (the edge
has already capped its body), a refused one — forged, stale, unsigned: anyone can send
those — only as a bounded record (its size, SHA-256 digest and first bytes, the reason cut
short, and its headers each cut short), so a flood of forgeries cannot fill the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

from simkeep.money import Money
from simkeep.payment_methods import Channel, Provider
from simkeep.reconciliation.bill import Bill

OUT_TRADE_NO_PATTERN = r"^[A-Za-z0-9_]{6,32}$"  # fits both Alipay and WeChat Pay
REFUSED_PREFIX_BYTES = 256  # of a refused notification's body, enough to tell what it was
REFUSED_HEADERS = 32  # headers kept of a refused notification, each one cut as short
REASON_CHARS = 500


class TradeStatus(StrEnum):
    UNPAID = "unpaid"  # created, or not yet opened by the payer
    PAID = "paid"
    CLOSED = "closed"  # closed unpaid, or fully refunded
    FAILED = "failed"


class NotificationRejected(Exception):
    """A notification that must credit nothing: forged, tampered, stale, unknown, malformed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def json_object(data: bytes, *, what: str = "the body") -> dict[str, Any]:
    """``data`` as a JSON object; ``NotificationRejected`` (malformed) otherwise."""
    try:
        value = json.loads(data)
    except ValueError as error:
        raise NotificationRejected("malformed", f"{what} is not JSON") from error
    if not isinstance(value, dict):
        raise NotificationRejected("malformed", f"{what} is not a JSON object")
    return value


class ProviderError(Exception):
    """The provider answered with an error or could not be reached."""


class CurrencyNotSupported(ValueError):
    """The provider is not taken in the order's currency here; convert before asking to pay."""


def require_currency(amount: Money, accepted: Collection[str], *, provider: str) -> None:
    """Refuse to start a payment of ``amount`` at ``provider`` unless it takes the currency."""
    if amount.currency not in accepted:
        taken = ", ".join(sorted(accepted))
        raise CurrencyNotSupported(f"{provider} takes {taken}, not {amount.currency}")


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    out_trade_no: str
    amount: Money
    subject: str
    channel: Channel
    notify_url: str
    return_url: str | None
    expires_at: datetime
    payer_ip: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class PaymentStart:
    """Where to send the payer: a URL to redirect to (or, with ``form``, to post those
    signed fields to from the payer's browser), or a payload to show as a QR code."""

    redirect_url: str | None = None
    qr_payload: str | None = None
    form: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ProviderTrade:
    """What the provider says about a trade when asked."""

    out_trade_no: str
    status: TradeStatus
    amount: Money | None = None
    provider_trade_no: str | None = None
    paid_at: datetime | None = None


class RefundStatus(StrEnum):
    PROCESSING = "processing"  # accepted, not yet paid out
    SUCCEEDED = "succeeded"  # the money is on its way back to the payer
    FAILED = "failed"  # refused for good: nothing went back


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """One refund of a paid trade, in the currency the payer paid."""

    out_trade_no: str
    out_refund_no: str  # ours, reused on every retry of this refund
    amount: Money  # this refund
    total: Money  # what the trade charged
    reason: str
    provider_trade_no: str | None = None
    payer_account: str | None = None  # where a pushed payment goes back (FPS: the proxy)
    notify_url: str | None = None  # where the provider tells the refund's outcome, if it does


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    """What the provider says about one refund."""

    out_refund_no: str
    status: RefundStatus
    amount: Money | None = None
    provider_refund_no: str | None = None
    refunded_at: datetime | None = None
    reason: str | None = None  # why it failed, as the provider put it


@dataclass(frozen=True, slots=True)
class RawNotification:
    """A notification exactly as it arrived: headers, raw body bytes, query string."""

    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """What the inbox keeps of one notification (``body`` is a prefix unless verified)."""

    headers: dict[str, str]
    body: bytes
    body_size: int
    body_sha256: str
    error: str | None

    @classmethod
    def of(cls, raw: RawNotification, *, verified: bool, error: str | None) -> InboxRecord:
        headers = dict(raw.headers)
        body = raw.body
        if not verified:
            kept = list(headers.items())[:REFUSED_HEADERS]
            headers = {n[:REFUSED_PREFIX_BYTES]: v[:REFUSED_PREFIX_BYTES] for n, v in kept}
            body = body[:REFUSED_PREFIX_BYTES]
        return cls(
            headers=headers,
            body=body,
            body_size=len(raw.body),
            body_sha256=hashlib.sha256(raw.body).hexdigest(),
            error=error[:REASON_CHARS] if error is not None else None,
        )


@dataclass(frozen=True, slots=True)
class VerifiedNotification:
    """A notification whose signature verified; its claims still need checking against the
    stored order (amount, currency, merchant) before anything is believed."""

    provider: Provider
    notification_id: str
    out_trade_no: str
    status: TradeStatus
    amount: Money
    merchant_id: str
    app_id: str
    provider_trade_no: str
    paid_at: datetime | None
    raw: Mapping[str, object]
    payer_account: str | None = None  # as the provider reports it (FPS: the payer's proxy)


@dataclass(frozen=True, slots=True)
class RefundNotification:
    """A verified notification about one of our refunds (UnionPay's refund back-notification,
    WeChat Pay's ``REFUND.*``): what the provider says became of it, believed like its
    answer to ``query_refund``."""

    provider: Provider
    notification_id: str
    out_trade_no: str
    refund: ProviderRefund


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What to answer the provider: status code, content type, body."""

    status: int
    body: bytes
    content_type: str = "text/plain"


class PaymentProviderAdapter(Protocol):
    """The merchant side of one provider's protocol."""

    provider: Provider
    currencies: frozenset[str]  # what this provider charges in (Mainland wallets: CNY)

    def signs_locally(self, channel: Channel) -> bool:
        """True when starting a trade on ``channel`` asks the provider nothing (a signed
        redirect): the trade can then be started before its order is written."""
        ...

    async def start(self, request: PaymentRequest) -> PaymentStart:
        """Create the trade at the provider (or sign the redirect) and say how to pay."""
        ...

    async def query(self, out_trade_no: str) -> ProviderTrade:
        """Ask the provider what became of a trade (a trade it does not know is UNPAID)."""
        ...

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid trade so that it can no longer be paid."""
        ...

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """Ask the provider to pay back part or all of a paid trade; the same
        ``out_refund_no`` again answers with that refund, never pays a second."""
        ...

    async def query_refund(self, request: RefundRequest) -> ProviderRefund:
        """Ask what became of a refund (one the provider does not know is FAILED with the
        reason ``unknown``, so that it can be asked for again)."""
        ...

    def verify_notification(
        self, raw: RawNotification, *, now: datetime
    ) -> VerifiedNotification | RefundNotification:
        """Check signature, freshness and shape; raise ``NotificationRejected`` otherwise."""
        ...

    def acknowledge(self, accepted: bool) -> Acknowledgement:
        """The reply the provider expects (Alipay: ``success``; WeChat Pay: 204)."""
        ...

    async def bill(self, day: date) -> Bill:
        """The provider's bill of a Beijing day, downloaded the provider's way, its digest
        and totals checked, read into rows; ``BillNotReady`` while the provider has none,
        ``BillRefused`` when it does not add up."""
        ...
