"""Finding outlets: nearest first from a point, or by district and name; by the services
they offer; open now or not (docs/outlets.md).

Design overview
---------------
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
* "Open now" is ``hours.Hours.is_open`` at ``now`` in Hong Kong time; it is evaluated here,
  not in SQL, since opening hours are JSON.
* Only outlets in the ``open`` state (trading) are found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from math import cos, radians

from sqlalchemy import Float, Select, case, cast, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.i18n import check_locale
from simkeep.outlets import tables as t
from simkeep.outlets.districts import DISTRICTS, district
from simkeep.outlets.geo import E6, Point, box, distance_m
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
class Results:
    found: list[Found]
    next_offset: int | None  # where the next page starts; None on the last page


async def find_outlets(
    db: Database, *, search: Search, now: datetime, locale: str = "en"
) -> Results:
    """Outlets that match ``search``: nearest first from its point, or else by district and
    name in ``locale``; a page of them and where the next starts."""
    check_locale(locale)

    async def read(conn: AsyncConnection) -> list[Found]:
        if search.near is not None:
            return await _nearest(conn, search, search.near, now)
        return await _by_district(conn, search, now, locale)

    found = await db.read(read)
    page = found[search.offset : search.offset + search.limit]
    more = len(found) > search.offset + search.limit
    return Results(page, search.offset + search.limit if more else None)


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
    query = select(t.outlets).where(t.outlets.c.state == OutletState.OPEN.value)
    if search.district is not None:
        query = query.where(t.outlets.c.district == search.district)
    for service in sorted(search.services):
        query = query.where(SERVICE_COLUMNS[service].is_(True))
    return query


async def _nearest(
    conn: AsyncConnection, search: Search, centre: Point, now: datetime
) -> list[Found]:
    radius, cap = START_RADIUS_M, search.wanted * 2 + 20
    while True:
        rows = await _in_box(conn, search, centre, radius, cap)
        found = _measured(rows, centre, radius, now, open_only=search.open_now)
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
    c = t.outlets.c
    squeeze = cos(radians(centre.lat_e6 / E6))  # a degree of longitude is shorter up north
    north = cast(c.lat_e6 - centre.lat_e6, Float)
    east = cast(c.lon_e6 - centre.lon_e6, Float) * squeeze
    query = (
        _matching(search)
        .where(c.lat_e6.between(edges.min_lat_e6, edges.max_lat_e6))
        .where(c.lon_e6.between(edges.min_lon_e6, edges.max_lon_e6))
        .order_by(north * north + east * east, c.id)
        .limit(cap)
    )
    return (await conn.execute(query)).mappings().all()


def _measured(
    rows: Sequence[RowMapping], centre: Point, radius_m: int, now: datetime, *, open_only: bool
) -> list[Found]:
    found = []
    for row in rows:
        outlet = outlet_of_row(row)
        metres = distance_m(centre, Point(outlet.lat_e6, outlet.lon_e6))
        is_open = outlet.hours.is_open(now)
        if metres <= radius_m and (is_open or not open_only):
            found.append(Found(outlet, metres, is_open))
    found.sort(key=lambda f: (f.distance_m, f.outlet.id))
    return found


async def _by_district(
    conn: AsyncConnection, search: Search, now: datetime, locale: str
) -> list[Found]:
    name = t.outlets.c[f"name_{locale.lower()}"]
    query = _matching(search).order_by(_DISTRICT_ORDER, name, t.outlets.c.id)
    found: list[Found] = []
    start = 0
    while len(found) < search.wanted:
        read = search.wanted if not search.open_now else CHUNK
        rows = (await conn.execute(query.offset(start).limit(read))).mappings().all()
        for row in rows:
            outlet = outlet_of_row(row)
            is_open = outlet.hours.is_open(now)
            if is_open or not search.open_now:
                found.append(Found(outlet, None, is_open))
        if len(rows) < read:
            break
        start += read
    return found
