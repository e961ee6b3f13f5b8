"""The outlet finder: nearest-outlet searches per second over 100,000 outlets.

``measure`` loads ``OUTLETS`` outlets straight into the table in bulk (one agent; points
spread at random over Hong Kong, Shenzhen and Guangzhou in proportion to where people live;
a mix of opening hours, services and districts), runs ``ANALYZE``, and then times
``outlets.finder.find_outlets`` — what ``GET /api/v1/outlets`` and the page call — from
random points over the same areas: the nearest 20, then the nearest 20 open now that take
cards. One search at a time, in one process, after a warm-up. It checks every answer is
nearest first and within the finder's radius.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.targets import Target, drop, fresh
from simkeep.clock import HONG_KONG
from simkeep.db import Database
from simkeep.names import Names
from simkeep.outlets import service as outlets
from simkeep.outlets import tables as t
from simkeep.outlets.districts import DISTRICTS, Region
from simkeep.outlets.finder import MAX_RADIUS_M, Search, find_outlets
from simkeep.outlets.geo import Point
from simkeep.outlets.hours import parse_week
from simkeep.outlets.model import Service
from simkeep.settings import load_settings

OUTLETS = 100_000
CHUNK = 5_000
WARM_UP = 50
NOW = datetime(2026, 12, 2, 21, 30, tzinfo=HONG_KONG)  # a Wednesday evening
# (region, share of outlets and of searches, latitude range, longitude range) in micro-degrees
AREAS = (
    (Region.HK, 0.5, (22_200_000, 22_520_000), (113_900_000, 114_300_000)),
    (Region.SZ, 0.3, (22_500_000, 22_750_000), (113_850_000, 114_300_000)),
    (Region.GZ, 0.2, (23_000_000, 23_250_000), (113_200_000, 113_500_000)),
)
WEEKS = [
    parse_week(["24h"] * 7).to_json(),
    parse_week(["07:00-02:00"] * 7).to_json(),
    parse_week(["10:00-20:00"] * 6 + ["closed"]).to_json(),
    parse_week(["11:00-22:00"] * 7).to_json(),
]


@dataclass(frozen=True)
class SearchRate:
    kind: str
    searches: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def per_second(self) -> float:
        return self.searches / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _point(rng: random.Random) -> tuple[Region, Point]:
    region, _, lats, lons = rng.choices(AREAS, weights=[a[1] for a in AREAS])[0]
    return region, Point(rng.randint(*lats), rng.randint(*lons))


def _rows(rng: random.Random, agent_id: int, start: int, count: int) -> list[dict[str, Any]]:
    by_region = {r: [d.code for d in DISTRICTS if d.region is r] for r in Region}
    rows = []
    for n in range(start, start + count):
        region, point = _point(rng)
        names = Names(f"網點 {n}", f"网点 {n}", f"Outlet {n}")
        rows.append(
            {
                "code": f"B{n:07d}",
                "agent_id": agent_id,
                "kind": "convenience_store",
                **names.values(),
                **names.values("address"),
                "region": region.value,
                "district": rng.choice(by_region[region]),
                "lat_e6": point.lat_e6,
                "lon_e6": point.lon_e6,
                "hours": rng.choice(WEEKS),
                "sells_cash": True,
                "sells_card": rng.random() < 0.4,
                "sells_vouchers": rng.random() < 0.6,
                "currency": region.currency,
                "state": "open",
                "created_at": NOW,
            }
        )
    return rows


async def _load(db: Database, count: int) -> None:
    agent = await outlets.create_agent(
        db, code="BENCH", names=Names("基準", "基准", "Bench"), commission_bp=100, now=NOW
    )
    rng = random.Random(11)
    for start in range(0, count, CHUNK):
        rows = _rows(rng, agent.id, start, min(CHUNK, count - start))

        async def insert(conn: AsyncConnection, rows: list[dict[str, Any]] = rows) -> None:
            await conn.execute(t.outlets.insert(), rows)

        await db.transaction(insert)


async def _analyze(db: Database) -> None:
    await db.read(lambda conn: conn.execute(text("ANALYZE")))


async def _time(db: Database, kind: str, searches: list[Search]) -> SearchRate:
    latencies = []
    started = time.perf_counter()
    for search in searches:
        began = time.perf_counter()
        results = await find_outlets(db, search=search, now=NOW)
        latencies.append((time.perf_counter() - began) * 1000)
        distances = [found.distance_m or 0 for found in results.found]
        assert distances == sorted(distances), "not nearest first"
        assert all(d <= MAX_RADIUS_M for d in distances)
    return SearchRate(kind, len(searches), time.perf_counter() - started, tuple(latencies))


async def measure(target: Target, *, count: int, searches: int) -> list[SearchRate]:
    """Load ``count`` outlets, then time ``searches`` nearest-outlet searches of each kind."""
    db = Database.from_settings(load_settings(database_url=target.url))
    try:
        loaded = time.perf_counter()
        await _load(db, count)
        print(f"{target.name}: {count} outlets loaded in {time.perf_counter() - loaded:.1f} s")
        await _analyze(db)
        rng = random.Random(5)
        kinds = {
            "nearest 20": lambda p: Search(near=p, limit=20),
            "nearest 20 open now, card": lambda p: Search(
                near=p, limit=20, open_now=True, services=frozenset({Service.CARD})
            ),
        }
        rates = []
        for kind, make in kinds.items():
            await _time(db, kind, [make(_point(rng)[1]) for _ in range(WARM_UP)])
            rates.append(await _time(db, kind, [make(_point(rng)[1]) for _ in range(searches)]))
        return rates
    finally:
        await db.dispose()


async def report(quick: bool) -> list[str]:
    """The section of docs/benchmarks.md: nearest-outlet searches per second, each database."""
    count, searches = (10_000, 200) if quick else (OUTLETS, 2_000)
    lines = [
        "",
        "## Finding the nearest outlets",
        "",
        f"`outlets.finder.find_outlets`, what `GET /api/v1/outlets` and the page `/outlets` "
        f"call, over {count:,} outlets loaded in bulk (random points over Hong Kong, Shenzhen "
        "and Guangzhou, half of them in Hong Kong; a mix of opening hours and services), "
        f"timed on {searches:,} searches from random points over the same areas, one at a "
        "time in one process, after a warm-up: the nearest 20, and the nearest 20 open now "
        "(a Wednesday, 21:30) that take cards. Each search asks for a box on the indexed "
        "coordinates around a circle of 1 km, widened four times at a time up to 50 km until "
        "enough are found, and measures each row along the great circle (docs/outlets.md). "
        "Every answer is checked to be nearest first.",
        "",
        "| database | outlets | search | searches/s | p50 ms | p99 ms |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name in ("postgresql", "sqlite"):
        target = await fresh(name, "outlets")
        try:
            rates = await measure(target, count=count, searches=searches)
        finally:
            await drop(target)
        for rate in rates:
            print(f"{name} {rate.kind}: {rate.per_second:.0f}/s, p99 {rate.percentile(0.99):.1f}")
            lines.append(
                f"| {name} | {count:,} | {rate.kind} | {rate.per_second:,.0f} | "
                f"{rate.percentile(0.5):.1f} | {rate.percentile(0.99):.1f} |"
            )
    return lines
