"""Refunds on the operator's pages: ``/staff/refunds`` lists the requests waiting for a
decision, each with what it would give back and why it was asked, and the latest refunds
with where each is (approved, on its way, paid, refused, failed and why).

Design overview
---------------
Approving or refusing is one transaction in ``refunds.service`` (``approve``, ``refuse``):
the refund leaves ``requested`` by one conditional update (two operators at once: one wins,
the other is told), the books move with it, and the audit log records who, what and the
note they gave. A refusal of the request (decided already, nothing left) changes nothing
and shows the list again with the reason beside that refund (409). Every member of staff
reads the list; the forms are for those with ``Permission.REFUND`` — operators and support
(the router's guard refuses anyone else's POSTs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.refunds import queries
from simkeep.refunds import service as refunds
from simkeep.refunds.model import RefundError, RefundState
from simkeep.refunds.queries import Refund
from simkeep.services import ServicesDep
from simkeep.staff import accounts
from simkeep.staff.model import Permission
from simkeep.web.forms import read_form, see_other
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router(Permission.REFUND)
RefundNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9]+$")]


@router.get("/staff/refunds")
async def refunds_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    decided = request.query_params.get("decided", "")[:32]
    return await _page(request, pages, services, staff, notice=decided)


@router.post("/staff/refunds/{refund_no}/approve")
async def approve(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, refund_no: RefundNo
) -> Response:
    return await _decide(request, pages, services, staff, refund_no, refunds.approve)


@router.post("/staff/refunds/{refund_no}/refuse")
async def refuse(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, refund_no: RefundNo
) -> Response:
    return await _decide(request, pages, services, staff, refund_no, refunds.refuse)


async def _decide(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: SignedInStaff,
    refund_no: str,
    act: refunds.Decision,
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        await services.db.transaction(
            lambda conn: act(
                conn,
                refund_no=refund_no,
                actor=staff.actor,
                note=form.text("note"),
                now=services.clock.now(),
            )
        )
    except RefundError as error:
        failed = {refund_no: error}
        return await _page(request, pages, services, staff, failed=failed, status_code=409)
    return see_other("/staff/refunds", decided=refund_no)


async def _page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: SignedInStaff,
    *,
    notice: str = "",
    failed: dict[str, RefundError] | None = None,
    status_code: int = 200,
) -> Response:
    async def read(conn: AsyncConnection) -> tuple[list[Refund], list[Refund]]:
        waiting = await queries.refunds_in(conn, states=[RefundState.REQUESTED])
        return waiting, await queries.recent_refunds(conn)

    waiting, recent = await services.db.read(read)
    members = await accounts.list_staff(services.db)
    context = {
        "waiting": waiting,
        "recent": recent,
        "deciders": {f"staff:{member.id}": member.display_name for member in members},
        "notice": notice,
        "failed": failed or {},
    }
    return staff_page(pages, request, "staff/refunds.html", staff, context, status_code=status_code)
