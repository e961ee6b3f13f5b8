"""Payments: the notification inbox and the polling of unpaid orders.

Design overview
---------------
A notification is verified by its provider's adapter, stored raw with a status (kept
forever, forged or not), then processed in its own transaction: only a verified ``PAID``
for a known order of the same provider, for exactly the amount and currency of the order,
credits it — through ``topups.service.credit_paid_order``, which credits once however many
deliveries race. A duplicate is acknowledged without a second credit; a ``CLOSED`` never
moves an order backwards; anything else is kept for the operator and not acknowledged.

Polling asks the provider about unpaid orders whose notification has not come, with
back-off (15 s doubling to 60 s), so a lost notification is credited within minutes. The
return URL never credits anything.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.money import Money
from simkeep.payments.model import (
    Acknowledgement,
    NotificationRejected,
    PaymentProviderAdapter,
    Provider,
    ProviderError,
    RawNotification,
    TradeStatus,
    VerifiedNotification,
)
from simkeep.topups import service as topups
from simkeep.topups import tables as topup_tables
from simkeep.topups.model import OrderState
from simkeep.topups.service import AmountMismatch

POLL_STOP_AFTER_EXPIRY = timedelta(minutes=10)


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
    inbox_id = await db.transaction(
        lambda conn: _store(conn, adapter.provider, raw, verified, "received", None, now)
    )
    outcome = await db.transaction(lambda conn: _process(conn, inbox_id, verified, now))
    return adapter.acknowledge(outcome.accepted)


async def _store(
    conn: AsyncConnection,
    provider: Provider,
    raw: RawNotification,
    verified: VerifiedNotification | None,
    status: str,
    error: str | None,
    now: datetime,
) -> int:
    result = await conn.execute(
        topup_tables.notifications.insert()
        .values(
            provider=provider.value,
            notification_id=verified.notification_id if verified else None,
            order_no=verified.out_trade_no if verified else None,
            headers=json.dumps(dict(raw.headers), ensure_ascii=False),
            body=raw.body,
            status=status,
            error=error,
            received_at=now,
        )
        .returning(topup_tables.notifications.c.id)
    )
    return int(result.scalar_one())


async def _process(
    conn: AsyncConnection, inbox_id: int, notice: VerifiedNotification, now: datetime
) -> Outcome:
    outcome = await _apply(conn, notice, now)
    await conn.execute(
        update(topup_tables.notifications)
        .where(topup_tables.notifications.c.id == inbox_id)
        .values(status=outcome.status)
    )
    return outcome


async def _apply(conn: AsyncConnection, notice: VerifiedNotification, now: datetime) -> Outcome:
    order = await topups.get_order(conn, order_no=notice.out_trade_no)
    if order is None or order.provider is not notice.provider:
        return Outcome("unknown_order", accepted=False)
    if notice.status is not TradeStatus.PAID:
        return Outcome("ignored", accepted=True)  # never moves an order backwards
    try:
        result = await topups.credit_paid_order(
            conn,
            order_no=order.order_no,
            paid=notice.amount,
            provider_trade_no=notice.provider_trade_no,
            now=now,
        )
    except AmountMismatch:
        return Outcome("amount_mismatch", accepted=False)
    return Outcome("credited" if result.credited_now else "duplicate", accepted=True)


async def poll_unpaid(
    db: Database,
    *,
    adapters: Mapping[Provider, PaymentProviderAdapter],
    now: datetime,
    limit: int = 100,
) -> int:
    """Ask the providers about unpaid orders that are due a poll; returns how many credited."""
    credited = 0
    for order_no, provider, polls in await db.transaction(lambda conn: _due(conn, now, limit)):
        adapter = adapters.get(provider)
        if adapter is None:
            continue
        try:
            trade = await adapter.query(order_no)
        except ProviderError:
            trade = None
        if trade is not None and trade.status is TradeStatus.PAID and trade.amount is not None:
            credit = _credit(order_no, trade.amount, trade.provider_trade_no or "", now)
            credited += (await db.transaction(credit)).credited_now
            continue
        wait = min(timedelta(seconds=15 * 2**polls), timedelta(seconds=60))
        await db.transaction(_next_poll(order_no, now + wait))
    return credited


async def _due(conn: AsyncConnection, now: datetime, limit: int) -> list[tuple[str, Provider, int]]:
    orders = topup_tables.orders
    rows = await conn.execute(
        select(orders.c.order_no, orders.c.provider, orders.c.polls)
        .where(
            orders.c.state.in_(
                [
                    OrderState.CREATED.value,
                    OrderState.AWAITING_PAYMENT.value,
                    OrderState.EXPIRED.value,
                ]
            ),
            orders.c.next_poll_at <= now,
            orders.c.expires_at > now - POLL_STOP_AFTER_EXPIRY,
        )
        .order_by(orders.c.next_poll_at)
        .limit(limit)
    )
    return [(row.order_no, Provider(row.provider), row.polls) for row in rows]


def _credit(
    order_no: str, paid: Money, trade_no: str, now: datetime
) -> Callable[[AsyncConnection], Awaitable[topups.CreditResult]]:
    async def credit(conn: AsyncConnection) -> topups.CreditResult:
        return await topups.credit_paid_order(
            conn, order_no=order_no, paid=paid, provider_trade_no=trade_no, now=now
        )

    return credit


def _next_poll(order_no: str, due: datetime) -> Callable[[AsyncConnection], Awaitable[None]]:
    async def reschedule(conn: AsyncConnection) -> None:
        orders = topup_tables.orders
        await conn.execute(
            update(orders)
            .where(orders.c.order_no == order_no)
            .values(next_poll_at=due, polls=orders.c.polls + 1)
        )

    return reschedule
