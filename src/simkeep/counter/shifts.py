"""Clerks' shifts: opening one with the cash in the drawer, finding the open one, closing it
with the cash counted (docs/outlets.md, "Shift close").

Design overview
---------------
* A clerk has at most one open shift: the partial unique index on ``counter_shifts``
  refuses a second, whatever races. A shift is in the outlet's currency.
* Every sale, and every refund paid out at the counter, takes its clerk's open shift with
  ``lock_open_shift`` — a conditional update that locks the shift's row on PostgreSQL —
  before it writes anything, and closing takes the same lock first. So a sale or a refund
  either lands before the close (and is counted) or finds the shift closed, and the close
  sums them in statements of their own once it holds the lock (read committed: it sees
  every one committed before it).
* Closing computes the figures (``model.close_figures``) and moves the shift with
  ``UPDATE … WHERE state = 'open'``; a second close finds nothing to move and is refused.
  Opening and closing are recorded in the staff audit log in their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import tables as t
from simkeep.counter.model import (
    NoOpenShift,
    NotAClerk,
    OutletNotSelling,
    Payment,
    ShiftAlreadyOpen,
    ShiftClosed,
    ShiftFigures,
    ShiftState,
    UnknownShift,
    check_cash_minor,
    close_figures,
    sources,
)
from simkeep.db import Database
from simkeep.money import Money
from simkeep.outlets import service as outlets
from simkeep.outlets.model import Outlet, OutletState
from simkeep.refunds import queries as refunds
from simkeep.staff.audit import Actor, Target, record
from simkeep.staff.model import Role
from simkeep.staff.service import StaffMember
from simkeep.statements import INTEGRITY_ERRORS

s = t.shifts.c


@dataclass(frozen=True, slots=True)
class Place:
    """Where a clerk works."""

    clerk_id: int
    agent_id: int
    outlet_id: int


@dataclass(frozen=True, slots=True)
class Shift:
    id: int
    outlet_id: int
    clerk_id: int
    state: ShiftState
    opening_cash: Money
    opened_at: datetime
    closed_at: datetime | None
    figures: ShiftFigures | None  # once closed

    @property
    def currency(self) -> str:
        return self.opening_cash.currency


def place_of(member: StaffMember) -> Place:
    """The outlet a clerk works at; refused for anyone else."""
    if member.role != Role.CLERK or member.agent_id is None or member.outlet_id is None:
        raise NotAClerk("only a clerk at an outlet works the counter")
    return Place(member.id, member.agent_id, member.outlet_id)


async def trading_outlet(conn: AsyncConnection, outlet_id: int) -> Outlet:
    """The clerk's outlet, refused unless it is open for business."""
    outlet = await outlets.get_outlet(conn, outlet_id=outlet_id)
    if outlet is None or outlet.state is not OutletState.OPEN:
        raise OutletNotSelling("this outlet is closed: it sells nothing", field="shift")
    return outlet


async def open_shift(
    db: Database, *, clerk: StaffMember, opening_minor: int, actor: Actor, now: datetime
) -> Shift:
    """Open the clerk's shift with the cash in the drawer; refused while one is open."""
    place = place_of(clerk)

    async def open_(conn: AsyncConnection) -> Shift:
        outlet = await trading_outlet(conn, place.outlet_id)
        opening = check_cash_minor(opening_minor, outlet.currency, field="opening_cash")
        values = {
            "outlet_id": place.outlet_id,
            "clerk_id": place.clerk_id,
            "currency": outlet.currency,
            "state": ShiftState.OPEN.value,
            "opening_cash_minor": opening.minor,
            "opened_at": now,
        }
        try:
            inserted = await conn.execute(t.shifts.insert().values(**values).returning(t.shifts))
        except INTEGRITY_ERRORS as error:
            raise ShiftAlreadyOpen("close the open shift before opening another") from error
        shift = _shift(inserted.mappings().one())
        after = {"outlet_id": place.outlet_id, "opening_cash": str(opening)}
        await record(
            conn,
            actor=actor,
            action="pos.shift_opened",
            target=Target("shift", shift.id),
            before=None,
            after=after,
            now=now,
        )
        return shift

    return await db.transaction(open_)


async def current_shift(db: Database, *, clerk: StaffMember) -> Shift | None:
    """The clerk's open shift, if any."""
    place = place_of(clerk)
    query = select(t.shifts).where(s.clerk_id == place.clerk_id, s.state == ShiftState.OPEN)

    async def read(conn: AsyncConnection) -> Shift | None:
        row = (await conn.execute(query)).mappings().first()
        return None if row is None else _shift(row)

    return await db.read(read)


async def lock_open_shift(conn: AsyncConnection, *, clerk_id: int) -> Shift:
    """The clerk's open shift, its row locked until the caller's transaction ends."""
    locked = await conn.execute(
        update(t.shifts)
        .where(s.clerk_id == clerk_id, s.state == ShiftState.OPEN.value)
        .values(state=s.state)
        .returning(t.shifts)
    )
    row = locked.mappings().first()
    if row is None:
        raise NoOpenShift("open a shift first")
    return _shift(row)


