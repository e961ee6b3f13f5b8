"""Follow-up of unpaid orders: when to ask the provider again, when to close a trade.

Design overview
---------------
An order waiting for its payment is polled with back-off (``next_poll_at``, ``polls``) until
a little after it expires, so a lost notification is still caught, unless the provider
says it was paid another amount: then it is polled no more. An order that expired is
due to be closed at its provider (``close_due_at``, set by ``service.expire_orders``); a close
that failed is tried again later, and a trade paid in the meantime is credited by the poll.
These functions only read and move the schedule; ``payments.service`` talks to providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.payment_methods import Provider
from simkeep.topups import statements
from simkeep.topups import tables as t
from simkeep.topups.model import PAYABLE, Order, OrderState
from simkeep.topups.queries import get_order

POLL_STOP_AFTER_EXPIRY = timedelta(minutes=10)
CLOSE_STOP_AFTER_EXPIRY = timedelta(days=1)
CLAIM = timedelta(minutes=1)  # a claimed poll or close is left to others after this


@dataclass(frozen=True, slots=True)
class Due:
    order_no: str
    provider: Provider
    attempts: int


async def record_payment_start(
    conn: AsyncConnection,
    *,
    order_no: str,
    pay_url: str | None,
    pay_qr: str | None,
    pay_form: Mapping[str, str] | None = None,
) -> Order | None:
    """The provider has the trade: the order waits for the payer, who pays here."""
    started = await statements.mark_started(
        conn, order_no=order_no, pay_url=pay_url, pay_qr=pay_qr, pay_form=pay_form
    )
    if started is not None:
        return started
    return await get_order(conn, order_no=order_no)  # started by a racing request


async def due_polls(conn: AsyncConnection, *, now: datetime, limit: int) -> list[Due]:
    """Unpaid orders (expired ones for a while too) whose next poll is due, claimed: their
    next poll moves ``CLAIM`` on in the same statement, so a worker polling at the same
    moment takes other orders, and one that dies mid-poll leaves the order to the next."""
    o = t.orders.c
    due = (
        select(o.order_no)
        .where(
            o.state.in_([state.value for state in PAYABLE]),
            o.next_poll_at <= now,
            o.expires_at > now - POLL_STOP_AFTER_EXPIRY,
        )
        .order_by(o.next_poll_at)
        .limit(limit)
    )
    rows = await conn.execute(
        update(t.orders)
        .where(o.order_no.in_(due.scalar_subquery()), o.next_poll_at <= now)
        .values(next_poll_at=now + CLAIM)
        .returning(o.order_no, o.provider, o.polls)
    )
    return [Due(row.order_no, Provider(row.provider), row.polls) for row in rows]


async def reschedule_poll(conn: AsyncConnection, *, order_no: str, due: datetime) -> None:
    await conn.execute(
        update(t.orders)
        .where(t.orders.c.order_no == order_no)
        .values(next_poll_at=due, polls=t.orders.c.polls + 1)
    )


async def stop_polling(conn: AsyncConnection, *, order_no: str) -> None:
    """The order is the operator's now (the provider says it was paid another amount)."""
    await conn.execute(
        update(t.orders).where(t.orders.c.order_no == order_no).values(next_poll_at=None)
    )


async def due_closes(conn: AsyncConnection, *, now: datetime, limit: int) -> list[Due]:
    """Expired orders whose trade is still open at the provider, claimed as polls are."""
    o = t.orders.c
    due = (
        select(o.order_no)
        .where(
            o.state == OrderState.EXPIRED.value,
            o.closed_at.is_(None),
            o.close_due_at <= now,
            o.expires_at > now - CLOSE_STOP_AFTER_EXPIRY,
        )
        .order_by(o.close_due_at)
        .limit(limit)
    )
    rows = await conn.execute(
        update(t.orders)
        .where(o.order_no.in_(due.scalar_subquery()), o.close_due_at <= now)
        .values(close_due_at=now + CLAIM)
        .returning(o.order_no, o.provider)
    )
    return [Due(row.order_no, Provider(row.provider), 0) for row in rows]


async def record_closed(conn: AsyncConnection, *, order_no: str, now: datetime) -> None:
    await conn.execute(
        update(t.orders)
        .where(t.orders.c.order_no == order_no)
        .values(closed_at=now, close_due_at=None)
    )


async def retry_close(conn: AsyncConnection, *, order_no: str, due: datetime) -> None:
    await conn.execute(
        update(t.orders).where(t.orders.c.order_no == order_no).values(close_due_at=due)
    )
