"""Refunds of top-ups made at an outlet: the agent pays them back (docs/refunds.md, "Top-ups
made at an outlet").

Design overview
---------------
* A counter top-up's money went from the agent's float to the SIM; its refund goes back the
  same way. Once approved (``refund:<no>`` took it off the SIM into refunds payable, as for
  any refund), ``to_float`` pays it to the agent's float at once — no provider is asked, the
  worker's ``send_refunds`` never sees it — moving it ``approved → paid`` by a conditional
  update and booking ``refund-paid:<no>`` (``books.paid_to_float``): refunds payable to the
  float, and the commission the sale earned on the refunded part back from the agent
  (``model.commission_back``, on the sale's own commission).
* The float having the value back, the agent owes the payer: ``record_payout`` writes, by
  one conditional update on a paid refund not paid out yet, where, in which shift, by which
  clerk and how (cash, or back to the card) the payer got it — once, whatever races. It
  moves no money in the operator's books (the cash in a drawer is the agent's), but it is
  what the clerk's shift counts and what tells a refund collected from one still owed.
* The payer is texted: a refund paid to the float waits for them at the agent's counters
  (``tell_waiting``: the subscriber who asked, in their language, else the number topped
  up), and one paid out says where (``tell_paid_out``, to the number topped up: its holder
  learns that money left the SIM).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import service as counter
from simkeep.counter.model import Payer
from simkeep.counter.service import Sale
from simkeep.i18n import DEFAULT_LOCALE, sms
from simkeep.money import Money
from simkeep.names import Names
from simkeep.notifications import service as notifications
from simkeep.outlets import service as outlets
from simkeep.refunds import books
from simkeep.refunds import tables as t
from simkeep.refunds.model import NotOutletTopUp, RefundState, commission_back, sources
from simkeep.refunds.queries import Refund, get_refund
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Target
from simkeep.subscribers import service as subscribers
from simkeep.topups import service as topups
from simkeep.topups.model import Order

SUBSCRIBER = "subscriber:"
WAITING_TEXT = (
    "simkeep: refund %(refund_no)s of %(amount)s for top-up %(order_no)s is ready: collect it"
    " at a counter of %(agent)s with this refund number."
)
PAID_OUT_TEXT = (
    "simkeep: refund %(refund_no)s of %(amount)s for top-up %(order_no)s was paid back at"
    " %(outlet)s."
)


@dataclass(frozen=True, slots=True)
class Payout:
    """Where, by whom and how a payer got a refund at a counter, with the POS's key."""

    outlet_id: int
    shift_id: int
    clerk_id: int
    payer: Payer
    key: str


async def sale_behind(conn: AsyncConnection, *, order_no: str) -> Sale:
    """The counter sale that made an outlet top-up."""
    sale = await counter.sale_of_order(conn, order_no=order_no)
    if sale is None:
        raise NotOutletTopUp(f"top-up {order_no} was not made at a counter")
    return sale


async def to_float(conn: AsyncConnection, *, refund: Refund, now: datetime) -> Refund:
    """Pay an approved refund of an outlet top-up to the agent's float, taking back the
    commission earned on it."""
    assert refund.agent_id is not None  # an outlet top-up's refund names its agent
    sale = await sale_behind(conn, order_no=refund.order_no)
    back = commission_back(
        sale=sale.amount,
        earned=sale.commission,
        paid_before=await _paid_before(conn, refund),
        pay=refund.pay,
    )
    c = t.refunds.c
    moved = await conn.execute(
        update(t.refunds)
        .where(c.refund_no == refund.refund_no, c.state.in_(_from(RefundState.PAID)))
        .values(
            state=RefundState.PAID.value,
            paid_at=now,
            next_try_at=None,
            commission_back_minor=back.minor,
        )
    )
    assert moved.rowcount == 1  # just approved, in this transaction
    await books.paid_to_float(
        conn,
        refund_no=refund.refund_no,
        agent_id=refund.agent_id,
        amount=refund.pay,
        commission=back,
        now=now,
    )
    return await _get(conn, refund.refund_no)


