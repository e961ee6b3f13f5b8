"""Reading refunds: one by its number, an order's, a subscriber's, a SIM's, the staff's
queue, and at the counter: one by the POS's key, a shift's, those an agent's counters have
still to pay out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter.model import Payment
from simkeep.keyset import Keyset, older_than
from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.refunds import tables as t
from simkeep.refunds.model import OPEN, Reason, RefundState

QUEUE_PAGE = 100


@dataclass(frozen=True, slots=True)
class Refund:
    refund_no: str
    order_no: str
    sim_id: int
    provider: Provider
    requested_by: str
    reason: Reason
    note: str
    state: RefundState
    taken: Money  # leaves the SIM
    deducted: Money  # of it, bonus money used
    bonus_back: Money
    pay: Money  # back to the payer, in the currency paid
    full: bool
    hold_journal_id: int | None
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None
    attempts: int
    last_error: str | None
    provider_refund_no: str | None
    paid_at: datetime | None
    agent_id: int | None  # an outlet top-up's: its agent's float pays it
    commission_back: Money | None  # the agent's commission taken back, once paid
    outlet_id: int | None  # paid out at this counter …
    shift_id: int | None
    clerk_id: int | None
    payout: Payment | None  # … so: cash, or back to the card
    terminal_ref: str | None
    paid_out_at: datetime | None
    payout_key: str | None
    replayed: bool = False  # the answer to a retry: this refund was made before

    @property
    def credit(self) -> Money:
        """What is refunded, in the SIM's currency."""
        return self.taken - self.deducted

    @property
    def open(self) -> bool:
        return self.state in OPEN

    @property
    def at_outlet(self) -> bool:
        """Paid by the agent of the outlet that made the top-up, at one of its counters."""
        return self.provider is Provider.OUTLET

    @property
    def to_pay_out(self) -> bool:
        """Paid to the agent's float, and not yet to the payer at a counter."""
        return self.at_outlet and self.state is RefundState.PAID and self.payout is None

    def audit_view(self) -> dict[str, Any]:
        """What the audit log keeps of it."""
        return {
            "state": self.state.value,
            "order_no": self.order_no,
            "taken": str(self.taken),
            "deducted": str(self.deducted),
            "pay": str(self.pay),
            "decision_note": self.decision_note,
        }


def refund_from_row(row: Row[Any]) -> Refund:
    m = row._mapping
    credit_currency, pay_currency = m["credit_currency"], m["pay_currency"]
    return Refund(
        refund_no=m["refund_no"],
        order_no=m["order_no"],
        sim_id=m["sim_id"],
        provider=Provider(m["provider"]),
        requested_by=m["requested_by"],
        reason=Reason(m["reason"]),
        note=m["note"],
        state=RefundState(m["state"]),
        taken=Money(m["taken_minor"], credit_currency),
        deducted=Money(m["deducted_minor"], credit_currency),
        bonus_back=Money(m["bonus_back_minor"], credit_currency),
        pay=Money(m["pay_minor"], pay_currency),
        full=bool(m["full"]),
        hold_journal_id=m["hold_journal_id"],
        requested_at=m["requested_at"],
        decided_at=m["decided_at"],
        decided_by=m["decided_by"],
        decision_note=m["decision_note"],
        attempts=m["attempts"],
        last_error=m["last_error"],
        provider_refund_no=m["provider_refund_no"],
        paid_at=m["paid_at"],
        agent_id=m["agent_id"],
        commission_back=_money(m["commission_back_minor"], pay_currency),
        outlet_id=m["outlet_id"],
        shift_id=m["shift_id"],
        clerk_id=m["clerk_id"],
        payout=Payment(m["payout"]) if m["payout"] else None,
        terminal_ref=m["terminal_ref"],
        paid_out_at=m["paid_out_at"],
        payout_key=m["payout_key"],
    )


def _money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money(minor, currency)


async def get_refund(conn: AsyncConnection, *, refund_no: str) -> Refund | None:
    row = (await conn.execute(select(t.refunds).where(t.refunds.c.refund_no == refund_no))).first()
    return refund_from_row(row) if row else None


async def refunds_of_orders(
    conn: AsyncConnection, *, order_nos: Sequence[str]
) -> dict[str, list[Refund]]:
    """The refunds of these orders, oldest first, by order."""
    if not order_nos:
        return {}
    c = t.refunds.c
    rows = await conn.execute(
        select(t.refunds).where(c.order_no.in_(list(order_nos))).order_by(c.id)
    )
    found: dict[str, list[Refund]] = {}
    for row in rows:
        found.setdefault(row.order_no, []).append(refund_from_row(row))
    return found


async def refunds_of_sim(
    conn: AsyncConnection, *, sim_id: int, before: Keyset | None, limit: int
) -> list[tuple[int, Refund]]:
    """The SIM's refunds with their ids, newest asked first: at most ``limit`` before
    ``before`` (a SIM's timeline on the console; ``ix_refunds_sim``)."""
    c = t.refunds.c
    rows = await conn.execute(
        select(t.refunds)
        .where(c.sim_id == sim_id, older_than(c.requested_at, c.id, before))
        .order_by(c.requested_at.desc(), c.id.desc())
        .limit(limit)
    )
    return [(row.id, refund_from_row(row)) for row in rows]


async def refunds_in(
    conn: AsyncConnection, *, states: Sequence[RefundState], limit: int = QUEUE_PAGE
) -> list[Refund]:
    """Refunds in these states, oldest first (the staff's queue: ``requested``)."""
    c = t.refunds.c
    rows = await conn.execute(
        select(t.refunds)
        .where(c.state.in_([state.value for state in states]))
        .order_by(c.id)
        .limit(limit)
    )
    return [refund_from_row(row) for row in rows]


async def recent_refunds(conn: AsyncConnection, *, limit: int = QUEUE_PAGE) -> list[Refund]:
    """The latest refunds, newest first, whatever their state."""
    rows = await conn.execute(select(t.refunds).order_by(t.refunds.c.id.desc()).limit(limit))
    return [refund_from_row(row) for row in rows]


async def refund_by_payout_key(conn: AsyncConnection, *, clerk_id: int, key: str) -> Refund | None:
    """The refund this clerk paid out with this POS key, if any."""
    c = t.refunds.c
    query = select(t.refunds).where(c.clerk_id == clerk_id, c.payout_key == key)
    row = (await conn.execute(query)).first()
    return refund_from_row(row) if row else None


async def refunds_of_shift(conn: AsyncConnection, *, shift_id: int) -> list[Refund]:
    """The refunds paid out in a shift, oldest first (``ix_refunds_shift``)."""
    c = t.refunds.c
    rows = await conn.execute(select(t.refunds).where(c.shift_id == shift_id).order_by(c.id))
    return [refund_from_row(row) for row in rows]


async def waiting_at_agent(
    conn: AsyncConnection, *, agent_id: int, limit: int = QUEUE_PAGE
) -> list[Refund]:
    """The refunds paid to the agent's float that its counters have still to pay out,
    oldest first (``ix_refunds_agent_waiting``)."""
    c = t.refunds.c
    rows = await conn.execute(
        select(t.refunds)
        .where(
            c.agent_id == agent_id,
            c.state == RefundState.PAID.value,
            c.paid_out_at.is_(None),
        )
        .order_by(c.id)
        .limit(limit)
    )
    return [refund_from_row(row) for row in rows]
