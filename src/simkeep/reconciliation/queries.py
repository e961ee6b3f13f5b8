"""Reading reconciliations: the latest days of every provider, one day with its totals, its
recorded rows a page at a time, and one row."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.money import Money
from simkeep.payment_methods import Provider
from simkeep.reconciliation import tables as t
from simkeep.reconciliation.bill import RowKind
from simkeep.reconciliation.model import (
    OPEN,
    QUERYABLE,
    RESOLVABLE,
    Action,
    Counts,
    RowClass,
    RunState,
    Side,
    may_resolve,
)

LATEST = 200  # provider days on the overview
PAGE = 500  # rows of a day on its page (the CSV has them all)


@dataclass(frozen=True, slots=True)
class DayTotals:
    """What a day's bill adds up to in one currency."""

    currency: str
    payments: int
    paid: Money
    refunds: int
    paid_back: Money
    fees: Money  # kept on payments
    fees_back: Money  # given back on refunds
    fee_journal: str | None

    @property
    def net_fee(self) -> Money:
        return self.fees - self.fees_back


@dataclass(frozen=True, slots=True)
class Reconciliation:
    id: int
    provider: Provider
    day: date
    state: RunState
    digest: str | None
    bill_rows: int
    counts: Counts
    reason: str | None
    run_by: str
    started_at: datetime
    finished_at: datetime | None
    next_try_at: datetime | None
    open: int = 0  # differences waiting for staff
    totals: tuple[DayTotals, ...] = ()


@dataclass(frozen=True, slots=True)
class Difference:
    """A recorded row of a day: a difference, a carry, or a payment matched on another day
    than simkeep's."""

    id: int
    side: Side
    kind: RowKind
    order_no: str
    refund_no: str
    trade_no: str
    row_class: RowClass
    action: Action
    billed: Money | None  # the bill's amount
    bill_fee: Money | None
    bill_at: datetime | None
    local: Money | None  # what simkeep's order or refund is for
    local_state: str | None
    local_at: datetime | None  # when simkeep took it
    other_day: date | None  # the other day's bill that had it, or lacked it too
    answer: str | None
    note: str | None
    acted_by: str | None
    acted_at: datetime | None

    @property
    def resolvable(self) -> bool:
        return may_resolve(self.row_class, self.action)

    def audit_view(self) -> dict[str, Any]:
        """What the audit log keeps of it."""
        return {
            "class": self.row_class.value,
            "action": self.action.value,
            "kind": self.kind.value,
            "order_no": self.order_no,
            "refund_no": self.refund_no,
            "billed": str(self.billed) if self.billed else None,
            "local": str(self.local) if self.local else None,
            "note": self.note,
        }


def _money(minor: int | None, currency: str | None) -> Money | None:
    return None if minor is None or currency is None else Money(minor, currency)


