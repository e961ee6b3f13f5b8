"""Who is at the counter: the dependencies of the POS pages.

Design overview
---------------
The POS pages read the staff session (``web.staff_session``: the staff cookie goes to
``/pos`` too). ``ClerkDep`` is a member past the second factor whose role works the counter
(``Permission.POS``: a clerk, bound to one outlet); ``PaperReaderDep`` is any member past
the second factor — the papers (a sale's receipt, a shift's Z-report) are then given only
to those the counter's service lets read them (the clerk, the outlet's agent, the
operator's staff), as if nothing else existed. Nobody signed in is sent to the staff login
and back; anyone else is refused (403). ``pos_page`` renders in the POS layout, with the
member for the header and the CSRF token for forms. ``id_policy`` is the ID check's policy
every counter form applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from simkeep.counter.model import IdPolicy
from simkeep.services import Services
from simkeep.staff.audit import Actor
from simkeep.staff.model import Permission, may
from simkeep.web.pages import Pages
from simkeep.web.session import SeeOther
from simkeep.web.staff_session import SignedInStaff, StaffViewerDep, origin_of


def id_policy(services: Services) -> IdPolicy:
    """The ID policy of the settings (``SIMKEEP_ID_CHECK_FROM``)."""
    return IdPolicy(check_from_minor=services.settings.id_check_from)


async def signed_in(request: Request, viewer: StaffViewerDep) -> SignedInStaff:
    """A member of staff past the second factor; the login for anyone else."""
    member = viewer.member
    if member is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SeeOther(f"/staff/login?next={quote(here, safe='/')}")
    if not member.second_factor:
        raise SeeOther("/staff/enrol")
    return SignedInStaff(member, viewer, Actor(member.id, origin_of(request)))


PaperReaderDep = Annotated[SignedInStaff, Depends(signed_in)]


async def signed_in_clerk(staff: PaperReaderDep) -> SignedInStaff:
    """A clerk at an outlet's counter."""
    if not staff.may(Permission.POS) or staff.member.outlet_id is None:
        raise HTTPException(403, "the counter is a clerk's")
    return staff


ClerkDep = Annotated[SignedInStaff, Depends(signed_in_clerk)]


def pos_page(
    pages: Pages,
    request: Request,
    template: str,
    staff: SignedInStaff,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page in the POS layout (``pos/base.html``), in the request's language."""
    full = {
        "me": staff.viewer,
        "staff": staff.member,
        "at_counter": may(staff.member.role, Permission.POS),
        **(context or {}),
    }
    response = pages.render(request, template, full, status_code=status_code)
    staff.viewer.finish(response)
    return response
