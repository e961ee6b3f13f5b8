"""The Z-report of a shift, and who may read a shift's or a sale's papers.

Design overview
---------------
A Z-report is read in one go: the shift, its outlet, the clerk's name, every sale, and the
totals by kind of sale and payment type (``totals``, pure). An open shift reads the same
way, with its figures so far (expected cash and card) and no close. Who may read it:
the clerk who worked it, the agent that owns the outlet, and the operator's staff who read
staff pages (operators, auditors); anyone else reads nothing, as if it did not exist. A
sale's receipt is readable by those, and by the other clerks of its outlet (who reprint
it for a customer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter.model import Payment, SaleKind, ShiftFigures
from simkeep.counter.sale_rows import Sale, sales_of_shift
from simkeep.counter.shifts import Shift, get_shift
from simkeep.db import Database
from simkeep.money import Money
from simkeep.outlets import service as outlets
from simkeep.outlets.model import Outlet
from simkeep.staff import service as staff
from simkeep.staff.model import Permission, Role, may
from simkeep.staff.service import StaffMember


@dataclass(frozen=True, slots=True)
class TotalLine:
    kind: SaleKind
    payment: Payment
    count: int
    total: Money


@dataclass(frozen=True, slots=True)
class ShiftReport:
    shift: Shift
    outlet: Outlet
    clerk_name: str
    sales: list[Sale]
    lines: list[TotalLine]  # by kind and payment type
    cash: Money  # cash sales
    card: Money  # card sales
    commission: Money
    figures: ShiftFigures | None  # the close's, once closed

    @property
    def expected_cash(self) -> Money:
        """The opening cash plus the cash sales, so far or at the close."""
        return self.shift.opening_cash + self.cash


def may_see(
    viewer: StaffMember, *, outlet: Outlet, clerk_id: int, colleagues: bool = False
) -> bool:
    """Whether ``viewer`` may read papers of ``clerk_id``'s work at ``outlet`` (a shift, or
    with ``colleagues`` a sale, which the outlet's other clerks may reprint)."""
    if may(viewer.role, Permission.READ):
        return True
    if viewer.role == Role.AGENT:
        return viewer.agent_id == outlet.agent_id
    if viewer.role == Role.CLERK:
        return viewer.id == clerk_id or (colleagues and viewer.outlet_id == outlet.id)
    return False


async def shift_report(db: Database, *, shift_id: int, viewer: StaffMember) -> ShiftReport | None:
    """The Z-report of a shift, if ``viewer`` may read it."""

    async def read(conn: AsyncConnection) -> ShiftReport | None:
        shift = await get_shift(conn, shift_id=shift_id)
        outlet = (
            None if shift is None else await outlets.get_outlet(conn, outlet_id=shift.outlet_id)
        )
        if (
            shift is None
            or outlet is None
            or not may_see(viewer, outlet=outlet, clerk_id=shift.clerk_id)
        ):
            return None
        sales = await sales_of_shift(conn, shift_id=shift.id)
        return report_of(shift, outlet, await clerk_name(conn, shift.clerk_id), sales)

    return await db.read(read)


async def clerk_name(conn: AsyncConnection, clerk_id: int) -> str:
    member = await staff.find_member(conn, staff_id=clerk_id, disabled_too=True)
    return member.display_name if member is not None else str(clerk_id)


def report_of(shift: Shift, outlet: Outlet, name: str, sales: Sequence[Sale]) -> ShiftReport:
    """The report of a shift with these sales (pure)."""
    zero = Money.zero(shift.currency)
    lines = totals(sales, shift.currency)
    paid = {p: sum((line.total for line in lines if line.payment is p), zero) for p in Payment}
    return ShiftReport(
        shift=shift,
        outlet=outlet,
        clerk_name=name,
        sales=list(sales),
        lines=lines,
        cash=paid[Payment.CASH],
        card=paid[Payment.CARD],
        commission=sum((sale.commission for sale in sales), zero),
        figures=shift.figures,
    )


def totals(sales: Sequence[Sale], currency: str) -> list[TotalLine]:
    """The sales counted and summed by kind and payment type, each pair present."""
    counts = Counter((sale.kind, sale.payer.payment) for sale in sales)
    sums: dict[tuple[SaleKind, Payment], Money] = {}
    for sale in sales:
        pair = (sale.kind, sale.payer.payment)
        sums[pair] = sums.get(pair, Money.zero(currency)) + sale.amount
    return [
        TotalLine(
            kind, payment, counts[(kind, payment)], sums.get((kind, payment), Money.zero(currency))
        )
        for kind in SaleKind
        for payment in Payment
    ]
