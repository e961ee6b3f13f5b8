"""Refunds at the counter: a clerk refunds a top-up made at one of the agent's outlets and
pays it out, or pays out a refund that waits at the agent's counters (docs/outlets.md,
"Refunds at the counter").

Design overview
---------------
* The clerk types the receipt or order number printed on the customer's receipt
  (``model.check_topup_number``). ``preview`` shows what can go back (``model.refundable``,
  as online: the unused part, the bonus taken back first, the used bonus deducted), how
  (``model.way_back``: as the top-up was paid) and whether the holder's ID must be checked
  first — the counter's rule for the top-up's amount (``IdPolicy.needs_check``: at least the
  threshold, or any top-up of a suspended SIM), met by this clerk's match of the SIM within
  ``IdLimits.match_valid`` (``counter.recent_match``).
* ``refund`` is one transaction: the clerk's open shift is locked, as a sale locks it (the
  refund lands before the shift's close, or finds it closed); the POS's key answers the
  first refund made with it, looked for before and after that lock (a twin that held the
  lock first has committed its refund); the order is locked and must be a credited counter
  top-up of the clerk's agent; the ID rule is met; then the refund is opened as online (the
  order moves to ``refund_requested`` by one conditional update, so fifty at once make
  one), approved by the clerk (the audit log's ``refund.approve``) and paid out at once
  (``service.approve_at_counter``).
* ``pay_out`` pays a refund waiting at the agent's counters (asked online, paid to the
  float): the same shift lock, key, ID rule and way back, then one conditional update
  records the payout (``outlets.record_payout``): the same key answers the first payout,
  and a refund is paid out once.
* What the POS reads of refunds besides is ``refunds.counter_papers``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import service as counter
from simkeep.counter.model import (
    IdCheckRequired,
    IdLimits,
    IdPolicy,
    KeyConflict,
    Payer,
    check_key,
)
from simkeep.counter.service import Place, Sale
from simkeep.db import Database
from simkeep.money import Money
from simkeep.phone import parse_number
from simkeep.refunds import queries
from simkeep.refunds import service as refunds
from simkeep.refunds.model import (
    Amounts,
    NotOutletTopUp,
    NotRefundable,
    OtherAgent,
    PaidOut,
    Reason,
    RefundState,
    UnknownRefund,
    UnknownTopUp,
    check_topup_number,
    counter_fingerprint,
    way_back,
)
from simkeep.refunds.orders import refundable_order
from simkeep.refunds.outlets import Payout, record_payout, sale_behind, tell_paid_out
from simkeep.refunds.queries import Refund
from simkeep.refunds.service import Asked, Asking
from simkeep.sims import service as sims
from simkeep.staff.audit import Actor
from simkeep.staff.service import StaffMember
from simkeep.topups import service as topups
from simkeep.topups.model import Order


@dataclass(frozen=True, slots=True)
class CounterRefund:
    """A refund as the clerk entered it: the POS's key, the number on the customer's
    receipt, why, how it goes back, and what the POS showed would (None: all that can)."""

    key: str
    topup: str
    reason: Reason
    payer: Payer
    asked_minor: int | None = None


@dataclass(frozen=True, slots=True)
class Collect:
    """A refund waiting at the counter, paid out: the POS's key, its number, how."""

    key: str
    refund_no: str
    payer: Payer


@dataclass(frozen=True, slots=True)
class Holder:
    """Whether the SIM's holder must show their ID first, and until when this clerk's last
    match of it counts."""

    needs_id: bool
    matched_until: datetime | None


@dataclass(frozen=True, slots=True)
class Refundable:
    """A counter top-up as the clerk sees it before refunding it."""

    order: Order
    sale: Sale
    amounts: Amounts
    holder: Holder

    @property
    def number_masked(self) -> str:
        return parse_number(self.order.msisdn).masked()


@dataclass(frozen=True, slots=True)
class Waiting:
    """A refund waiting at the counter as the clerk sees it before paying it out."""

    refund: Refund
    order: Order
    sale: Sale
    holder: Holder

    @property
    def number_masked(self) -> str:
        return parse_number(self.order.msisdn).masked()


async def preview(
    db: Database, *, clerk: StaffMember, topup: str, policy: IdPolicy, now: datetime
) -> Refundable:
    """What a refund of the top-up with this receipt or order number would give back here."""
    place = counter.place_of(clerk)
    number = check_topup_number(topup)

    async def read(conn: AsyncConnection) -> Refundable:
        order, sale = await _outlet_topup(conn, number, place, lock=False)
        amounts = await refunds.refund_amounts(conn, order=order, asked=None, now=now)
        holder = await _holder(conn, order, place.clerk_id, policy, now)
        return Refundable(order, sale, amounts, holder)

    return await db.read(read)


