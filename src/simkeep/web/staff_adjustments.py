"""Balance adjustments on the console: entered on a SIM's page, decided by another member of
staff on ``/staff/adjustments`` — the queue of those waiting and the latest decided.

Design overview
---------------
Every route is on a ``staff_router(Permission.ADJUST)``: every member of staff reads the
queue, only operators and finance enter and decide (the router's guard refuses anyone
else's POSTs with 403 before the route runs). Entering is ``adjustments.service.
enter_adjustment``; a refusal (a malformed or zero amount, a missing reason, a debit the
balance cannot cover) shows the SIM's page again with the field marked (400). Approving or
rejecting is one transaction in ``adjustments.service``: the maker is refused, the
decision is one conditional update (two at once: one wins, the other is told), an approval
posts its journal, and a refusal changes nothing and shows the queue again with the reason
beside that adjustment (409; an unknown one is 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.adjustments import queries
from simkeep.adjustments import service as adjustments
from simkeep.adjustments.model import (
    Adjustment,
    AdjustmentError,
    InvalidAdjustment,
    UnknownAdjustment,
    UnknownSim,
)
from simkeep.services import ServicesDep
from simkeep.sqltypes import MAX_ID
from simkeep.staff import service as staff_service
from simkeep.staff.model import Permission
from simkeep.web.forms import read_form, see_other
from simkeep.web.pages import PagesDep, RowId
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router
from simkeep.web.staff_sims import sim_page

router = staff_router(Permission.ADJUST)


@router.post("/staff/sims/{sim_id}/adjustments")
async def enter(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep, sim_id: RowId
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        entered = await adjustments.enter_adjustment(
            services.db,
            sim_id=sim_id,
            amount=form.text("amount"),
            reason=form.text("reason"),
            key=form.text("key"),
            actor=staff.actor,
            now=services.clock.now(),
        )
    except UnknownSim as error:
        raise HTTPException(404, str(error)) from error
    except AdjustmentError as error:
        field = error.field if isinstance(error, InvalidAdjustment) else "amount"
        form.fail(field, error)
        return await sim_page(
            request, pages, services, staff, sim_id=sim_id, form=form, status_code=400
        )
    return see_other(f"/staff/sims/{sim_id}", entered=str(entered.id))


@router.get("/staff/adjustments")
async def queue(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    decided: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    return await _page(request, pages, services, staff, notice=decided)


@router.post("/staff/adjustments/{adjustment_id}/approve")
async def approve(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    adjustment_id: RowId,
) -> Response:
    return await _decide(request, pages, services, staff, adjustment_id, adjustments.approve)


@router.post("/staff/adjustments/{adjustment_id}/reject")
async def reject(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    adjustment_id: RowId,
) -> Response:
    return await _decide(request, pages, services, staff, adjustment_id, adjustments.reject)


async def _decide(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: SignedInStaff,
    adjustment_id: int,
    act: adjustments.Decision,
) -> Response:
    form = await read_form(request, staff.viewer)
    try:
        await services.db.transaction(
            lambda conn: act(
                conn,
                adjustment_id=adjustment_id,
                actor=staff.actor,
                note=form.text("note"),
                now=services.clock.now(),
            )
        )
    except UnknownAdjustment as error:
        raise HTTPException(404, str(error)) from error
    except AdjustmentError as error:
        failed = {adjustment_id: error}
        return await _page(request, pages, services, staff, failed=failed, status_code=409)
    return see_other("/staff/adjustments", decided=str(adjustment_id))


async def _page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: SignedInStaff,
    *,
    notice: int | None = None,
    failed: dict[int, AdjustmentError] | None = None,
    status_code: int = 200,
) -> Response:
    async def read(conn: AsyncConnection) -> tuple[list[Adjustment], list[Adjustment]]:
        return await queries.pending(conn), await queries.recent_decided(conn)

    waiting, recent = await services.db.read(read)
    members = await staff_service.list_staff(services.db)
    context = {
        "waiting": waiting,
        "recent": recent,
        "names": {member.id: member.username for member in members},
        "notice": notice,
        "failed": failed or {},
    }
    return staff_page(
        pages, request, "staff/adjustments.html", staff, context, status_code=status_code
    )
