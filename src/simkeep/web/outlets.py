"""The outlet finder, ``/outlets``: a public page (no login) to find where to top up at a
counter, with the results in a list and on a map (docs/outlets.md).

Design overview
---------------
* The filter form is a GET form: district, services, open now, and a point — latitude and
  longitude typed, or filled in by the "near me" button (``static/outlets.js``, the
  browser's geolocation; the page works without it). A field that cannot be read is marked
  and the page answers 422 without results.
* The list and the map show the same results: each list item carries its coordinates and
  name as ``data-`` attributes, and ``outlets.js`` puts a marker for each on a Leaflet map
  (served from ``static/leaflet``), with the tile server of ``SIMKEEP_MAP_TILES_URL``; the
  page's CSP lets images come from that host only. Without tiles, the markers show on a
  plain background.
* Times are Hong Kong's; distances are metres along the great circle, shown as metres or
  kilometres.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from babel.dates import get_day_names
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from simkeep.edge.headers import CSP, content_security_policy, map_tile_sources
from simkeep.outlets.districts import DISTRICTS, Region
from simkeep.outlets.finder import MAX_OFFSET, Found, Search, find_outlets
from simkeep.outlets.geo import InvalidPoint, Point, degrees_text, parse_degrees
from simkeep.outlets.hours import DAY_MINUTES, Range, clock_text, wall_clock
from simkeep.outlets.model import Outlet, OutletError, Service, directions_url
from simkeep.services import ServicesDep
from simkeep.web.forms import FormState
from simkeep.web.pages import PagesDep
from simkeep.web.session import ViewerDep

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
PAGE_SIZE = 20
MAX_FIELD = 32  # a query field is cut there before it is read


@dataclass(frozen=True, slots=True)
class Row:
    """One outlet as the list shows it."""

    outlet: Outlet
    name: str
    distance: tuple[str, str] | None  # ("m", "850") or ("km", "1.2")
    open_now: bool
    today: list[str]  # ranges as wall-clock text, 22:00–02:00
    round_the_clock: bool
    week: list[tuple[str, list[str]]]  # day name, its ranges
    lat: str
    lon: str
    directions: str


def _range_text(span: Range) -> str:
    return f"{clock_text(span[0])}–{wall_clock(span[1])}"


def _distance(metres: int | None) -> tuple[str, str] | None:
    if metres is None:
        return None
    if metres < 1_000:
        return ("m", str(metres))
    tenths = (metres + 50) // 100
    return ("km", f"{tenths // 10}.{tenths % 10}")


def _row(found: Found, locale: str, now: datetime, days: list[str]) -> Row:
    outlet = found.outlet
    name = outlet.names.pick(locale)
    today = outlet.hours.today(now)
    return Row(
        outlet=outlet,
        name=name,
        distance=_distance(found.distance_m),
        open_now=found.open_now,
        today=[_range_text(span) for span in today],
        round_the_clock=today == ((0, DAY_MINUTES),),
        week=[(days[i], [_range_text(s) for s in outlet.hours.day(i)]) for i in range(7)],
        lat=degrees_text(outlet.lat_e6),
        lon=degrees_text(outlet.lon_e6),
        directions=directions_url(outlet, name),
    )


def _point(form: FormState) -> Point | None:
    """The point typed (or filled in by the browser), if any; a bad one marks its field."""
    if not form.text("lat") and not form.text("lon"):
        return None
    degrees = {}
    for name, limit in (("lat", 90), ("lon", 180)):
        try:
            degrees[name] = parse_degrees(form.text(name), limit=limit)
        except InvalidPoint as error:
            form.fail(name, error)
    return Point(degrees["lat"], degrees["lon"]) if form.ok else None


def _search(form: FormState, services: list[str], offset: str) -> Search | None:
    """The search the form asks for; None, with the fields marked, if it cannot be read."""
    point = _point(form)
    district = form.text("district") or None
    if district is not None and district not in {d.code for d in DISTRICTS}:
        form.fail("district", OutletError("district", "no such district"))
    if not form.ok:
        return None
    return Search(
        near=point,
        district=district,
        services=frozenset(s for s in Service if s.value in services),
        open_now=form.text("open") == "1",
        limit=PAGE_SIZE,
        offset=int(offset) if offset.isdigit() and int(offset) <= MAX_OFFSET else 0,
    )


@router.get("/outlets")
async def outlets_page(
    request: Request, pages: PagesDep, services: ServicesDep, viewer: ViewerDep
) -> HTMLResponse:
    query = request.query_params
    fields = ("lat", "lon", "district", "open")
    form = FormState({name: query.get(name, "")[:MAX_FIELD] for name in fields})
    chosen = [value[:MAX_FIELD] for value in query.getlist("service")[:3]]
    search = _search(form, chosen, query.get("offset", "")[:4])
    locale = pages.choose(request).language.code
    now = services.clock.now()
    rows: list[Row] = []
    more = None
    if search is not None:
        results = await find_outlets(services.db, search=search, now=now, locale=locale)
        days = [get_day_names("abbreviated", locale=locale)[i] for i in range(7)]
        rows = [_row(found, locale, now, days) for found in results.found]
        if results.next_offset is not None:
            kept = [(k, v) for k, v in query.multi_items() if k not in ("offset", "lang")]
            more = f"/outlets?{urlencode([*kept, ('offset', str(results.next_offset))])}"
    settings = services.settings
    context = {
        "form": form,
        "chosen": set(chosen),
        "regions": [(r, [d for d in DISTRICTS if d.region is r]) for r in Region],
        "services": list(Service),
        "rows": rows,
        "searched": search,
        "more": more,
        "tiles": settings.map_tiles_url,
        "attribution": settings.map_attribution,
    }
    status = 200 if form.ok else 422
    page = pages.render(request, "outlets/finder.html", context, status_code=status, viewer=viewer)
    page.headers[CSP] = content_security_policy(images=map_tile_sources(settings.map_tiles_url))
    return page
