"""Refunds: asked for, decided, paid back (docs/refunds.md).

Design overview
---------------
* ``request_refund`` (one transaction): the order moves ``credited`` (or
  ``partially_refunded``) → ``refund_requested`` by a conditional update, so one refund of an
  order is open at a time however many requests race; what can go back is worked out
  (``model.refundable``) and held on the SIM's balance; the refund is written; the automatic
  rule may approve it at once. A replay with the same ``Idempotency-Key`` returns the same
  refund; the same key with another request is refused.
* ``approve`` (staff, or the rule): the refund moves ``requested → approved`` by a
  conditional update (two staff at once: one wins); the hold is released, the order's
  benefits are taken back, the amounts are worked out again (bonus used since is deducted
  too) and booked (``books.approve``), and the refund is due to be sent. ``refuse`` releases
  the hold and puts the order back. Both are in the audit log.
* Sending to the provider, and what it answers, is ``refunds.sending``.
* A top-up made at an outlet (no account paid it) may be asked back by a subscriber who
  holds the SIM it topped up, or by staff. Its refund names the agent whose counter made it;
  approved, it is paid to that agent's float at once (``refunds.outlets``) and waits for the
  payer at the agent's counters. At a counter (``refunds.counter``) the clerk asks, approves
  and pays out in one transaction (``approve_at_counter``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.promotions import granting
from simkeep.refunds import books, outlets
from simkeep.refunds import tables as t
from simkeep.refunds.model import (
    Amounts,
    AutoRule,
    OrderFacts,
    Reason,
    RefundDecided,
    RefundError,
    RefundOpen,
    RefundState,
    UnknownRefund,
    auto_approves,
    check_note,
    refund_number,
    refundable,
)
from simkeep.refunds.orders import put_order_back, refundable_order, settle_order
from simkeep.refunds.outlets import Payout
from simkeep.refunds.queries import Refund, get_refund, refund_from_row
from simkeep.staff import audit
from simkeep.staff.audit import Actor, Target
from simkeep.topups import service as topups
from simkeep.topups.model import Order, OrderState, request_hash

AUTO_RULE_NAME = "rule:wrong_number_unused"
TAKEN = (RefundState.APPROVED, RefundState.PROCESSING, RefundState.PAID)  # money left the SIM


class Decision(Protocol):
    """``approve`` or ``refuse``: what staff decide about a requested refund."""

    async def __call__(
        self, conn: AsyncConnection, *, refund_no: str, actor: Actor, note: str, now: datetime
    ) -> Refund: ...


class IdempotencyConflict(RefundError):
    code = "idempotency_conflict"


@dataclass(frozen=True, slots=True)
class Asking:
    """Who asks for a refund: the subscriber who paid the order, or a member of staff for
    them (``staff``)."""

    subscriber_id: int | None
    staff: Actor | None = None
    idempotency_key: str | None = None

    @property
    def by(self) -> str:
        if self.staff is not None:
            return f"staff:{self.staff.staff_id}"
        return f"subscriber:{self.subscriber_id}"


async def request_refund(
    conn: AsyncConnection,
    *,
    order_no: str,
    asking: Asking,
    reason: Reason,
    note: str,
    asked: Money | None,
    rule: AutoRule,
    now: datetime,
) -> Refund:
    """Ask for a refund of a credited top-up; approved at once if the rule allows."""
    note = check_note(note)
    fingerprint = request_hash(
        {"order_no": order_no, "reason": reason.value, "note": note, "asked": str(asked)}
    )
    if asking.idempotency_key is not None:
        earlier = await replay(conn, asking, fingerprint)
        if earlier is not None:
            return earlier
    order = await _refundable_order(conn, order_no=order_no, asking=asking)
    facts = await _facts(conn, order, take_back=False, now=now)
    amounts = refundable(facts, asked)
    asked_for = Asked(asking, fingerprint, reason, note)
    refund_no = await open_refund(conn, order=order, asked=asked_for, amounts=amounts, now=now)
    if auto_approves(rule, reason=reason, amounts=amounts, facts=facts, now=now):
        return await approve(
            conn, refund_no=refund_no, actor=Actor(None, AUTO_RULE_NAME), note="", now=now
        )
    return await _get(conn, refund_no)


@dataclass(frozen=True, slots=True)
class Asked:
    """A request for a refund: who asks, its fingerprint, why."""

    asking: Asking
    fingerprint: str
    reason: Reason
    note: str


async def open_refund(
    conn: AsyncConnection, *, order: Order, asked: Asked, amounts: Amounts, now: datetime
) -> str:
    """Move the order to ``refund_requested`` (one refund open at a time), hold what the
    refund takes and write it; its number."""
    agent_id = None
    if order.provider is Provider.OUTLET:
        agent_id = (await outlets.sale_behind(conn, order_no=order.order_no)).agent_id
    if not await topups.move_for_refund(
        conn, order_no=order.order_no, to=OrderState.REFUND_REQUESTED
    ):
        raise RefundOpen("a refund of this top-up is already asked for")
    refund_no = refund_number(now)
    hold_id = await books.hold(
        conn, refund_no=refund_no, sim_id=order.sim_id, taken=amounts.taken, now=now
    )
    await conn.execute(
        t.refunds.insert().values(
            refund_no=refund_no,
            order_no=order.order_no,
            sim_id=order.sim_id,
            provider=order.provider.value,
            requested_by=asked.asking.by,
            idempotency_key=asked.asking.idempotency_key,
            request_hash=asked.fingerprint,
            reason=asked.reason.value,
            note=asked.note,
            state=RefundState.REQUESTED.value,
            taken_minor=amounts.taken.minor,
            deducted_minor=amounts.deducted.minor,
            bonus_back_minor=amounts.bonus_back.minor,
            credit_currency=amounts.taken.currency,
            pay_minor=amounts.pay.minor,
            pay_currency=amounts.pay.currency,
            full=amounts.full,
            hold_journal_id=hold_id,
            requested_at=now,
            agent_id=agent_id,
        )
    )
    return refund_no


async def preview_refund(
    conn: AsyncConnection, *, order_no: str, asking: Asking, now: datetime
) -> Amounts:
    """What a refund of the order would give back now, if it may be asked for."""
    order = await _refundable_order(conn, order_no=order_no, asking=asking)
    return await refund_amounts(conn, order=order, asked=None, now=now)


async def refund_amounts(
    conn: AsyncConnection, *, order: Order, asked: Money | None, now: datetime
) -> Amounts:
    """What a refund of ``asked`` (or of all that can go back) of the order gives back now."""
    return refundable(await _facts(conn, order, take_back=False, now=now), asked)


async def replay(conn: AsyncConnection, asking: Asking, fingerprint: str) -> Refund | None:
    """The refund asked before with the asker's key (marked replayed), if any; refused if
    it asked something else."""
    c = t.refunds.c
    row = (
        await conn.execute(
            select(t.refunds).where(
                c.requested_by == asking.by, c.idempotency_key == asking.idempotency_key
            )
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was used for another request")
    return replace(refund_from_row(row), replayed=True)


async def _refundable_order(conn: AsyncConnection, *, order_no: str, asking: Asking) -> Order:
    """The order, if the one asking may ask for it back and it may be refunded: staff, or a
    subscriber whose order it is to see (``topups.get_order``: the one who paid, or for a
    top-up made at an outlet, which no account paid, a holder of the SIM it topped up)."""
    if asking.staff is None and asking.subscriber_id is None:
        raise UnknownRefund(f"no top-up {order_no} of yours")
    seen_by = None if asking.staff is not None else asking.subscriber_id
    order = await topups.get_order(
        conn, order_no=order_no.strip().upper(), subscriber_id=seen_by, lock=True
    )
    if order is None:
        raise UnknownRefund(f"no top-up {order_no} of yours")
    return refundable_order(order)


async def _facts(
    conn: AsyncConnection, order: Order, *, take_back: bool, now: datetime, refund_no: str = ""
) -> OrderFacts:
    """What the order's refund (``refund_no``, once written) is worked out from: the other
    refunds of it; ``take_back`` closes its benefits."""
    c = t.refunds.c
    before = (
        await conn.execute(
            select(
                func.coalesce(func.sum(c.taken_minor), 0),
                func.coalesce(func.sum(c.deducted_minor), 0),
                func.coalesce(func.sum(c.pay_minor), 0),
            ).where(
                c.order_no == order.order_no,
                c.state.in_([s.value for s in TAKEN]),
                c.refund_no != refund_no,
            )
        )
    ).one()
    bonus = await granting.order_bonus(
        conn, order_no=order.order_no, sim_id=order.sim_id, take_back=take_back, now=now
    )
    credit_currency, pay_currency = order.credit.currency, order.pay.currency
    assert order.credited_at is not None  # a credited order
    return OrderFacts(
        credit=order.credit,
        pay=order.pay,
        taken_before=Money(int(before[0]), credit_currency),
        deducted_before=Money(int(before[1]), credit_currency),
        paid_back_before=Money(int(before[2]), pay_currency),
        balance=await books.spendable(conn, sim_id=order.sim_id, currency=credit_currency),
        bonus_granted=Money(bonus.granted, credit_currency),
        bonus_left=Money(bonus.unused, credit_currency),
        credited_at=order.credited_at,
    )


async def approve(
    conn: AsyncConnection, *, refund_no: str, actor: Actor, note: str, now: datetime
) -> Refund:
    """Approve a requested refund: it leaves the SIM and is due to be sent — or, for a
    top-up made at an outlet, is paid to the agent's float to wait for the payer there."""
    approved = await _approve(conn, refund_no, actor, note, now)
    if not approved.at_outlet:
        return approved
    paid = await _to_float(conn, approved, now)
    await outlets.tell_waiting(conn, refund=paid, now=now)
    return paid


