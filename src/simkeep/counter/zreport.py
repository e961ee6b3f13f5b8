"""The Z-report of a shift, and who may read a shift's or a sale's papers.

Design overview
---------------
A Z-report is read in one go: the shift, its outlet, the clerk's name, every sale, the
totals by kind of sale and payment type (``totals``, pure), and the refunds paid out in the
shift as lines of their own (``refund_totals``): what they paid back in cash and to cards
is taken off the cash and card the sales took, and the commission they took back off the
commission the sales earned. An open shift reads the same way, with its figures so far
(expected cash and card) and no close. Who may read it:
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
from simkeep.refunds import queries as refunds
from simkeep.refunds.queries import Refund
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
class RefundLine:
    payment: Payment
    count: int
    total: Money  # paid back


@dataclass(frozen=True, slots=True)
class ShiftReport:
    shift: Shift
    outlet: Outlet
    clerk_name: str
    sales: list[Sale]
    lines: list[TotalLine]  # the sales by kind and payment type
    refunds: list[Refund]  # paid out in the shift
    refund_lines: list[RefundLine]  # by payment type
    cash: Money  # cash taken: the cash sales less the refunds paid out in cash
    card: Money  # the card sales less the refunds back to cards: what the card terminal owes
    commission: Money  # earned by the sales, less what the refunds took back
    commission_back: Money  # what the refunds took back
    figures: ShiftFigures | None  # the close's, once closed

    @property
    def expected_cash(self) -> Money:
        """The opening cash plus the cash taken, so far or at the close."""
        return self.shift.opening_cash + self.cash

    def sales_by(self, payment: Payment) -> Money:
        """What the sales took by ``payment``, before refunds."""
        zero = Money.zero(self.shift.currency)
        return sum((line.total for line in self.lines if line.payment == payment), zero)


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
        paid_out = await refunds.refunds_of_shift(conn, shift_id=shift.id)
        return report_of(shift, outlet, await clerk_name(conn, shift.clerk_id), sales, paid_out)

    return await db.read(read)


async def clerk_name(conn: AsyncConnection, clerk_id: int) -> str:
    member = await staff.find_member(conn, staff_id=clerk_id, disabled_too=True)
    return member.display_name if member is not None else str(clerk_id)


def report_of(
    shift: Shift, outlet: Outlet, name: str, sales: Sequence[Sale], paid_out: Sequence[Refund]
) -> ShiftReport:
    """The report of a shift with these sales and refunds paid out (pure)."""
    zero = Money.zero(shift.currency)
    lines = totals(sales, shift.currency)
    back = refund_totals(paid_out, shift.currency)
    taken = {
        p: sum((line.total for line in lines if line.payment is p), zero)
        - sum((line.total for line in back if line.payment is p), zero)
        for p in Payment
    }
    commission_back = sum((refund.commission_back or zero for refund in paid_out), zero)
    return ShiftReport(
        shift=shift,
        outlet=outlet,
        clerk_name=name,
        sales=list(sales),
        lines=lines,
        refunds=list(paid_out),
        refund_lines=back,
        cash=taken[Payment.CASH],
        card=taken[Payment.CARD],
        commission=sum((sale.commission for sale in sales), zero) - commission_back,
        commission_back=commission_back,
        figures=shift.figures,
    )


def refund_totals(paid_out: Sequence[Refund], currency: str) -> list[RefundLine]:
    """The refunds paid out counted and summed by payment type, each present."""
    lines = []
    for payment in Payment:
        paid = [refund.pay for refund in paid_out if refund.payout is payment]
        lines.append(RefundLine(payment, len(paid), sum(paid, Money.zero(currency))))
    return lines


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