async def close_shift(
    db: Database,
    *,
    clerk: StaffMember,
    shift_id: int,
    counted_minor: int,
    actor: Actor,
    now: datetime,
) -> Shift:
    """Close the clerk's open shift with the cash counted; a second close is refused."""
    place = place_of(clerk)

    async def close(conn: AsyncConnection) -> Shift:
        shift = await _lock_for_close(conn, shift_id, place.clerk_id)
        counted = check_cash_minor(counted_minor, shift.currency, field="counted_cash")
        cash, card = await _sales_by_payment(conn, shift)
        cash_back, card_back = await _refunds_by_payment(conn, shift)
        figures = close_figures(
            opening=shift.opening_cash,
            cash_sales=cash,
            card_sales=card,
            cash_refunds=cash_back,
            card_refunds=card_back,
            counted=counted,
        )
        closed = await _closed(conn, shift.id, figures, now)
        after = {
            name: str(getattr(figures, name))
            for name in ("expected_cash", "expected_card", "counted_cash", "difference")
        }
        await record(
            conn,
            actor=actor,
            action="pos.shift_closed",
            target=Target("shift", shift.id),
            before={"state": ShiftState.OPEN.value},
            after={"state": ShiftState.CLOSED.value, **after},
            now=now,
        )
        return closed

    return await db.transaction(close)


async def _closed(
    conn: AsyncConnection, shift_id: int, figures: ShiftFigures, now: datetime
) -> Shift:
    """open → closed with the figures, by a conditional update (the caller holds the lock)."""
    closed = await conn.execute(
        update(t.shifts)
        .where(s.id == shift_id, s.state.in_(sources(ShiftState.CLOSED)))
        .values(
            state=ShiftState.CLOSED.value,
            closed_at=now,
            expected_cash_minor=figures.expected_cash.minor,
            expected_card_minor=figures.expected_card.minor,
            counted_cash_minor=figures.counted_cash.minor,
            difference_minor=figures.difference.minor,
        )
        .returning(t.shifts)
    )
    return _shift(closed.mappings().one())


async def get_shift(conn: AsyncConnection, *, shift_id: int) -> Shift | None:
    """One shift by id."""
    row = (await conn.execute(select(t.shifts).where(s.id == shift_id))).mappings().first()
    return None if row is None else _shift(row)


async def _lock_for_close(conn: AsyncConnection, shift_id: int, clerk_id: int) -> Shift:
    locked = await conn.execute(
        update(t.shifts)
        .where(s.id == shift_id, s.clerk_id == clerk_id, s.state == ShiftState.OPEN.value)
        .values(state=s.state)
        .returning(t.shifts)
    )
    row = locked.mappings().first()
    if row is not None:
        return _shift(row)
    shift = await get_shift(conn, shift_id=shift_id)
    if shift is None or shift.clerk_id != clerk_id:
        raise UnknownShift("no such shift of yours")
    raise ShiftClosed("this shift is closed already")


async def _sales_by_payment(conn: AsyncConnection, shift: Shift) -> tuple[Money, Money]:
    """The shift's cash sales and card sales."""
    sale = t.sales.c
    rows = await conn.execute(
        select(sale.payment, func.sum(sale.amount_minor))
        .where(sale.shift_id == shift.id)
        .group_by(sale.payment)
    )
    totals = {payment: int(total) for payment, total in rows}
    return (
        Money(totals.get(Payment.CASH.value, 0), shift.currency),
        Money(totals.get(Payment.CARD.value, 0), shift.currency),
    )


async def _refunds_by_payment(conn: AsyncConnection, shift: Shift) -> tuple[Money, Money]:
    """What the shift's refunds paid out in cash, and back to cards."""
    paid = {payment: Money.zero(shift.currency) for payment in Payment}
    for refund in await refunds.refunds_of_shift(conn, shift_id=shift.id):
        assert refund.payout is not None  # a shift's refunds were paid out in it
        paid[refund.payout] += refund.pay
    return paid[Payment.CASH], paid[Payment.CARD]


def _shift(row: Any) -> Shift:
    currency = row["currency"]
    figures = None
    if row["state"] == ShiftState.CLOSED.value:
        figures = ShiftFigures(
            expected_cash=Money(row["expected_cash_minor"], currency),
            expected_card=Money(row["expected_card_minor"], currency),
            counted_cash=Money(row["counted_cash_minor"], currency),
            difference=Money(row["difference_minor"], currency),
        )
    return Shift(
        id=row["id"],
        outlet_id=row["outlet_id"],
        clerk_id=row["clerk_id"],
        state=ShiftState(row["state"]),
        opening_cash=Money(row["opening_cash_minor"], currency),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        figures=figures,
    )