async def approve_at_counter(
    conn: AsyncConnection, *, refund_no: str, actor: Actor, payout: Payout, now: datetime
) -> Refund:
    """A clerk approves the refund of an outlet top-up they asked for and pays it out at
    once: paid to the agent's float, and from the counter to the payer."""
    paid = await _to_float(conn, await _approve(conn, refund_no, actor, "", now), now)
    assert paid.agent_id is not None
    recorded = await outlets.record_payout(
        conn, refund_no=refund_no, agent_id=paid.agent_id, payout=payout, actor=actor, now=now
    )
    assert recorded  # paid to the float in this transaction, not paid out yet
    paid_out = await _get(conn, refund_no)
    await outlets.tell_paid_out(conn, refund=paid_out, now=now)
    return paid_out


async def _to_float(conn: AsyncConnection, refund: Refund, now: datetime) -> Refund:
    paid = await outlets.to_float(conn, refund=refund, now=now)
    await settle_order(conn, order_no=refund.order_no)
    return paid


async def _approve(
    conn: AsyncConnection, refund_no: str, actor: Actor, note: str, now: datetime
) -> Refund:
    refund = await _decide(conn, refund_no, RefundState.APPROVED, actor, note, now)
    assert refund.hold_journal_id is not None
    await books.release(conn, refund_no=refund_no, hold_id=refund.hold_journal_id, now=now)
    order = await topups.get_order(conn, order_no=refund.order_no, lock=True)
    assert order is not None
    facts = await _facts(conn, order, take_back=True, now=now, refund_no=refund_no)
    most = refundable(facts)
    amounts = most if most.credit <= refund.credit else refundable(facts, refund.credit)
    await books.approve(conn, refund_no=refund_no, sim_id=order.sim_id, amounts=amounts, now=now)
    await conn.execute(
        update(t.refunds)
        .where(t.refunds.c.refund_no == refund_no)
        .values(
            taken_minor=amounts.taken.minor,
            deducted_minor=amounts.deducted.minor,
            bonus_back_minor=amounts.bonus_back.minor,
            pay_minor=amounts.pay.minor,
            full=amounts.full,
            next_try_at=None if refund.at_outlet else now,  # an outlet's: no provider asked
        )
    )
    approved = await _get(conn, refund_no)
    await _audit(conn, refund, approved, actor, "refund.approve", now)
    return approved


