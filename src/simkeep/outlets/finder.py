"""Finding outlets: nearest first from a point, or by district and name; by the services
they offer; open now or not (docs/outlets.md).

Design overview
---------------
* A search picks *candidates* among the rows the database offers, by their coordinates
  and opening hours alone, and reads into ``Outlet``s only the page it shows: reading and
  checking every row offered would cost more than the query.
* Near a point, the database is asked for the outlets in a box around a circle — a range on
  the indexed ``lat_e6``/``lon_e6`` columns — nearest first by a flat-Earth distance (good
  to a few metres at these sizes, and cheap), at most ``cap`` rows. Each row is then
  measured along the great circle (``geo.distance_m``); rows outside the circle are
  dropped, and so are the closed ones when only open outlets are asked for. If that leaves
  fewer than the page needs, the box holds more rows than were fetched (``cap`` grows) or
  the circle is too small (it grows four times, from 1 km up to ``MAX_RADIUS_M``). So a
  search looks at a few hundred rows whether there are a hundred outlets or a hundred
  thousand, and nothing farther than ``MAX_RADIUS_M`` is offered.
* Without a point, outlets are listed by district (in the order of ``districts.DISTRICTS``:
  Hong Kong's first) and by name in the reader's language, a chunk at a time.
* "Open now" is ``hours.Hours.is_open`` at ``now`` in Hong Kong time (``open_in_stored``
  reads it from the stored hours); it is evaluated here, not in SQL, since opening hours
  are JSON.
* Only outlets in the ``open`` state (trading) are found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from math import cos, radians

from sqlalchemy import Float, Integer, Select, bindparam, case, cast, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.i18n import check_locale
from simkeep.outlets import tables as t
from simkeep.outlets.districts import DISTRICTS, district
from simkeep.outlets.geo import E6, Point, box, distance_m
from simkeep.outlets.hours import open_in_stored
from simkeep.outlets.model import Outlet, OutletError, OutletState, Service
from simkeep.outlets.service import outlet_of_row

MAX_LIMIT = 50
MAX_OFFSET = 500
START_RADIUS_M = 1_000
MAX_RADIUS_M = 50_000
CHUNK = 200  # rows read at a time when listing by district with open-now

SERVICE_COLUMNS = {
    Service.CASH: t.outlets.c.sells_cash,
    Service.CARD: t.outlets.c.sells_card,
    Service.VOUCHER_SALE: t.outlets.c.sells_vouchers,
}
_DISTRICT_ORDER = case(
    {d.code: position for position, d in enumerate(DISTRICTS)},
    value=t.outlets.c.district,
    else_=len(DISTRICTS),
)


@dataclass(frozen=True, slots=True)
class Search:
    near: Point | None = None
    district: str | None = None
    services: frozenset[Service] = frozenset()
    open_now: bool = False
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if self.district is not None and district(self.district) is None:
            raise OutletError("district", f"no district {self.district[:40]!r}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise OutletError("limit", f"a page holds 1 to {MAX_LIMIT} outlets")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise OutletError("offset", f"pages start at 0 to {MAX_OFFSET}")

    @property
    def wanted(self) -> int:
        """Outlets to find: the pages before, this page, and one more to know of a next."""
        return self.offset + self.limit + 1


@dataclass(frozen=True, slots=True)
class Found:
    outlet: Outlet
    distance_m: int | None  # from the point searched near; None without one
    open_now: bool


@dataclass(frozen=True, slots=True)
class Candidate:
    row: RowMapping
    distance_m: int | None
    open_now: bool | None  # None: not looked at yet


@dataclass(frozen=True, slots=True)
class Results:
    found: list[Found]
    next_offset: int | None  # where the next page starts; None on the last page


async def find_outlets(
    db: Database, *, search: Search, now: datetime, locale: str = "en"
) -> Results:
    """Outlets that match ``search``: nearest first from its point, or else by district and
    name in ``locale``; a page of them and where the next starts."""
    check_locale(locale)

    async def read(conn: AsyncConnection) -> list[Candidate]:
        if search.near is not None:
            return await _nearest(conn, search, search.near, now)
        return await _by_district(conn, search, now, locale)

    found = await db.read(read)
    page = [_found(candidate, now) for candidate in found[search.offset :][: search.limit]]
    more = len(found) > search.offset + search.limit
    return Results(page, search.offset + search.limit if more else None)


def _found(candidate: Candidate, now: datetime) -> Found:
    outlet = outlet_of_row(candidate.row)
    is_open = outlet.hours.is_open(now) if candidate.open_now is None else candidate.open_now
    return Found(outlet, candidate.distance_m, is_open)


async def find_outlet(db: Database, *, code: str, now: datetime) -> Found | None:
    """The trading outlet with this code, or None."""
    query = select(t.outlets).where(
        t.outlets.c.code == code, t.outlets.c.state == OutletState.OPEN.value
    )
    row = await db.read(lambda conn: _first(conn, query))
    if row is None:
        return None
    outlet = outlet_of_row(row)
    return Found(outlet, None, outlet.hours.is_open(now))


async def _first(conn: AsyncConnection, query: Select[tuple[object, ...]]) -> RowMapping | None:
    return (await conn.execute(query)).mappings().first()


def _matching(search: Search) -> Select[tuple[object, ...]]:
    """Trading outlets of the search's district (bound as ``district``) and services."""
    return _filtered(search.district is not None, tuple(sorted(search.services)))


