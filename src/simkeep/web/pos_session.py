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
member for the header and the CSRF token for forms; ``forms_page`` is such a page with
forms, its status 200 or, when one of them is marked, the refusal's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse

from simkeep.staff.model import Permission, may
from simkeep.web.forms import FormState
from simkeep.web.pages import Pages
from simkeep.web.staff_session import SignedInStaff, signed_in

PaperReaderDep = Annotated[SignedInStaff, Depends(signed_in)]


async def signed_in_clerk(staff: PaperReaderDep) -> SignedInStaff:
    """A clerk at an outlet's counter."""
    if not staff.may(Permission.POS) or staff.member.outlet_id is None:
        raise HTTPException(403, "the counter is a clerk's")
    return staff


ClerkDep = Annotated[SignedInStaff, Depends(signed_in_clerk)]
# A refund's number in a page's address.
RefundNo = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9]+$")]


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


def forms_page(
    pages: Pages,
    request: Request,
    template: str,
    staff: SignedInStaff,
    forms: Mapping[str, FormState],
    context: Mapping[str, Any],
    *,
    refused: int = 422,
) -> HTMLResponse:
    """A POS page with ``forms``: 200, or ``refused`` when one of them is marked."""
    status = 200 if all(form.ok for form in forms.values()) else refused
    return pos_page(
        pages, request, template, staff, {"forms": forms, **context}, status_code=status
    )
