"""The top-up order a refund pays back: whether it may be refunded now, and where it stands
once a refund of it was paid, or was not made (docs/refunds.md, "States").

Each move of the order is ``topups.move_for_refund``'s one conditional update: an order is
``credited`` (or ``partially_refunded``) until a refund is asked, ``refund_requested`` while
one is open, and then ``refunded`` when its paid refunds took all it credited,
``partially_refunded`` when they took part of it, or back where it was when the refund was
refused or failed.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.payment_methods import Provider
from simkeep.refunds import tables as t
from simkeep.refunds.model import NotRefundable, RefundOpen, RefundState
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderState


def refundable_order(order: Order) -> Order:
    """The order, if it may be refunded now."""
    if order.provider is Provider.VOUCHER:
        raise NotRefundable("a top-up paid with a voucher is not refunded")
    if order.state is OrderState.REFUND_REQUESTED:
        raise RefundOpen("a refund of this top-up is already asked for")
    if order.state not in (OrderState.CREDITED, OrderState.PARTIALLY_REFUNDED):
        raise NotRefundable("only a credited top-up can be refunded")
    return order


async def settle_order(conn: AsyncConnection, *, order_no: str) -> None:
    """A refund of the order was paid: it is refunded if its paid refunds took all it
    credited, partly refunded otherwise."""
    order = await topups.get_order(conn, order_no=order_no)
    assert order is not None
    c = t.refunds.c
    taken = await conn.scalar(
        select(func.coalesce(func.sum(c.taken_minor), 0)).where(
            c.order_no == order_no, c.state == RefundState.PAID.value
        )
    )
    emptied = int(taken or 0) >= order.credit.minor
    to = OrderState.REFUNDED if emptied else OrderState.PARTIALLY_REFUNDED
    await topups.move_for_refund(conn, order_no=order_no, to=to)


async def put_order_back(conn: AsyncConnection, *, order_no: str) -> None:
    """A refund that did not go out: the order is credited again, or partly refunded if an
    earlier refund of it was paid."""
    c = t.refunds.c
    paid = await conn.scalar(
        select(func.count()).where(c.order_no == order_no, c.state == RefundState.PAID.value)
    )
    back = OrderState.PARTIALLY_REFUNDED if paid else OrderState.CREDITED
    await topups.move_for_refund(conn, order_no=order_no, to=back)
