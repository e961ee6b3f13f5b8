"""The counter's use cases, the one module entry points and other domains call
(docs/outlets.md, "The counter (POS)").

Design overview
---------------
Each area lives in a module of its own and is re-exported here: devices and their tokens
(``devices``), shifts (``shifts``), looking a number up and checking the holder's ID
(``checks``), sales — top-ups and vouchers — once per idempotency key (``sales``), the
Z-report and who may read a shift's or a sale's papers (``zreport``). What is left here is
what the POS and the receipts read: the clerk's counter as the POS page shows it, a sale by
its key (has this request gone through?), and a sale with where and by whom it was made.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter.checks import IdDocument, Lookup, check_id, look_up, recent_match
from simkeep.counter.devices import (
    Device,
    DeviceRow,
    NewDevice,
    authenticate_device,
    device_for_token,
    issue_device,
    list_devices,
    member_id,
    revoke_device,
)
from simkeep.counter.sale_rows import Sale, get_sale, sale_by_key, sale_by_receipt, sale_of_order
from simkeep.counter.sales import sell_vouchers, top_up
from simkeep.counter.shifts import (
    Place,
    Shift,
    close_shift,
    current_shift,
    lock_open_shift,
    open_shift,
    place_of,
    trading_outlet,
)
from simkeep.counter.zreport import (
    RefundLine,
    ShiftReport,
    TotalLine,
    clerk_name,
    may_see,
    shift_report,
)
from simkeep.db import Database
from simkeep.outlets import service as outlets
from simkeep.outlets.model import Outlet
from simkeep.staff.service import StaffMember

__all__ = [
    "Counter",
    "Device",
    "DeviceRow",
    "IdDocument",
    "Lookup",
    "NewDevice",
    "Place",
    "RefundLine",
    "Sale",
    "SalePapers",
    "Shift",
    "ShiftReport",
    "TotalLine",
    "authenticate_device",
    "check_id",
    "clerk_name",
    "close_shift",
    "counter_of",
    "current_shift",
    "device_for_token",
    "find_sale",
    "issue_device",
    "list_devices",
    "lock_open_shift",
    "look_up",
    "may_see",
    "member_id",
    "open_shift",
    "papers_of",
    "place_of",
    "recent_match",
    "revoke_device",
    "sale_for",
    "sale_of_order",
    "sell_vouchers",
    "shift_report",
    "top_up",
    "trading_outlet",
]


@dataclass(frozen=True, slots=True)
class Counter:
    """The clerk's counter as the POS shows it: the outlet, and the open shift so far."""

    outlet: Outlet
    report: ShiftReport | None  # None: no shift is open


@dataclass(frozen=True, slots=True)
class SalePapers:
    """A sale with where and by whom it was made: what its receipt prints."""

    sale: Sale
    outlet: Outlet
    clerk_name: str


async def counter_of(db: Database, *, clerk: StaffMember) -> Counter:
    """The clerk's outlet and open shift (with its sales so far)."""
    place = place_of(clerk)
    outlet = await db.read(lambda conn: trading_outlet(conn, place.outlet_id))
    shift = await current_shift(db, clerk=clerk)
    report = None if shift is None else await shift_report(db, shift_id=shift.id, viewer=clerk)
    return Counter(outlet, report)


async def find_sale(db: Database, *, clerk: StaffMember, key: str) -> Sale | None:
    """The sale the clerk's outlet made with this idempotency key, if it went through."""
    place = place_of(clerk)
    return await db.read(lambda conn: sale_by_key(conn, outlet_id=place.outlet_id, key=key[:128]))


async def sale_for(db: Database, *, sale_id: int, viewer: StaffMember) -> SalePapers | None:
    """A sale and its papers, if ``viewer`` may read them."""

    async def read(conn: AsyncConnection) -> SalePapers | None:
        sale = await get_sale(conn, sale_id=sale_id)
        papers = None if sale is None else await _papers(conn, sale)
        if papers is None or not may_see(
            viewer, outlet=papers.outlet, clerk_id=papers.sale.clerk_id, colleagues=True
        ):
            return None
        return papers

    return await db.read(read)


async def papers_of(
    conn: AsyncConnection, *, order_no: str | None = None, receipt_no: str | None = None
) -> SalePapers | None:
    """The counter sale behind a top-up order or a receipt number, if there is one."""
    if order_no is not None:
        sale = await sale_of_order(conn, order_no=order_no)
    else:
        sale = await sale_by_receipt(conn, receipt_no=receipt_no or "")
    return None if sale is None else await _papers(conn, sale)


async def _papers(conn: AsyncConnection, sale: Sale) -> SalePapers | None:
    outlet = await outlets.get_outlet(conn, outlet_id=sale.outlet_id)
    if outlet is None:
        return None
    return SalePapers(sale, outlet, await clerk_name(conn, sale.clerk_id))