async def refuse(
    conn: AsyncConnection, *, refund_no: str, actor: Actor, note: str, now: datetime
) -> Refund:
    """Refuse a requested refund: its hold is released, the order is back where it was."""
    refund = await _decide(conn, refund_no, RefundState.REFUSED, actor, note, now)
    assert refund.hold_journal_id is not None
    await books.release(conn, refund_no=refund_no, hold_id=refund.hold_journal_id, now=now)
    await put_order_back(conn, order_no=refund.order_no)
    refused = await _get(conn, refund_no)
    await _audit(conn, refund, refused, actor, "refund.refuse", now)
    return refused


async def _decide(
    conn: AsyncConnection,
    refund_no: str,
    target: RefundState,
    actor: Actor,
    note: str,
    now: datetime,
) -> Refund:
    """Move a requested refund to ``target`` (a decision: only from ``requested``) by one
    conditional update; returns it as it was before."""
    refund = await get_refund(conn, refund_no=refund_no)
    if refund is None:
        raise UnknownRefund(f"no refund {refund_no}")
    c = t.refunds.c
    moved = await conn.execute(
        update(t.refunds)
        .where(c.refund_no == refund_no, c.state == RefundState.REQUESTED.value)
        .values(
            state=target.value,
            decided_at=now,
            decided_by=_actor_name(actor),
            decision_note=check_note(note),
        )
    )
    if moved.rowcount != 1:
        raise RefundDecided(f"refund {refund_no} was decided already")
    return refund


def _actor_name(actor: Actor) -> str:
    return f"staff:{actor.staff_id}" if actor.staff_id is not None else actor.origin


async def _audit(
    conn: AsyncConnection, before: Refund, after: Refund, actor: Actor, action: str, now: datetime
) -> None:
    await audit.record(
        conn,
        actor=actor,
        action=action,
        target=Target("refund", before.refund_no),
        before=before.audit_view(),
        after=after.audit_view(),
        now=now,
    )


async def _get(conn: AsyncConnection, refund_no: str) -> Refund:
    refund = await get_refund(conn, refund_no=refund_no)
    assert refund is not None
    return refund
