"""Exports on the operator's pages: ``/staff/exports`` asks what (orders, refunds) and which
Hong Kong days; ``/staff/exports/csv`` answers with the CSV file (``staff.exports``).

Design overview
---------------
* Both are GETs, so that an auditor, who changes nothing, may export: the form changes
  nothing, and the download only reads — and writes who exported what in the audit log,
  before the first byte. The choices are in the query string and checked as the
  dashboard's (``staff_dashboard.chosen_days``: a day that does not read, a reversed range
  or one of more than a year); a refusal shows the form again with the field marked (400)
  and records nothing.
* The file is streamed (``StreamingResponse`` over ``exports.csv_text``), a batch of rows
  at a time, as an attachment named after what and the days, never cached.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from simkeep.retention.model import day_of
from simkeep.services import ServicesDep
from simkeep.staff import exports
from simkeep.staff.dashboard import DEFAULT_DAYS
from simkeep.staff.exports import Export
from simkeep.web.forms import FieldError, FormState
from simkeep.web.pages import Pages, PagesDep
from simkeep.web.staff_dashboard import chosen_days
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router()
FIELDS = ("what", "from", "to")


@router.get("/staff/exports")
async def exports_page(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    form = _form(request)
    days = chosen_days(form, today=day_of(services.clock.now()), default=DEFAULT_DAYS)
    if days is not None:
        form.values.update({"from": days.first.isoformat(), "to": days.last.isoformat()})
    return _page(request, pages, staff, form, status_code=200 if form.ok else 400)


@router.get("/staff/exports/csv")
async def export_file(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    form = _form(request)
    what = next((e for e in Export if e.value == form.text("what")), None)
    if what is None:
        form.fail("what", FieldError("unknown_export"))
    days = chosen_days(form, today=day_of(services.clock.now()), default=DEFAULT_DAYS)
    if what is None or days is None:
        return _page(request, pages, staff, form, status_code=400)
    now = services.clock.now()
    await exports.record_export(services.db, what=what, days=days, actor=staff.actor, now=now)
    name = exports.file_name(what, days)
    return StreamingResponse(
        exports.csv_text(services.db, what=what, days=days),
        media_type=exports.MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _form(request: Request) -> FormState:
    return FormState({name: request.query_params.get(name, "")[:20] for name in FIELDS})


def _page(
    request: Request,
    pages: Pages,
    staff: SignedInStaff,
    form: FormState,
    *,
    status_code: int = 200,
) -> Response:
    context = {"form": form, "kinds": list(Export)}
    return staff_page(pages, request, "staff/exports.html", staff, context, status_code=status_code)
