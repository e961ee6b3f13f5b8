"""What the counter reads of refunds: those waiting at the agent's counters, one by the POS's
key (did it go through?), and one paid out at a counter with its outlet and clerk, for its
paper — readable by whoever may read the counter's sales (``counter.may_see``: its outlet's
clerks, its agent, the operator's staff), and by nobody else, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import service as counter
from simkeep.db import Database
from simkeep.outlets import service as outlets
from simkeep.outlets.model import Outlet
from simkeep.phone import parse_number
from simkeep.refunds import queries
from simkeep.refunds.queries import Refund
from simkeep.staff.service import StaffMember
from simkeep.topups import service as topups
from simkeep.topups.model import Order


@dataclass(frozen=True, slots=True)
class RefundPapers:
    """A refund paid out at a counter, with where and by whom: what its paper prints."""

    refund: Refund
    order: Order
    outlet: Outlet
    clerk_name: str

    @property
    def number_masked(self) -> str:
        return parse_number(self.order.msisdn).masked()


async def waiting_here(db: Database, *, clerk: StaffMember) -> list[Refund]:
    """The refunds the clerk's agent's counters have still to pay out, oldest first."""
    place = counter.place_of(clerk)
    return await db.read(lambda conn: queries.waiting_at_agent(conn, agent_id=place.agent_id))


async def refund_by_key(db: Database, *, clerk: StaffMember, key: str) -> Refund | None:
    """The refund the clerk made or paid out with this POS key, if it went through."""
    place = counter.place_of(clerk)
    return await db.read(
        lambda conn: queries.refund_by_payout_key(conn, clerk_id=place.clerk_id, key=key[:128])
    )


async def papers(db: Database, *, refund_no: str, viewer: StaffMember) -> RefundPapers | None:
    """A refund paid out at a counter and its paper, if ``viewer`` may read them."""

    async def read(conn: AsyncConnection) -> RefundPapers | None:
        found = await queries.get_refund(conn, refund_no=refund_no)
        if found is None or found.outlet_id is None or found.clerk_id is None:
            return None
        outlet = await outlets.get_outlet(conn, outlet_id=found.outlet_id)
        if outlet is None or not counter.may_see(
            viewer, outlet=outlet, clerk_id=found.clerk_id, colleagues=True
        ):
            return None
        order = await _order(conn, found.order_no)
        return RefundPapers(found, order, outlet, await counter.clerk_name(conn, found.clerk_id))

    return await db.read(read)


async def _order(conn: AsyncConnection, order_no: str) -> Order:
    order = await topups.get_order(conn, order_no=order_no)
    assert order is not None
    return order
