"""The console's search, ``/staff/search?q=``: the box in the header of every staff page.

Design overview
---------------
The query is capped at the edge (``search.MAX_QUERY`` characters; anything longer is a
400 before the route runs) and read by ``staff.search``: a phone or SIM number in any
usual spelling, an order, receipt or refund number, or a voucher serial. One SIM found:
303 to its page; several: a list of them with how each was found; none: "nothing found";
text that can be none of these: the page again with what the box takes (400). A GET that
reads, so every member of staff who reads staff pages may search.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from simkeep.services import ServicesDep
from simkeep.staff import search
from simkeep.staff.search import BadQuery
from simkeep.web.forms import see_other
from simkeep.web.pages import PagesDep
from simkeep.web.staff_session import StaffDep, staff_page, staff_router

router = staff_router()


@router.get("/staff/search")
async def search_page(
    request: Request,
    pages: PagesDep,
    services: ServicesDep,
    staff: StaffDep,
    q: Annotated[str, Query(max_length=search.MAX_QUERY)] = "",
) -> Response:
    query = q.strip()
    if not query:
        return staff_page(pages, request, "staff/search.html", staff, {"search_query": query})
    try:
        hits = await services.reads.run(lambda db: search.find(db, text=query), seen=staff.seen)
    except BadQuery as error:
        context = {"search_query": query, "search_error": error}
        return staff_page(pages, request, "staff/search.html", staff, context, status_code=400)
    if len(hits) == 1:
        return see_other(f"/staff/sims/{hits[0].sim.id}", found=query)
    context = {"search_query": query, "hits": hits}
    return staff_page(pages, request, "staff/search.html", staff, context)
