"""Sending approved refunds back through their providers, and what they answer.

Design overview
---------------
``send_due`` is the worker's job. It claims the refunds due (``approved``: to ask for;
``processing``: to ask about) by moving their ``next_try_at`` on in the same statement, so
two workers never ask at once and one that dies leaves them to the next run. Each is asked
with its own refund number, the same on every try: a crash after the provider paid and
before the books knew asks again and is told of the same refund, never paying twice.

What the provider answers is recorded in one transaction each:

* paid — ``approved|processing → paid`` by a conditional update, then the paid journal, the
  order ``refunded`` (nothing left) or ``partially_refunded``, and an SMS to the payer;
* still processing — asked again later;
* refused for good — ``→ failed``, the approval reversed (the money is back on the SIM),
  the order back where it was, the payer told; a refund the provider never heard of while
  it was processing is asked for again (same number);
* no answer — asked again later, with back-off; the last error is kept for staff.

A provider that notifies a refund's outcome (``notified``) is believed like its answer to a
query, through the same ``record``; a notification about a refund already settled changes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.i18n import DEFAULT_LOCALE, sms
from simkeep.money import Money
from simkeep.notifications import service as notifications
from simkeep.payment_methods import Provider
from simkeep.payments import incoming
from simkeep.payments.model import (
    PaymentProviderAdapter,
    ProviderError,
    ProviderRefund,
    RefundRequest,
    RefundStatus,
)
from simkeep.refunds import books
from simkeep.refunds import tables as t
from simkeep.refunds.model import RefundState, sources
from simkeep.refunds.orders import put_order_back, settle_order
from simkeep.refunds.queries import Refund, get_refund
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order

CLAIM = timedelta(minutes=1)
FIRST_WAIT = timedelta(seconds=15)
LONGEST_WAIT = timedelta(hours=1)
ERROR_CHARS = 500
UNKNOWN = "unknown"
UNKNOWN_REFUND = "unknown_refund"

PAID_TEXT = "simkeep: refund %(refund_no)s of %(amount)s for top-up %(order_no)s was paid back."
FAILED_TEXT = (
    "simkeep: refund %(refund_no)s for top-up %(order_no)s could not be paid back;"
    " %(amount)s is on the SIM again."
)


@dataclass(frozen=True, slots=True)
class Due:
    refund_no: str
    state: RefundState
    attempts: int


async def send_due(
    db: Database,
    *,
    adapters: Mapping[Provider, PaymentProviderAdapter],
    now: datetime,
    notify: Callable[[Provider], str] | None = None,
    limit: int = 50,
) -> int:
    """Ask the providers for (or about) the refunds due (telling them, with ``notify``,
    where to notify the outcome); returns how many were paid."""
    paid = 0
    for due in await db.transaction(lambda conn: _claim(conn, now=now, limit=limit)):
        refund, request = await db.read(lambda conn: _request(conn, due.refund_no, notify))  # noqa: B023
        adapter = adapters.get(refund.provider)
        if adapter is None:
            continue
        try:
            if due.state is RefundState.APPROVED:
                answer = await adapter.refund(request)
            else:
                answer = await adapter.query_refund(request)
        except ProviderError as error:
            reason = str(error)
            await db.transaction(lambda conn: _retry(conn, due, reason, now))  # noqa: B023
            continue
        paid += await db.transaction(lambda conn: record(conn, due, answer, now=now))  # noqa: B023
    return paid


async def notified(
    conn: AsyncConnection, provider: Provider, answer: ProviderRefund, *, now: datetime
) -> str:
    """A provider told us what became of one of its refunds (a verified notification):
    recorded as its answer to a query would be. Returns what the inbox keeps as its status."""
    c = t.refunds.c
    row = (
        await conn.execute(
            select(c.state, c.attempts).where(
                c.refund_no == answer.out_refund_no, c.provider == provider.value
            )
        )
    ).first()
    if row is None:
        return UNKNOWN_REFUND
    state = RefundState(row.state)
    if state not in (RefundState.APPROVED, RefundState.PROCESSING):
        return "refund_duplicate"
    await record(conn, Due(answer.out_refund_no, state, row.attempts), answer, now=now)
    return f"refund_{answer.status.value}"


async def _claim(conn: AsyncConnection, *, now: datetime, limit: int) -> list[Due]:
    c = t.refunds.c
    sending = [RefundState.APPROVED.value, RefundState.PROCESSING.value]
    due = (
        select(c.id)
        .where(c.state.in_(sending), c.next_try_at <= now)
        .order_by(c.next_try_at)
        .limit(limit)
    )
    rows = await conn.execute(
        update(t.refunds)
        .where(c.id.in_(due.scalar_subquery()), c.next_try_at <= now)
        .values(next_try_at=now + CLAIM)
        .returning(c.refund_no, c.state, c.attempts)
    )
    return [Due(row.refund_no, RefundState(row.state), row.attempts) for row in rows]


async def _request(
    conn: AsyncConnection, refund_no: str, notify: Callable[[Provider], str] | None
) -> tuple[Refund, RefundRequest]:
    """The refund and what its provider is asked, from the order it pays back."""
    refund = await get_refund(conn, refund_no=refund_no)
    assert refund is not None
    order = await topups.get_order(conn, order_no=refund.order_no)
    assert order is not None
    pushed = await incoming.for_order(conn, order_no=order.order_no)
    return refund, RefundRequest(
        out_trade_no=order.order_no,
        out_refund_no=refund.refund_no,
        amount=refund.pay,
        total=order.pay,
        reason=refund.reason.value,
        provider_trade_no=order.provider_trade_no,
        payer_account=pushed[0].payer_account if pushed else None,
        notify_url=notify(refund.provider) if notify else None,
    )


async def record(conn: AsyncConnection, due: Due, answer: ProviderRefund, *, now: datetime) -> int:
    """Record what the provider answered about a refund; returns 1 if it was paid now."""
    if answer.status is RefundStatus.SUCCEEDED:
        return await _paid(conn, due.refund_no, answer, now)
    if answer.status is RefundStatus.PROCESSING:
        await _move(conn, due.refund_no, RefundState.PROCESSING, _later(due, now), answer)
    elif answer.reason == UNKNOWN and due.state is RefundState.PROCESSING:
        await _move(conn, due.refund_no, RefundState.APPROVED, now, answer)
    else:
        await _failed(conn, due.refund_no, answer, now)
    return 0


async def _paid(
    conn: AsyncConnection, refund_no: str, answer: ProviderRefund, now: datetime
) -> int:
    c = t.refunds.c
    moved = await conn.execute(
        update(t.refunds)
        .where(c.refund_no == refund_no, c.state.in_(_from(RefundState.PAID)))
        .values(
            state=RefundState.PAID.value,
            paid_at=now,
            next_try_at=None,
            provider_refund_no=answer.provider_refund_no,
        )
    )
    if moved.rowcount != 1:
        return 0
    refund = await get_refund(conn, refund_no=refund_no)
    assert refund is not None
    await books.paid(
        conn, refund_no=refund_no, provider=refund.provider.value, amount=refund.pay, now=now
    )
    await settle_order(conn, order_no=refund.order_no)
    order = await topups.get_order(conn, order_no=refund.order_no)
    assert order is not None
    await _tell(conn, refund, order, PAID_TEXT, refund.pay, now)
    return 1


async def _failed(
    conn: AsyncConnection, refund_no: str, answer: ProviderRefund, now: datetime
) -> None:
    c = t.refunds.c
    moved = await conn.execute(
        update(t.refunds)
        .where(c.refund_no == refund_no, c.state.in_(_from(RefundState.FAILED)))
        .values(
            state=RefundState.FAILED.value,
            next_try_at=None,
            last_error=(answer.reason or "refused")[:ERROR_CHARS],
        )
    )
    if moved.rowcount != 1:
        return
    refund = await get_refund(conn, refund_no=refund_no)
    assert refund is not None
    await books.undo(conn, refund_no=refund_no, now=now)
    await put_order_back(conn, order_no=refund.order_no)
    order = await topups.get_order(conn, order_no=refund.order_no)
    assert order is not None
    await _tell(conn, refund, order, FAILED_TEXT, refund.taken, now)


async def _move(
    conn: AsyncConnection,
    refund_no: str,
    to: RefundState,
    at: datetime,
    answer: ProviderRefund,
) -> None:
    c = t.refunds.c
    await conn.execute(
        update(t.refunds)
        .where(c.refund_no == refund_no, c.state.in_(_from(to)))
        .values(
            state=to.value,
            next_try_at=at,
            attempts=c.attempts + 1,
            provider_refund_no=answer.provider_refund_no,
        )
    )


async def _retry(conn: AsyncConnection, due: Due, error: str, now: datetime) -> None:
    c = t.refunds.c
    await conn.execute(
        update(t.refunds)
        .where(c.refund_no == due.refund_no, c.state == due.state.value)
        .values(
            next_try_at=_later(due, now),
            attempts=c.attempts + 1,
            last_error=error[:ERROR_CHARS],
        )
    )


def _later(due: Due, now: datetime) -> datetime:
    wait = min(FIRST_WAIT * (1 << min(due.attempts, 16)), LONGEST_WAIT)
    return now + wait


def _from(target: RefundState) -> list[str]:
    return [state.value for state in sources(target)]


async def _tell(
    conn: AsyncConnection, refund: Refund, order: Order, text: str, amount: Money, now: datetime
) -> None:
    """An SMS to the subscriber who paid the order, in their language (none for an order
    paid without an account)."""
    if order.subscriber_id is None:
        return
    reach = await subscribers.reach(conn, subscriber_id=order.subscriber_id)
    if reach is None:
        return
    phone, language = reach
    reader = language or DEFAULT_LOCALE
    body = sms(
        reader,
        text,
        refund_no=refund.refund_no,
        amount=amount.format(reader),
        order_no=order.order_no,
    )
    await notifications.queue_sms(conn, to=phone, text=body, now=now)