async def _paid_before(conn: AsyncConnection, refund: Refund) -> Money:
    """What the order's other refunds paid back."""
    c = t.refunds.c
    paid = await conn.scalar(
        select(func.coalesce(func.sum(c.pay_minor), 0)).where(
            c.order_no == refund.order_no,
            c.state == RefundState.PAID.value,
            c.refund_no != refund.refund_no,
        )
    )
    return Money(int(paid or 0), refund.pay.currency)


async def record_payout(
    conn: AsyncConnection,
    *,
    refund_no: str,
    agent_id: int,
    payout: Payout,
    actor: Actor,
    now: datetime,
) -> bool:
    """Record that the payer got the refund at a counter of ``agent_id``; False if it was
    not waiting there (paid out already, or not this agent's)."""
    c = t.refunds.c
    moved = await conn.execute(
        update(t.refunds)
        .where(
            c.refund_no == refund_no,
            c.agent_id == agent_id,
            c.state == RefundState.PAID.value,
            c.paid_out_at.is_(None),
        )
        .values(
            outlet_id=payout.outlet_id,
            shift_id=payout.shift_id,
            clerk_id=payout.clerk_id,
            payout=payout.payer.payment.value,
            terminal_ref=payout.payer.terminal_ref,
            paid_out_at=now,
            payout_key=payout.key,
        )
    )
    if moved.rowcount != 1:
        return False
    paid_out = await _get(conn, refund_no)
    await audit.record(
        conn,
        actor=actor,
        action="refund.pay_out",
        target=Target("refund", refund_no),
        before={"state": RefundState.PAID.value, "payout": None},
        after={
            "state": paid_out.state.value,
            "payout": payout.payer.payment.value,
            "pay": str(paid_out.pay),
            "outlet_id": payout.outlet_id,
            "shift_id": payout.shift_id,
        },
        now=now,
    )
    return True


async def tell_waiting(conn: AsyncConnection, *, refund: Refund, now: datetime) -> None:
    """Text the payer that the refund waits at the agent's counters."""
    assert refund.agent_id is not None
    agent = await outlets.get_agent(conn, agent_id=refund.agent_id)
    assert agent is not None
    order = await _order(conn, refund)
    if refund.requested_by.startswith(SUBSCRIBER):
        reach = await subscribers.reach(
            conn, subscriber_id=int(refund.requested_by.removeprefix(SUBSCRIBER))
        )
        assert reach is not None  # who asked has an account
        phone, reader = reach[0], reach[1] or DEFAULT_LOCALE
    else:
        phone = order.msisdn
        reader = await subscribers.reader_language(conn, phone=phone, otherwise=DEFAULT_LOCALE)
    await _text(conn, phone, reader, WAITING_TEXT, refund, order, now, agent=agent.names)


async def tell_paid_out(conn: AsyncConnection, *, refund: Refund, now: datetime) -> None:
    """Text the number topped up that the refund was paid out, and where."""
    assert refund.outlet_id is not None
    outlet = await outlets.get_outlet(conn, outlet_id=refund.outlet_id)
    assert outlet is not None
    order = await _order(conn, refund)
    reader = await subscribers.reader_language(conn, phone=order.msisdn, otherwise=DEFAULT_LOCALE)
    await _text(conn, order.msisdn, reader, PAID_OUT_TEXT, refund, order, now, outlet=outlet.names)


async def _text(
    conn: AsyncConnection,
    phone: str,
    reader: str,
    text: str,
    refund: Refund,
    order: Order,
    now: datetime,
    **names: Names,
) -> None:
    """``text`` in ``reader``'s language, with ``names`` (an agent's, an outlet's) in it."""
    body = sms(
        reader,
        text,
        refund_no=refund.refund_no,
        amount=refund.pay.format(reader),
        order_no=order.order_no,
        **{key: name.pick(reader) for key, name in names.items()},
    )
    await notifications.queue_sms(conn, to=phone, text=body, now=now)


async def _order(conn: AsyncConnection, refund: Refund) -> Order:
    order = await topups.get_order(conn, order_no=refund.order_no)
    assert order is not None
    return order


async def _get(conn: AsyncConnection, refund_no: str) -> Refund:
    refund = await get_refund(conn, refund_no=refund_no)
    assert refund is not None
    return refund


def _from(target: RefundState) -> list[str]:
    return [state.value for state in sources(target)]
