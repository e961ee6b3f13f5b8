"""Reconciliation on the operator's pages: ``/staff/reconciliation`` lists the latest provider
days (rows by class, state, differences still open); ``/staff/reconciliation/{provider}/
{day}`` shows one day — its totals and fees, and every difference: its class, the bill's and
simkeep's amounts, what was done, by whom and when, and staff's note — with a form to
resolve an open one; ``….csv`` is the same rows as a file.

Design overview
---------------
Every member of staff reads the pages and the file; resolving is for those with
``Permission.RECONCILE`` — operators and finance (the router's guard refuses anyone else's
POSTs with 403 before the route runs). A resolution is one transaction in
``reconciliation.service.resolve``: one conditional update and its audit entry; a second
resolution, or a row that is not open, changes nothing and shows the day again with the
reason beside that row (409). A provider or day that does not read is refused (404 and
400), a day never reconciled is not found (404). The CSV is the exports' reconciliation file of
one day (``staff.exports``: the same columns, a byte order mark, a header row, CRLF, amounts
as decimal text beside their currency, times in Hong Kong time, free text that no
spreadsheet runs), streamed a page of rows at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated

from fastapi import HTTPException, Path, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.payment_methods import ONLINE_PROVIDERS, Provider
from simkeep.reconciliation import queries
from simkeep.reconciliation import service as reconciliation
from simkeep.reconciliation.figures import DayRow
from simkeep.reconciliation.model import ReconcileError, UnknownDifference
from simkeep.reconciliation.queries import Difference, Reconciliation
from simkeep.services import ServicesDep
from simkeep.staff import exports
from simkeep.staff import service as staff_service
from simkeep.staff.model import Permission
from simkeep.web.forms import read_form, see_other
from simkeep.web.pages import PagesDep, RowId
from simkeep.web.staff_session import SignedInStaff, StaffDep, staff_page, staff_router

router = staff_router(Permission.RECONCILE)
ProviderCode = Annotated[str, Path(max_length=16)]
DayText = Annotated[str, Path(max_length=10)]
LAYOUT = exports.SOURCES[exports.Export.RECONCILIATION]  # one layout: a day's, a range's


@router.get("/staff/reconciliation")
async def overview(
    request: Request, pages: PagesDep, services: ServicesDep, staff: StaffDep
) -> Response:
    days = await services.db.read(lambda conn: queries.latest(conn))
    return staff_page(pages, request, "staff/reconciliation.html", staff, {"days": days})


@router.get("/staff/reconciliation/{provider}/{day}.csv")
async def day_file(services: ServicesDep, provider: ProviderCode, day: DayText) -> Response:
    found = await _day(services, provider, day)
    name = f"simkeep-reconciliation-{found.provider.value}-{found.day.isoformat()}.csv"
    return StreamingResponse(
        _csv(services, found),
        media_type=exports.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/staff/reconciliation/{provider}/{day}")
async def day_page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    provider: ProviderCode,
    day: DayText,
) -> Response:
    resolved = request.query_params.get("resolved", "")[:20]
    found = await _day(services, provider, day)
    return await _page(request, pages, services, staff, found, notice=resolved)


@router.post("/staff/reconciliation/{provider}/{day}/{item_id}/resolve")
async def resolve(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    provider: ProviderCode,
    day: DayText,
    item_id: RowId,
) -> Response:
    found = await _day(services, provider, day)
    form = await read_form(request, staff.viewer)
    try:
        await services.db.transaction(
            lambda conn: reconciliation.resolve(
                conn,
                provider=found.provider,
                day=found.day,
                item_id=item_id,
                actor=staff.actor,
                note=form.text("note"),
                now=services.clock.now(),
            )
        )
    except UnknownDifference as error:
        raise HTTPException(404, str(error)) from error
    except ReconcileError as error:
        failed = {item_id: error}
        return await _page(request, pages, services, staff, found, failed=failed, status_code=409)
    return see_other(_path(found), resolved=str(item_id))


def _path(found: Reconciliation) -> str:
    return f"/staff/reconciliation/{found.provider.value}/{found.day.isoformat()}"


async def _day(services: ServicesDep, provider: str, day: str) -> Reconciliation:
    """The provider's day named in the path: 404 for a provider with no bill or a day never
    reconciled, 400 for a day that does not read."""
    try:
        chosen = Provider(provider)
    except ValueError:
        chosen = None
    if chosen not in ONLINE_PROVIDERS:
        raise HTTPException(404, f"no provider {provider[:16]} with bills")
    try:
        when = date.fromisoformat(day)
    except ValueError as error:
        raise HTTPException(400, "a day is written YYYY-MM-DD") from error
    found = await services.db.read(
        lambda conn: queries.get_reconciliation(conn, provider=chosen, day=when)
    )
    if found is None:
        raise HTTPException(404, f"{chosen.value}'s {when} was never reconciled")
    return found


async def _page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: SignedInStaff,
    found: Reconciliation,
    *,
    notice: str = "",
    failed: dict[int, ReconcileError] | None = None,
    status_code: int = 200,
) -> Response:
    async def read(conn: AsyncConnection) -> list[Difference]:
        return await queries.differences(conn, reconciliation_id=found.id)

    rows = await services.db.read(read)
    members = await staff_service.list_staff(services.db)
    context = {
        "day": found,
        "rows": rows,
        "more": len(rows) == queries.PAGE,
        "names": {f"staff:{member.id}": member.username for member in members},
        "path": _path(found),
        "notice": notice,
        "failed": failed or {},
    }
    return staff_page(
        pages,
        request,
        "staff/reconciliation_day.html",
        staff,
        context,
        status_code=status_code,
    )


async def _csv(services: ServicesDep, found: Reconciliation) -> AsyncIterator[str]:
    """The day's recorded rows as CSV: the header, then a page of rows at a time."""
    yield exports.BOM + exports.lines([LAYOUT.header])
    after_id = 0
    while True:
        page = await services.db.read(
            lambda conn: queries.differences(
                conn,
                reconciliation_id=found.id,
                after_id=after_id,  # noqa: B023 - read before the next page
            )
        )
        if page:
            yield exports.lines(
                LAYOUT.cells(DayRow(found.provider, found.day, row)) for row in page
            )
        if len(page) < queries.PAGE:
            return
        after_id = page[-1].id
