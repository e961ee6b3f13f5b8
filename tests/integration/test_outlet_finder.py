"""The finder on both databases, as a worked example around a point in Mong Kok
(22.320000, 114.170000): outlets 0.5 km north, 1.5 km east, 3 km south, 12 km west and
77 km away; nearest first with their great-circle distances, by district, by service,
open now across midnight and the week's wrap, a page at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from simkeep.clock import HONG_KONG
from simkeep.db import Database
from simkeep.names import Names
from simkeep.outlets import service as outlets
from simkeep.outlets.finder import Search, find_outlets
from simkeep.outlets.geo import Point
from simkeep.outlets.hours import ALWAYS, parse_week
from simkeep.outlets.model import NewOutlet, OutletError, OutletKind, Service

CENTRE = Point(22_320_000, 114_170_000)
MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=HONG_KONG)
NIGHTS = parse_week(["closed"] * 6 + ["22:00-02:00"])  # Sunday nights only
CASH, CARD, VOUCHERS = Service.CASH, Service.CARD, Service.VOUCHER_SALE


def outlet(
    code: str, agent_id: int, district: str, lat: int, lon: int, **more: object
) -> NewOutlet:
    base = NewOutlet(
        code=code,
        agent_id=agent_id,
        kind=OutletKind.CONVENIENCE_STORE,
        names=Names(f"{code} 店", f"{code} 店", f"Shop {code}"),
        addresses=Names("彌敦道 1 號", "弥敦道 1 号", "1 Nathan Road"),
        district=district,
        lat_e6=lat,
        lon_e6=lon,
        hours=ALWAYS,
        services=frozenset({CASH}),
    )
    return replace(base, **more)  # type: ignore[arg-type]


async def world(db: Database) -> None:
    agent = await outlets.create_agent(
        db, code="HANDY", names=Names("便利", "便利", "Handy"), commission_bp=100, now=MONDAY_NOON
    )
    a = agent.id
    for new in (
        outlet(
            "EAST-1500", a, "yau-tsim-mong", 22_320_000, 114_184_578, services=frozenset({CARD})
        ),
        outlet("NORTH-500", a, "sham-shui-po", 22_324_497, 114_170_000, hours=NIGHTS),
        outlet(
            "SOUTH-3000",
            a,
            "yau-tsim-mong",
            22_293_020,
            114_170_000,
            services=frozenset({CASH, VOUCHERS}),
        ),
        outlet("WEST-12K", a, "tsuen-wan", 22_320_000, 114_053_346),
        outlet("FAR-77K", a, "futian", 22_540_000, 113_460_000),
    ):
        await outlets.add_outlet(db, outlet=new, now=MONDAY_NOON)


async def codes(db: Database, now: datetime = MONDAY_NOON, **search: object) -> list[str]:
    results = await find_outlets(db, search=Search(**search), now=now)  # type: ignore[arg-type]
    return [found.outlet.code for found in results.found]


async def test_nearest_first_with_great_circle_distances(db: Database) -> None:
    await world(db)
    results = await find_outlets(db, search=Search(near=CENTRE), now=MONDAY_NOON)
    assert [(f.outlet.code, f.distance_m) for f in results.found] == [
        ("NORTH-500", 500),
        ("EAST-1500", 1_500),
        ("SOUTH-3000", 3_000),
        ("WEST-12K", 12_000),
    ]  # 77 km is farther than anyone is sent
    assert results.next_offset is None


async def test_the_circle_widens_only_as_far_as_needed(db: Database) -> None:
    await world(db)
    assert await codes(db, near=CENTRE, limit=1) == ["NORTH-500"]
    far_west = Point(22_320_000, 113_900_000)  # 15 km west of WEST-12K
    assert await codes(db, near=far_west, limit=1) == ["WEST-12K"]
    assert await codes(db, near=Point(22_540_000, 113_460_000)) == ["FAR-77K"]


async def test_pages_follow_one_another(db: Database) -> None:
    await world(db)
    first = await find_outlets(db, search=Search(near=CENTRE, limit=2), now=MONDAY_NOON)
    assert [f.outlet.code for f in first.found] == ["NORTH-500", "EAST-1500"]
    assert first.next_offset == 2
    second = await find_outlets(db, search=Search(near=CENTRE, limit=2, offset=2), now=MONDAY_NOON)
    assert [f.outlet.code for f in second.found] == ["SOUTH-3000", "WEST-12K"]
    assert second.next_offset is None


async def test_by_district(db: Database) -> None:
    await world(db)
    assert await codes(db, district="yau-tsim-mong") == ["EAST-1500", "SOUTH-3000"]
    assert await codes(db, district="yau-tsim-mong", near=CENTRE) == ["EAST-1500", "SOUTH-3000"]
    assert await codes(db, district="islands") == []
    # Without a point: Hong Kong's districts in their order, then the Mainland's.
    assert await codes(db) == ["EAST-1500", "SOUTH-3000", "NORTH-500", "WEST-12K", "FAR-77K"]


async def test_by_service(db: Database) -> None:
    await world(db)
    assert await codes(db, near=CENTRE, services=frozenset({CARD})) == ["EAST-1500"]
    assert await codes(db, near=CENTRE, services=frozenset({CASH, VOUCHERS})) == ["SOUTH-3000"]
    assert await codes(db, services=frozenset({VOUCHERS})) == ["SOUTH-3000"]


async def test_open_now_across_midnight_and_the_weeks_wrap(db: Database) -> None:
    await world(db)
    sunday_late = MONDAY_NOON + timedelta(days=6, hours=11)  # Sunday 23:00
    monday_early = MONDAY_NOON + timedelta(days=7, hours=-10, minutes=-30)  # Monday 01:30
    monday_later = MONDAY_NOON + timedelta(days=7, hours=-10)  # Monday 02:00
    for now in (sunday_late, monday_early):
        assert "NORTH-500" in await codes(db, now, near=CENTRE, open_now=True)
        results = await find_outlets(db, search=Search(near=CENTRE, limit=1), now=now)
        assert results.found[0].open_now
    assert await codes(db, MONDAY_NOON, near=CENTRE, open_now=True, limit=1) == ["EAST-1500"]
    assert "NORTH-500" not in await codes(db, monday_later, near=CENTRE, open_now=True)
    assert "NORTH-500" not in await codes(db, monday_later, open_now=True)
    assert "NORTH-500" in await codes(db, monday_early, open_now=True)


async def test_many_outlets_in_the_box_still_come_nearest_first(db: Database) -> None:
    agent = await outlets.create_agent(
        db, code="DENSE", names=Names("密", "密", "Dense"), commission_bp=0, now=MONDAY_NOON
    )

    async def add_all(conn):  # type: ignore[no-untyped-def]
        for i in range(300):  # a grid of 300 outlets 30 m apart, a third of them closed
            hours = NIGHTS if i % 3 else ALWAYS
            lat, lon = 22_320_000 + (i // 20) * 270, 114_170_000 + (i % 20) * 290
            new = outlet(f"G{i:03d}", agent.id, "yau-tsim-mong", lat, lon, hours=hours)
            await outlets.insert_outlet(conn, outlet=new, now=MONDAY_NOON)

    await db.transaction(add_all)
    results = await find_outlets(
        db,
        search=Search(near=Point(22_321_000, 114_172_000), open_now=True, limit=50, offset=40),
        now=MONDAY_NOON,
    )
    distances = [f.distance_m for f in results.found]
    assert len(distances) == 50
    assert distances == sorted(distances)
    assert all(f.open_now for f in results.found)
    assert results.next_offset == 90
    # The nearest of all (closed ones too) are the grid's last, not the first added.
    last = Point(22_320_000 + 14 * 270, 114_170_000 + 19 * 290)
    assert await codes(db, near=last, limit=3) == ["G299", "G279", "G298"]  # 30 m each: by id


async def test_a_corner_of_the_box_is_not_nearer_than_the_circle(db: Database) -> None:
    agent = await outlets.create_agent(
        db, code="EDGE", names=Names("邊", "边", "Edge"), commission_bp=0, now=MONDAY_NOON
    )
    for new in (  # two at 1.27 km in the corners of the 1 km box; one 1.1 km north, outside it
        outlet("NE-1270", agent.id, "yau-tsim-mong", 22_328_094, 114_178_746),
        outlet("SW-1270", agent.id, "yau-tsim-mong", 22_311_906, 114_161_254),
        outlet("N-1100", agent.id, "yau-tsim-mong", 22_329_893, 114_170_000),
    ):
        await outlets.add_outlet(db, outlet=new, now=MONDAY_NOON)
    results = await find_outlets(db, search=Search(near=CENTRE, limit=1), now=MONDAY_NOON)
    assert [(f.outlet.code, f.distance_m) for f in results.found] == [("N-1100", 1_100)]


@pytest.mark.parametrize(
    ("search", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 51}, "limit"),
        ({"offset": 501}, "offset"),
        ({"district": "atlantis"}, "district"),
    ],
)
def test_a_search_that_cannot_be_meant_is_refused(search: dict[str, object], field: str) -> None:
    with pytest.raises(OutletError) as refused:
        Search(**search)  # type: ignore[arg-type]
    assert refused.value.field == field
