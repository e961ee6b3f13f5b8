"""Asking the provider about what its bill has and simkeep has not taken: a payment whose
notification was lost (掉单), a refund paid that simkeep still shows on its way.

Design overview
---------------
Each row to ask about (``queries.to_ask``) is asked outside any transaction — a payment
with ``query``, a refund with ``query_refund`` and its own refund number — and the answer is
recorded in one transaction of its own:

* paid — the row moves ``none → credited`` by a conditional update, and in the same
  transaction the order is credited through the one path every credit takes
  (``topups.service.credit_paid_order``: once, whatever notification or poll races it), or
  the refund recorded paid through the refunds' own (``refunds.sending.record``: once). Of
  two runs at once, one moves the row and takes it; the other changes nothing. A payment
  the provider says was paid another amount credits nothing: the row is an
  ``amount_mismatch``.
* not paid — ``none → query_unpaid``: flagged for staff, the provider's word kept.
* no answer — the row stays ``none``, why kept; the day is asked about again later.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import Clock
from simkeep.db import Database
from simkeep.payment_methods import Provider
from simkeep.payments import incoming
from simkeep.payments.model import (
    PaymentProviderAdapter,
    ProviderError,
    ProviderRefund,
    ProviderTrade,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from simkeep.reconciliation import queries
from simkeep.reconciliation import tables as t
from simkeep.reconciliation.bill import RowKind
from simkeep.reconciliation.matching import recount
from simkeep.reconciliation.model import (
    ACTION_MOVES,
    ANSWER_CHARS,
    CLASS_MOVES,
    Action,
    Progress,
    RowClass,
    Stage,
    sources,
)
from simkeep.reconciliation.queries import Difference
from simkeep.refunds import sending
from simkeep.refunds.queries import get_refund
from simkeep.topups import service as topups


async def ask_provider(
    db: Database,
    *,
    reconciliation_id: int,
    provider: Provider,
    adapter: PaymentProviderAdapter | None,
    by: str,
    clock: Clock,
    progress: Progress | None = None,
) -> int:
    """Ask the provider about the day's rows it has and simkeep has not taken, and record
    each answer; returns how many are left to ask (it did not answer, or no adapter)."""
    rows = await db.read(lambda conn: _rows(conn, reconciliation_id))
    if adapter is None:
        return len(rows)
    left = 0
    for done, row in enumerate(rows, start=1):
        try:
            if row.kind is RowKind.PAY:
                trade = await adapter.query(row.order_no)
                await db.transaction(
                    lambda conn: _paid(conn, reconciliation_id, row, trade, provider, by, clock)  # noqa: B023
                )
            else:
                request = await db.read(lambda conn: _refund_request(conn, row))  # noqa: B023
                answer = await adapter.query_refund(request)
                await db.transaction(lambda conn: _paid_back(conn, row, answer, by, clock))  # noqa: B023
        except ProviderError as error:
            left += 1
            reason = str(error)
            await db.transaction(lambda conn: _unanswered(conn, row, reason))  # noqa: B023
        if progress is not None:
            progress(Stage.ASK, done, len(rows))
    return left


async def _rows(conn: AsyncConnection, reconciliation_id: int) -> list[Difference]:
    found = await conn.execute(queries.to_ask(reconciliation_id))
    return [queries.difference_from_row(row) for row in found]


async def _paid(
    conn: AsyncConnection,
    reconciliation_id: int,
    row: Difference,
    trade: ProviderTrade,
    provider: Provider,
    by: str,
    clock: Clock,
) -> None:
    now = clock.now()
    paid = trade.status is TradeStatus.PAID and trade.amount is not None
    if not paid:
        await _act(conn, row, Action.QUERY_UNPAID, trade.status.value, by, now)
        return
    assert trade.amount is not None
    if trade.amount != row.local:
        await _mismatch(conn, reconciliation_id, row, f"{trade.status.value} {trade.amount}")
        return
    if await _act(conn, row, Action.CREDITED, trade.status.value, by, now):
        await topups.credit_paid_order(
            conn,
            order_no=row.order_no,
            paid=trade.amount,
            provider_trade_no=trade.provider_trade_no or row.trade_no,
            now=now,
            provider=provider,
        )


async def _refund_request(conn: AsyncConnection, row: Difference) -> RefundRequest:
    """What the provider is asked about a refund: the same as when it was sent."""
    refund = await get_refund(conn, refund_no=row.refund_no)
    assert refund is not None  # the row was matched to it
    order = await topups.get_order(conn, order_no=refund.order_no)
    assert order is not None
    pushed = await incoming.for_order(conn, order_no=order.order_no)
    return RefundRequest(
        out_trade_no=order.order_no,
        out_refund_no=refund.refund_no,
        amount=refund.pay,
        total=order.pay,
        reason=refund.reason.value,
        provider_trade_no=order.provider_trade_no,
        payer_account=pushed[0].payer_account if pushed else None,
    )


async def _paid_back(
    conn: AsyncConnection, row: Difference, answer: ProviderRefund, by: str, clock: Clock
) -> None:
    now = clock.now()
    if answer.status is not RefundStatus.SUCCEEDED:
        await _act(conn, row, Action.QUERY_UNPAID, answer.status.value, by, now)
        return
    if not await _act(conn, row, Action.CREDITED, answer.status.value, by, now):
        return
    refund = await get_refund(conn, refund_no=row.refund_no)
    assert refund is not None
    due = sending.Due(refund.refund_no, refund.state, refund.attempts)
    await sending.record(conn, due, answer, now=now)


async def _act(
    conn: AsyncConnection, row: Difference, action: Action, answer: str, by: str, now: datetime
) -> bool:
    """Move the row to ``action`` (from ``none``: nobody did anything about it yet)."""
    i = t.reconciliation_items.c
    moved = await conn.execute(
        update(t.reconciliation_items)
        .where(i.id == row.id, i.action.in_(sources(ACTION_MOVES, action)))
        .values(action=action.value, answer=answer[:ANSWER_CHARS], acted_by=by, acted_at=now)
    )
    return moved.rowcount == 1


async def _mismatch(
    conn: AsyncConnection, reconciliation_id: int, row: Difference, answer: str
) -> None:
    """The provider says it was paid another amount: nothing is credited."""
    i = t.reconciliation_items.c
    moved = await conn.execute(
        update(t.reconciliation_items)
        .where(
            i.id == row.id,
            i.action == Action.NONE.value,
            i.row_class.in_(sources(CLASS_MOVES, RowClass.AMOUNT_MISMATCH)),
        )
        .values(row_class=RowClass.AMOUNT_MISMATCH.value, answer=answer[:ANSWER_CHARS])
    )
    if moved.rowcount == 1:
        await recount(conn, reconciliation_id)


async def _unanswered(conn: AsyncConnection, row: Difference, reason: str) -> None:
    i = t.reconciliation_items.c
    await conn.execute(
        update(t.reconciliation_items)
        .where(i.id == row.id, i.action == Action.NONE.value)
        .values(answer=reason[:ANSWER_CHARS])
    )