async def refund(
    db: Database,
    *,
    clerk: StaffMember,
    actor: Actor,
    request: CounterRefund,
    policy: IdPolicy,
    now: datetime,
) -> Refund:
    """Refund a top-up made at one of the agent's outlets and pay it out at this counter,
    once per key."""
    place = counter.place_of(clerk)
    key = check_key(request.key)
    number = check_topup_number(request.topup)
    asking = Asking(None, staff=actor, idempotency_key=key)
    fingerprint = counter_fingerprint(
        topup=number, reason=request.reason, asked_minor=request.asked_minor, payer=request.payer
    )

    async def earlier(conn: AsyncConnection) -> Refund | None:
        return await refunds.replay(conn, asking, fingerprint)

    async def work(conn: AsyncConnection, shift_id: int) -> Refund:
        order, sale = await _outlet_topup(conn, number, place, lock=True)
        payer = way_back(sale.payer.payment, request.payer)
        await _check_holder(conn, order, place.clerk_id, policy, now)
        asked = None
        if request.asked_minor is not None:
            asked = Money(request.asked_minor, sale.amount.currency)
        amounts = await refunds.refund_amounts(conn, order=order, asked=asked, now=now)
        refund_no = await refunds.open_refund(
            conn,
            order=order,
            asked=Asked(asking, fingerprint, request.reason, ""),
            amounts=amounts,
            now=now,
        )
        payout = Payout(place.outlet_id, shift_id, place.clerk_id, payer, key)
        return await refunds.approve_at_counter(
            conn, refund_no=refund_no, actor=actor, payout=payout, now=now
        )

    return await db.transaction(lambda conn: _at_till(conn, place, earlier, work))


async def waiting_preview(
    db: Database, *, clerk: StaffMember, refund_no: str, policy: IdPolicy, now: datetime
) -> Waiting:
    """A refund waiting at the agent's counters, as the clerk pays it out."""
    place = counter.place_of(clerk)

    async def read(conn: AsyncConnection) -> Waiting:
        found = await _waiting(conn, refund_no[:32], place)
        order = await _order(conn, found.order_no)
        sale = await sale_behind(conn, order_no=order.order_no)
        holder = await _holder(conn, order, place.clerk_id, policy, now)
        return Waiting(found, order, sale, holder)

    return await db.read(read)


async def pay_out(
    db: Database,
    *,
    clerk: StaffMember,
    actor: Actor,
    request: Collect,
    policy: IdPolicy,
    now: datetime,
) -> Refund:
    """Pay out, at this counter, a refund paid to the agent's float; once per key, and once."""
    place = counter.place_of(clerk)
    key = check_key(request.key)

    async def earlier(conn: AsyncConnection) -> Refund | None:
        found = await queries.refund_by_payout_key(conn, clerk_id=place.clerk_id, key=key)
        return None if found is None else _same_payout(found, request)

    async def work(conn: AsyncConnection, shift_id: int) -> Refund:
        found = await _waiting(conn, request.refund_no[:32], place)
        order = await _order(conn, found.order_no)
        sale = await sale_behind(conn, order_no=order.order_no)
        payer = way_back(sale.payer.payment, request.payer)
        await _check_holder(conn, order, place.clerk_id, policy, now)
        payout = Payout(place.outlet_id, shift_id, place.clerk_id, payer, key)
        if not await record_payout(
            conn,
            refund_no=found.refund_no,
            agent_id=place.agent_id,
            payout=payout,
            actor=actor,
            now=now,
        ):
            raise PaidOut(f"refund {found.refund_no} was paid out already")
        paid_out = await _refund(conn, found.refund_no)
        await tell_paid_out(conn, refund=paid_out, now=now)
        return paid_out

    return await db.transaction(lambda conn: _at_till(conn, place, earlier, work))