@cache
def _filtered(by_district: bool, services: tuple[Service, ...]) -> Select[tuple[object, ...]]:
    # Built once per shape, with bound values: building the expression costs more than
    # running it.
    c = t.outlets.c
    query = select(t.outlets).where(c.state == OutletState.OPEN.value)
    if by_district:
        query = query.where(c.district == bindparam("district"))
    for service in services:
        query = query.where(SERVICE_COLUMNS[service].is_(True))
    return query


@cache
def _in_box_query(by_district: bool, services: tuple[Service, ...]) -> Select[tuple[object, ...]]:
    c = t.outlets.c
    north = cast(c.lat_e6 - bindparam("lat", type_=Integer), Float)
    east = cast(c.lon_e6 - bindparam("lon", type_=Integer), Float) * bindparam(
        "squeeze", type_=Float
    )
    return (
        _filtered(by_district, services)
        .where(c.lat_e6.between(bindparam("south"), bindparam("north")))
        .where(c.lon_e6.between(bindparam("west"), bindparam("east")))
        .order_by(north * north + east * east, c.id)
        .limit(bindparam("cap", type_=Integer))
    )


async def _nearest(
    conn: AsyncConnection, search: Search, centre: Point, now: datetime
) -> list[Candidate]:
    radius, cap = START_RADIUS_M, search.wanted * 2 + 20
    while True:
        rows = await _in_box(conn, search, centre, radius, cap)
        found = _measured(rows, centre, radius, now, search)
        if len(found) >= search.wanted:
            return found
        if len(rows) == cap:  # the box holds more than was read
            cap *= 4
        elif radius >= MAX_RADIUS_M:
            return found
        else:
            radius = min(MAX_RADIUS_M, radius * 4)


async def _in_box(
    conn: AsyncConnection, search: Search, centre: Point, radius_m: int, cap: int
) -> Sequence[RowMapping]:
    edges = box(centre, radius_m)
    query = _in_box_query(search.district is not None, tuple(sorted(search.services)))
    values = {
        "district": search.district,
        "lat": centre.lat_e6,
        "lon": centre.lon_e6,
        "squeeze": cos(radians(centre.lat_e6 / E6)),  # a degree of longitude is shorter north
        "south": edges.min_lat_e6,
        "north": edges.max_lat_e6,
        "west": edges.min_lon_e6,
        "east": edges.max_lon_e6,
        "cap": cap,
    }
    return (await conn.execute(query, values)).mappings().all()


def _measured(
    rows: Sequence[RowMapping], centre: Point, radius_m: int, now: datetime, search: Search
) -> list[Candidate]:
    """The rows within the circle, nearest first; when only open ones are asked for, the
    open ones until there are enough."""
    measured = sorted(
        (
            (metres, int(row["id"]), row)
            for row in rows
            if (metres := distance_m(centre, Point(row["lat_e6"], row["lon_e6"]))) <= radius_m
        ),
        key=lambda measure: measure[:2],
    )
    if not search.open_now:
        return [Candidate(row, metres, None) for metres, _, row in measured]
    found = []
    for metres, _, row in measured:
        if open_in_stored(row["hours"], now):
            found.append(Candidate(row, metres, True))
            if len(found) == search.wanted:
                break
    return found


async def _by_district(
    conn: AsyncConnection, search: Search, now: datetime, locale: str
) -> list[Candidate]:
    name = t.outlets.c[f"name_{locale.lower()}"]
    query = _matching(search).order_by(_DISTRICT_ORDER, name, t.outlets.c.id)
    found: list[Candidate] = []
    start = 0
    while len(found) < search.wanted:
        read = search.wanted if not search.open_now else CHUNK
        page = query.offset(start).limit(read)
        rows = (await conn.execute(page, {"district": search.district})).mappings().all()
        for row in rows:
            if not search.open_now:
                found.append(Candidate(row, None, None))
            elif open_in_stored(row["hours"], now):
                found.append(Candidate(row, None, True))
        if len(rows) < read:
            break
        start += read
    return found[: search.wanted]
