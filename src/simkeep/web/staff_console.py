"""The operator's pages that read: ``/staff`` (the overview), ``/staff/lines`` (lines at
risk), ``/staff/runs`` (retention runs) and ``/staff/audit`` (the audit log).

Design overview
---------------
Every route takes ``StaffDep`` and sits on a ``staff_router()``, so operators and auditors
read them all. Choices are in the query string (GET, no CSRF token), capped and checked at
the edge: an unknown state or action, or a page out of range, is a 400 page, never a 500.
"Today" is the Hong Kong day of the injected clock.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Query, Request
from fastapi.responses import Response

from simkeep.retention.at_risk import AT_RISK_STATES
from simkeep.retention.model import day_of
from simkeep.services import ServicesDep
from simkeep.sims.model import SimState
from simkeep.sqltypes import MAX_ID
from simkeep.staff import console
from simkeep.staff import service as staff_service
from simkeep.staff.audit import flat
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import StaffDep, staff_page, staff_router

router = staff_router()


@router.get("/staff")
async def home(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    today = day_of(services.clock.now())
    overview = await console.overview(services.db, today=today)
    context = {"overview": overview, "today": today, "states": list(SimState)}
    return staff_page(pages, request, "staff/home.html", staff, context)


@router.get("/staff/lines")
async def lines(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    state: Annotated[str, Query(max_length=16)] = SimState.ACTIVE.value,
    page: Annotated[int, Query(ge=1, le=console.MAX_PAGE)] = 1,
) -> Response:
    chosen = next((s for s in AT_RISK_STATES if s.value == state), None)
    if chosen is None:
        raise HTTPException(400, "choose active, grace or suspended")
    today = day_of(services.clock.now())
    risk = await console.lines_at_risk(services.db, state=chosen, today=today, page=page)
    context = {"risk": risk, "today": today, "states": AT_RISK_STATES}
    return staff_page(pages, request, "staff/lines.html", staff, context)


@router.get("/staff/runs")
async def runs(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    context = {"runs": await console.retention_runs(services.db)}
    return staff_page(pages, request, "staff/runs.html", staff, context)


@router.get("/staff/audit")
async def audit_log(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    member: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[str, Query(max_length=48)] = "",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    log = await console.audit_log(
        services.db, staff_id=member, action=action or None, before_id=before
    )
    context = {
        "log": log,
        "members": await staff_service.list_staff(services.db),
        "chosen_member": member,
        "chosen_action": action,
        "flat": flat,  # a before or after by dotted field name
    }
    return staff_page(pages, request, "staff/audit.html", staff, context)