async def check_holder_id(
    db: Database,
    *,
    clerk: StaffMember,
    topup: str,
    id_type: str,
    id_number: str,
    id_key: bytes,
    limits: IdLimits,
    actor: Actor,
    now: datetime,
) -> bool:
    """Check the ID of the holder of the SIM a counter top-up of the agent's topped up (by
    its receipt or order number): match or no match, as the counter checks it for a sale."""
    place = counter.place_of(clerk)
    number = check_topup_number(topup)

    async def read(conn: AsyncConnection) -> str:
        order, _sale = await _outlet_topup(conn, number, place, lock=False, credited=False)
        return order.msisdn

    return await counter.check_id(
        db,
        clerk=clerk,
        number=await db.read(read),
        id_type=id_type,
        id_number=id_number,
        id_key=id_key,
        limits=limits,
        actor=actor,
        now=now,
    )


async def _at_till(
    conn: AsyncConnection,
    place: Place,
    earlier: Callable[[AsyncConnection], Awaitable[Refund | None]],
    work: Callable[[AsyncConnection, int], Awaitable[Refund]],
) -> Refund:
    """A counter's refund or payout: the answer given before to this key, or ``work`` done
    under the clerk's open shift's lock."""
    made = await earlier(conn)
    if made is not None:
        return made
    await counter.trading_outlet(conn, place.outlet_id)
    shift = await counter.lock_open_shift(conn, clerk_id=place.clerk_id)
    made = await earlier(conn)  # a twin with this key held the lock first
    if made is not None:
        return made
    return await work(conn, shift.id)


async def _outlet_topup(
    conn: AsyncConnection, number: str, place: Place, *, lock: bool, credited: bool = True
) -> tuple[Order, Sale]:
    """The order of this receipt or order number and the counter sale that made it, if the
    clerk's agent made it (and, ``credited``, it may be refunded)."""
    order_no = number
    if number.startswith("R"):
        by_receipt = await topups.get_order_by_receipt(conn, receipt_no=number)
        order_no = by_receipt.order_no if by_receipt is not None else ""
    order = await topups.get_order(conn, order_no=order_no, lock=lock) if order_no else None
    if order is None:
        raise UnknownTopUp(f"no top-up has the number {number}: check it on the receipt")
    sale = await counter.sale_of_order(conn, order_no=order.order_no)
    if sale is None:
        raise NotOutletTopUp(
            "this top-up was not made at a counter: it is refunded online, the way it was paid"
        )
    if sale.agent_id != place.agent_id:
        raise OtherAgent("this top-up was made at another company's counter: it is refunded there")
    return (refundable_order(order) if credited else order), sale


async def _holder(
    conn: AsyncConnection, order: Order, clerk_id: int, policy: IdPolicy, now: datetime
) -> Holder:
    sim = await sims.get_sim(conn, sim_id=order.sim_id)
    assert sim is not None  # an order's SIM
    since = now - policy.limits.match_valid
    matched_at = await counter.recent_match(conn, sim_id=sim.id, clerk_id=clerk_id, since=since)
    return Holder(
        needs_id=policy.needs_check(order.credit, sim.state),
        matched_until=matched_at + policy.limits.match_valid if matched_at else None,
    )


async def _check_holder(
    conn: AsyncConnection, order: Order, clerk_id: int, policy: IdPolicy, now: datetime
) -> None:
    holder = await _holder(conn, order, clerk_id, policy, now)
    if holder.needs_id and holder.matched_until is None:
        raise IdCheckRequired("check the holder's ID document first: this refund needs it")


async def _waiting(conn: AsyncConnection, refund_no: str, place: Place) -> Refund:
    """A refund paid to the clerk's agent's float, not paid out yet."""
    found = await queries.get_refund(conn, refund_no=refund_no.strip().upper())
    if found is None or found.agent_id != place.agent_id:
        raise UnknownRefund(f"no refund {refund_no} waits at your company's counters")
    if found.paid_out_at is not None:
        raise PaidOut(f"refund {found.refund_no} was paid out already")
    if found.state is not RefundState.PAID:
        raise NotRefundable(f"refund {found.refund_no} is not ready to be paid out")
    return found


def _same_payout(found: Refund, request: Collect) -> Refund:
    same = (found.refund_no, found.payout, found.terminal_ref) == (
        request.refund_no.strip().upper(),
        request.payer.payment,
        request.payer.terminal_ref,
    )
    if not same:
        raise KeyConflict("this Idempotency-Key was used for another refund")
    return replace(found, replayed=True)


async def _order(conn: AsyncConnection, order_no: str) -> Order:
    order = await topups.get_order(conn, order_no=order_no)
    assert order is not None
    return order


async def _refund(conn: AsyncConnection, refund_no: str) -> Refund:
    found = await queries.get_refund(conn, refund_no=refund_no)
    assert found is not None
    return found
