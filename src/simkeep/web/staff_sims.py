"""A SIM's page on the console, ``/staff/sims/{id}``: its numbers, plan, state and validity,
its money (balance, bonus money, what refunds hold), the accounts that hold it, and its whole
story newest first, a page at a time (``?older=``: where the page before ended).

Design overview
---------------
Everything comes from ``staff.timeline.sim_story`` in one read. Every member of staff who
reads staff pages reads it — what a support person needs to answer a customer. The form
that enters a balance adjustment is shown to those with ``Permission.ADJUST`` and posts to
``staff_adjustments``, which shows this page again (``sim_page``) with the field marked
when the adjustment is refused. The form carries a one-time key, kept when it comes back
marked, so the same adjustment sent twice is entered once. A malformed cursor is a 400, an
unknown SIM a 404.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Annotated

from fastapi import HTTPException, Query, Request
from fastapi.responses import Response

from simkeep.services import Services, ServicesDep
from simkeep.sqltypes import MAX_ID
from simkeep.staff import service as staff_service
from simkeep.staff import timeline
from simkeep.staff.timeline_entries import Cursor, Source
from simkeep.web.forms import FormState
from simkeep.web.pages import Pages, PagesDep, RowId
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router()


@router.get("/staff/sims/{sim_id}")
async def sim(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    sim_id: RowId,
    older: Annotated[str, Query(max_length=40)] = "",
    entered: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    found: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    try:
        cursor = Cursor.parse(older) if older else None
    except ValueError as error:
        raise HTTPException(400, str(error)) from error
    notices = {"entered": entered, "found": found.strip()}
    return await sim_page(
        request, pages, services, staff, sim_id=sim_id, cursor=cursor, notices=notices
    )


async def sim_page(
    request: Request,
    pages: Pages,
    services: Services,
    staff: SignedInStaff,
    *,
    sim_id: int,
    cursor: Cursor | None = None,
    form: FormState | None = None,
    notices: Mapping[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    """The SIM's page; with ``form``, its adjustment form as it was sent, marked."""
    story = await timeline.sim_story(services.db, sim_id=sim_id, cursor=cursor)
    if story is None:
        raise HTTPException(404, "there is no such SIM")
    form = form or FormState()
    members = await staff_service.list_staff(services.db)
    context = {
        "story": story,
        "cursor": cursor,
        "form": form,
        "form_key": form.text("key") or secrets.token_urlsafe(24),
        "receipt_url": services.receipts.verify_url,
        "names": {member.id: member.username for member in members},
        "sources": Source,
        "notices": notices or {},
    }
    return staff_page(pages, request, "staff/sim.html", staff, context, status_code=status_code)
