"""Reading refunds: one by its number, an order's, a subscriber's, the staff's queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

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

    @property
    def credit(self) -> Money:
        """What is refunded, in the SIM's currency."""
        return self.taken - self.deducted

    @property
    def open(self) -> bool:
        return self.state in OPEN

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
    )


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
