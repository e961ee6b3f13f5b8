"""Payments: starting a payment, the notification inbox, polling unpaid orders and closing
expired trades.

Design overview
---------------
``checkout`` prepares the order (``topups.service.prepare_order``: the guard, the price, the
number), opens its trade and places it. A way to pay the adapter makes by itself (a signed
cashier link, a gateway's signed form, a QR code of our own) asks the provider nothing, so
it is made before the order is placed and written with it, which then awaits payment at
once. Otherwise ``start_payment`` asks the provider for the trade (a QR payload, a phone
cashier's link) outside any transaction, then records it on the order, which now awaits
payment; a second start returns what was recorded, so a reload never opens a second trade.

A payment the payer pushes with a reference (the registry's ``push``) is matched by
``payments.incoming``: to its order only by its exact number and amount, else kept for
review.

A notification is verified by its provider's adapter, then processed and stored raw with
its outcome in one transaction (kept forever; if processing fails, it is stored as
``failed`` on its own and the provider's retry processes it again). A refused one is kept
too, but only as a bounded record (``model.InboxRecord``: size, digest, first bytes,
reason), since anyone can send one. Only a verified ``PAID`` for a known order of the same
provider, for exactly the amount and currency of the order, credits it — through
``topups.service.credit_paid_order``, which credits once however many deliveries race. A
duplicate is acknowledged without a second credit; a ``CLOSED`` never moves an order
backwards; anything else is kept for the operator and not acknowledged.

Polling asks the provider about unpaid orders whose notification has not come, with
back-off (15 s doubling to 60 s), so a lost notification is credited within minutes. An
answer that credits the order, or that says it was paid another amount, is kept in the
inbox too (source ``poll``, the answer as the body); an order paid another amount credits
nothing and is polled no more — it is the operator's now — while the other orders due are
polled as usual. The return URL never credits anything.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.money import Money
from simkeep.payment_methods import PROVIDERS, Provider
from simkeep.payments import incoming
from simkeep.payments import statements as sql
from simkeep.payments.model import (
    Acknowledgement,
    InboxRecord,
    NotificationRejected,
    PaymentProviderAdapter,
    PaymentRequest,
    ProviderError,
    ProviderTrade,
    RawNotification,
    RefundNotification,
    TradeStatus,
    VerifiedNotification,
)
from simkeep.refunds import sending as refunds
from simkeep.topups import followup
from simkeep.topups import service as topups
from simkeep.topups.crediting import AmountMismatch, UnknownOrder
from simkeep.topups.model import ORDER_TTL, Order, OrderRequest, OrderState, TopupError

CLOSE_RETRY = timedelta(minutes=1)
log = structlog.get_logger(__name__)


TOPUP_SUBJECT = "中港卡充值"


class OrderNotPayable(TopupError):
    code = "order_not_payable"


class CurrencyNotAccepted(TopupError):
    code = "currency_not_accepted"


@dataclass(frozen=True, slots=True)
class CheckoutUrls:
    """Where providers reach us: the notify endpoint, and the status page payers return to."""

    public_url: str

    def notify(self, provider: Provider) -> str:
        return f"{self.public_url.rstrip('/')}/api/v1/payments/{provider.value}/notify"

    def status(self, order_no: str) -> str:
        return f"{self.public_url.rstrip('/')}/topups/{order_no}"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    accepted: bool


async def receive_notification(
    db: Database, *, adapter: PaymentProviderAdapter, raw: RawNotification, now: datetime
) -> Acknowledgement:
    """Verify, keep, process and answer one provider notification."""
    try:
        verified = adapter.verify_notification(raw, now=now)
    except NotificationRejected as rejected:
        error = f"{rejected.code}: {rejected}"
        await db.transaction(
            lambda conn: _store(conn, adapter.provider, raw, None, "rejected", error, now)
        )
        return adapter.acknowledge(False)

    async def process(conn: AsyncConnection) -> Outcome:
        if isinstance(verified, RefundNotification):
            status = await refunds.notified(conn, verified.provider, verified.refund, now=now)
            outcome = Outcome(status, accepted=status != refunds.UNKNOWN_REFUND)
        else:
            outcome = await _apply(conn, verified, now)
        await _store(conn, adapter.provider, raw, verified, outcome.status, None, now)
        return outcome

    try:
        outcome = await db.transaction(process)
    except Exception as error:  # kept all the same, for the operator; the provider retries
        failure = f"{type(error).__name__}: {error}"
        await db.transaction(
            lambda conn: _store(conn, adapter.provider, raw, verified, "failed", failure, now)
        )
        raise
    return adapter.acknowledge(outcome.accepted)


async def _store(
    conn: AsyncConnection,
    provider: Provider,
    raw: RawNotification,
    verified: VerifiedNotification | RefundNotification | None,
    status: str,
    error: str | None,
    now: datetime,
) -> None:
    """Keep a notification: whole if it verified, else as a bounded record."""
    await _keep(
        conn,
        provider=provider,
        source="notification",
        record=InboxRecord.of(raw, verified=verified is not None, error=error),
        notification_id=verified.notification_id if verified else None,
        order_no=verified.out_trade_no if verified else None,
        status=status,
        now=now,
    )


async def _keep(
    conn: AsyncConnection,
    *,
    provider: Provider,
    source: str,
    record: InboxRecord,
    notification_id: str | None,
    order_no: str | None,
    status: str,
    now: datetime,
) -> None:
    await sql.STORE_NOTIFICATION.execute(
        conn,
        provider=provider.value,
        source=source,
        notification_id=notification_id,
        order_no=order_no,
        headers=json.dumps(record.headers, ensure_ascii=False),
        body=record.body,
        body_size=record.body_size,
        body_sha256=record.body_sha256,
        status=status,
        error=record.error,
        now=now,
    )


async def _apply(conn: AsyncConnection, notice: VerifiedNotification, now: datetime) -> Outcome:
    if notice.status is TradeStatus.PAID and PROVIDERS[notice.provider].push:
        return Outcome(await incoming.take(conn, notice, now), accepted=True)
    if notice.status is not TradeStatus.PAID:
        order = await topups.get_order(conn, order_no=notice.out_trade_no)
        if order is None or order.provider is not notice.provider:
            return Outcome("unknown_order", accepted=False)
        return Outcome("ignored", accepted=True)  # never moves an order backwards
    try:
        result = await topups.credit_paid_order(
            conn,
            order_no=notice.out_trade_no,
            paid=notice.amount,
            provider_trade_no=notice.provider_trade_no,
            now=now,
            provider=notice.provider,
        )
    except UnknownOrder:
        return Outcome("unknown_order", accepted=False)
    except AmountMismatch:
        return Outcome("amount_mismatch", accepted=False)
    return Outcome("credited" if result.credited_now else "duplicate", accepted=True)


async def checkout(
    db: Database,
    *,
    adapter: PaymentProviderAdapter,
    request: OrderRequest,
    urls: CheckoutUrls,
    payer_ip: str,
    now: datetime,
    ttl: timedelta = ORDER_TTL,
) -> Order:
    """Place the order (or find it again by its idempotency key), to be paid within ``ttl``,
    and open its trade: a
    trade that asks the provider nothing (a signed redirect) is opened between preparing
    the order and placing it, and written with it; any other right after.

    A replay after a dropped connection returns the same order and the same way to pay. A
    currency the provider does not charge in, or a price other than the one the payer was
    shown, is refused before anything is written."""
    if request.pay_currency not in adapter.currencies:
        accepted = ", ".join(sorted(adapter.currencies))
        raise CurrencyNotAccepted(f"{adapter.provider.value} charges in {accepted} only")

    async def place(conn: AsyncConnection) -> Order:
        prepared = await topups.prepare_order(conn, request=request, now=now, ttl=ttl)
        if isinstance(prepared, Order):
            return prepared
        if adapter.signs_locally(request.channel):
            start = await adapter.start(_payment_request(prepared.order, urls, payer_ip))
            prepared = prepared.started(
                pay_url=start.redirect_url, pay_qr=start.qr_payload, pay_form=start.form
            )
        return await topups.place_order(conn, draft=prepared, now=now)

    # One transaction: a promotion that applies is reserved with the order, or neither is.
    order = await db.transaction(place)
    if order.state is not OrderState.CREATED:
        return order
    return await start_payment(db, adapter=adapter, order=order, urls=urls, payer_ip=payer_ip)


async def start_payment(
    db: Database,
    *,
    adapter: PaymentProviderAdapter,
    order: Order,
    urls: CheckoutUrls,
    payer_ip: str,
) -> Order:
    """Open the order's trade at its provider; the order then says where to pay.

    Starting again (a reload, a retried request) returns the same way to pay, and an order
    that can no longer be paid is refused before the provider is asked anything."""
    if order.state is OrderState.AWAITING_PAYMENT and (order.pay_url or order.pay_qr):
        return order
    if order.state is not OrderState.CREATED:
        raise OrderNotPayable(f"order {order.order_no} is {order.state.value}")
    start = await adapter.start(_payment_request(order, urls, payer_ip))

    async def record(conn: AsyncConnection) -> Order | None:
        return await followup.record_payment_start(
            conn,
            order_no=order.order_no,
            pay_url=start.redirect_url,
            pay_qr=start.qr_payload,
            pay_form=start.form,
        )

    started = await db.one_statement(record)
    if started is None:
        raise OrderNotPayable(f"no order {order.order_no}")
    return started


def _payment_request(order: Order, urls: CheckoutUrls, payer_ip: str) -> PaymentRequest:
    return PaymentRequest(
        out_trade_no=order.order_no,
        amount=order.pay,
        subject=f"{TOPUP_SUBJECT} {order.msisdn} {order.credit}",
        channel=order.channel,
        notify_url=urls.notify(order.provider),
        return_url=urls.status(order.order_no),
        expires_at=order.expires_at,
        payer_ip=payer_ip,
    )


async def poll_unpaid(
    db: Database,
    *,
    adapters: Mapping[Provider, PaymentProviderAdapter],
    now: datetime,
    limit: int = 100,
) -> int:
    """Ask the providers about unpaid orders that are due a poll; returns how many credited."""
    credited = 0
    for due in await db.transaction(lambda conn: followup.due_polls(conn, now=now, limit=limit)):
        adapter = adapters.get(due.provider)
        if adapter is None:
            continue
        try:
            trade = await adapter.query(due.order_no)
        except ProviderError:
            trade = None
        if trade is not None and trade.status is TradeStatus.PAID and trade.amount is not None:
            credited += await db.transaction(_credit_polled(due.provider, trade, trade.amount, now))
            continue
        wait = min(timedelta(seconds=15 * 2**due.attempts), timedelta(seconds=60))
        at = now + wait
        await db.transaction(
            lambda conn: followup.reschedule_poll(conn, order_no=due.order_no, due=at)  # noqa: B023 - awaited here
        )
    return credited


async def expire_unpaid(
    db: Database,
    *,
    adapters: Mapping[Provider, PaymentProviderAdapter],
    now: datetime,
    limit: int = 100,
) -> int:
    """Expire orders nobody paid in time and close their trades at the provider, so that
    they can no longer be paid; a close that fails is tried again a minute later (a trade
    paid just before closing is credited by the poll). Returns how many were closed."""
    await db.transaction(lambda conn: topups.expire_orders(conn, now=now))
    closed = 0
    for due in await db.transaction(lambda conn: followup.due_closes(conn, now=now, limit=limit)):
        adapter = adapters.get(due.provider)
        if adapter is None:
            continue
        try:
            await adapter.close(due.order_no)
        except ProviderError as error:
            log.warning("payments.close_failed", order_no=due.order_no, error=str(error))
            retry = now + CLOSE_RETRY
            await db.transaction(
                lambda conn: followup.retry_close(conn, order_no=due.order_no, due=retry)  # noqa: B023 - awaited here
            )
            continue
        await db.transaction(
            lambda conn: followup.record_closed(conn, order_no=due.order_no, now=now)  # noqa: B023 - awaited here
        )
        closed += 1
    return closed


def _credit_polled(
    provider: Provider, trade: ProviderTrade, paid: Money, now: datetime
) -> Callable[[AsyncConnection], Awaitable[int]]:
    """Credit an order the provider says is paid; 1 if it was credited now. An answer for
    another amount credits nothing, is kept, and ends the polling of that order."""

    async def keep(conn: AsyncConnection, status: str, error: str | None) -> None:
        answer = {
            "out_trade_no": trade.out_trade_no,
            "status": trade.status.value,
            "amount": {"minor": paid.minor, "currency": paid.currency},
            "provider_trade_no": trade.provider_trade_no,
            "paid_at": trade.paid_at.isoformat() if trade.paid_at else None,
        }
        body = json.dumps(answer, ensure_ascii=False).encode()
        await _keep(
            conn,
            provider=provider,
            source="poll",
            record=InboxRecord.of(RawNotification({}, body), verified=True, error=error),
            notification_id=None,
            order_no=trade.out_trade_no,
            status=status,
            now=now,
        )

    async def credit(conn: AsyncConnection) -> int:
        try:
            result = await topups.credit_paid_order(
                conn,
                order_no=trade.out_trade_no,
                paid=paid,
                provider_trade_no=trade.provider_trade_no or "",
                now=now,
                provider=provider,
            )
        except AmountMismatch as mismatch:
            await keep(conn, "amount_mismatch", str(mismatch))
            await followup.stop_polling(conn, order_no=trade.out_trade_no)
            return 0
        if result.credited_now:
            await keep(conn, "credited", None)
        return int(result.credited_now)

    return credit