def reconciliation_from_row(row: Row[Any], *, open_count: int = 0) -> Reconciliation:
    m = row._mapping
    return Reconciliation(
        id=m["id"],
        provider=Provider(m["provider"]),
        day=m["day"],
        state=RunState(m["state"]),
        digest=m["digest"],
        bill_rows=m["bill_rows"],
        counts=Counts(
            matched=m["matched"],
            amount_mismatch=m["amount_mismatch"],
            paid_not_credited=m["paid_not_credited"],
            provider_only=m["provider_only"],
            local_only=m["local_only"],
            carried=m["carried"],
        ),
        reason=m["reason"],
        run_by=m["run_by"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        next_try_at=m["next_try_at"],
        open=open_count,
    )


def difference_from_row(row: Row[Any]) -> Difference:
    m = row._mapping
    return Difference(
        id=m["id"],
        side=Side(m["side"]),
        kind=RowKind(m["kind"]),
        order_no=m["order_no"],
        refund_no=m["refund_no"],
        trade_no=m["trade_no"],
        row_class=RowClass(m["row_class"]),
        action=Action(m["action"]),
        billed=_money(m["bill_minor"], m["bill_currency"]),
        bill_fee=_money(m["bill_fee_minor"], m["bill_currency"]),
        bill_at=m["bill_at"],
        local=_money(m["local_minor"], m["local_currency"]),
        local_state=m["local_state"],
        local_at=m["local_at"],
        other_day=m["other_day"],
        answer=m["answer"],
        note=m["note"],
        acted_by=m["acted_by"],
        acted_at=m["acted_at"],
    )


def _open_counts(ids: list[int]) -> Any:
    i = t.reconciliation_items.c
    return (
        select(i.reconciliation_id, func.count())
        .where(
            i.reconciliation_id.in_(ids),
            i.row_class.in_([c.value for c in RESOLVABLE]),
            i.action.in_([a.value for a in OPEN]),
        )
        .group_by(i.reconciliation_id)
    )


async def latest(conn: AsyncConnection, *, limit: int = LATEST) -> list[Reconciliation]:
    """The latest provider days, newest day first, each with its differences still open."""
    r = t.reconciliations.c
    rows = (
        await conn.execute(
            select(t.reconciliations).order_by(r.day.desc(), r.provider).limit(limit)
        )
    ).all()
    if not rows:
        return []
    opened = dict((await conn.execute(_open_counts([row.id for row in rows]))).all())
    return [reconciliation_from_row(row, open_count=opened.get(row.id, 0)) for row in rows]


async def get_reconciliation(
    conn: AsyncConnection, *, provider: Provider, day: date
) -> Reconciliation | None:
    """A provider's day with its totals, or None if it was never run."""
    r = t.reconciliations.c
    row = (
        await conn.execute(
            select(t.reconciliations).where(r.provider == provider.value, r.day == day)
        )
    ).first()
    if row is None:
        return None
    opened = dict((await conn.execute(_open_counts([row.id]))).all())
    found = reconciliation_from_row(row, open_count=opened.get(row.id, 0))
    s = t.reconciliation_totals.c
    totals = await conn.execute(
        select(t.reconciliation_totals).where(s.reconciliation_id == row.id).order_by(s.currency)
    )
    return replace(found, totals=tuple(_totals(total) for total in totals))


def _totals(row: Row[Any]) -> DayTotals:
    currency = row.currency
    return DayTotals(
        currency=currency,
        payments=row.payments,
        paid=Money(row.paid_minor, currency),
        refunds=row.refunds,
        paid_back=Money(row.paid_back_minor, currency),
        fees=Money(row.fee_minor, currency),
        fees_back=Money(row.fee_back_minor, currency),
        fee_journal=row.fee_journal,
    )


async def differences(
    conn: AsyncConnection, *, reconciliation_id: int, after_id: int = 0, limit: int = PAGE
) -> list[Difference]:
    """A day's recorded rows after ``after_id``, in the order they were recorded."""
    i = t.reconciliation_items.c
    rows = await conn.execute(
        select(t.reconciliation_items)
        .where(i.reconciliation_id == reconciliation_id, i.id > after_id)
        .order_by(i.id)
        .limit(limit)
    )
    return [difference_from_row(row) for row in rows]


def to_ask(reconciliation_id: int) -> Select[Any]:
    """A day's rows the provider is to be asked about: paid there, not taken here, still
    takeable here (an order payable, a refund on its way), and nobody asked yet."""
    i = t.reconciliation_items.c
    takeable = [
        (i.kind == kind.value) & i.local_state.in_(sorted(states))
        for kind, states in QUERYABLE.items()
    ]
    return (
        select(t.reconciliation_items)
        .where(
            i.reconciliation_id == reconciliation_id,
            i.row_class == RowClass.PAID_NOT_CREDITED.value,
            i.action == Action.NONE.value,
            or_(*takeable),
        )
        .order_by(i.id)
    )


async def get_difference(
    conn: AsyncConnection, *, item_id: int, reconciliation_id: int
) -> Difference | None:
    i = t.reconciliation_items.c
    row = (
        await conn.execute(
            select(t.reconciliation_items).where(
                i.id == item_id, i.reconciliation_id == reconciliation_id
            )
        )
    ).first()
    return difference_from_row(row) if row else None
