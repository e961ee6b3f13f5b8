"""Importing the operator's CSV of outlets on both databases: the shipped demo file loads
whole; a file with a bad row changes nothing and names the row and field; a known code is
updated in place; an unknown agent refuses the file."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.demo.outlets import demo_text, ensure_demo_outlets
from simkeep.outlets import importing
from simkeep.outlets import service as outlets
from simkeep.outlets import tables as t
from simkeep.outlets.districts import DISTRICTS, Region
from simkeep.outlets.importing import ImportRefused
from simkeep.outlets.model import Service
from simkeep.staff import audit

HEADER = ",".join(importing.OUTLET_COLUMNS)
GOOD = (
    "HK-T-01,QUIK,convenience_store,試店,试店,Test Shop,旺角彌敦道1號,旺角弥敦道1号,"
    "1 Nathan Road,yau-tsim-mong,22.319000,114.169500,"
    "24h,24h,24h,24h,24h,24h,24h,cash card,+852 2100 9999"
)


def csv_of(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


async def count(db: Database) -> int:
    total = await db.read(lambda conn: conn.scalar(select(func.count()).select_from(t.outlets)))
    return int(total or 0)


async def test_the_demo_file_loads_every_district_and_loads_again_unchanged(
    db: Database, clock: FixedClock
) -> None:
    assert await ensure_demo_outlets(db, now=clock.now()) >= 60
    first = await count(db)
    assert await ensure_demo_outlets(db, now=clock.now()) == first
    assert await count(db) == first >= 60
    districts = await db.read(lambda conn: conn.execute(select(t.outlets.c.district).distinct()))
    assert {row[0] for row in districts} == {d.code for d in DISTRICTS}
    agents = await db.read(outlets.list_agents)
    assert len(agents) >= 3
    mainland = await db.read(lambda conn: outlets.outlet_by_code(conn, code="SZ-FT-01"))
    assert mainland is not None
    assert (mainland.region, mainland.currency) == (Region.SZ, "CNY")


async def test_a_file_with_a_bad_row_changes_nothing(db: Database, clock: FixedClock) -> None:
    await ensure_demo_outlets(db, now=clock.now())
    before = await count(db)
    moved = GOOD.replace("HK-T-01", "HK-CW-01")  # an update of a demo outlet, and…
    bad = GOOD.replace("HK-T-01", "HK-T-02").replace("22.319000", "22.3190001")
    text = csv_of(moved, GOOD, bad)
    with pytest.raises(ImportRefused) as refused:
        await importing.import_outlets(db, rows=importing.read_outlets(text), now=clock.now())
    assert [(p.line, p.field) for p in refused.value.problems] == [(4, "lat")]
    assert "line 4, lat" in str(refused.value)
    assert await count(db) == before
    central = await db.read(lambda conn: outlets.outlet_by_code(conn, code="HK-CW-01"))
    assert central is not None
    assert central.lat_e6 == 22_283_400


async def test_an_unknown_agent_refuses_the_whole_file(db: Database, clock: FixedClock) -> None:
    await ensure_demo_outlets(db, now=clock.now())
    before = await count(db)
    rows = importing.read_outlets(csv_of(GOOD, GOOD.replace("HK-T-01,QUIK", "HK-T-02,NOPE")))
    with pytest.raises(ImportRefused) as refused:
        await importing.import_outlets(db, rows=rows, now=clock.now())
    assert [(p.line, p.field) for p in refused.value.problems] == [(3, "agent")]
    assert await count(db) == before  # HK-T-01, saved before line 3 was read, is gone too


async def test_a_known_code_is_updated_in_place(db: Database, clock: FixedClock) -> None:
    await ensure_demo_outlets(db, now=clock.now())
    before = await db.read(lambda conn: outlets.outlet_by_code(conn, code="HK-CW-01"))
    assert before is not None
    rows = importing.read_outlets(csv_of(GOOD, GOOD.replace("HK-T-01", "HK-CW-01")))
    done = await importing.import_outlets(db, rows=rows, now=clock.now(), actor=audit.CLI)
    assert (done.added, done.updated) == (1, 1)
    after = await db.read(lambda conn: outlets.outlet_by_code(conn, code="HK-CW-01"))
    assert after is not None
    assert after.id == before.id
    assert after.names.en == "Test Shop"
    assert after.services == {Service.CASH, Service.CARD}
    logged = await db.read(lambda conn: audit.entries(conn, action="outlets.import"))
    assert [entry.after for entry in logged] == [{"added": 1, "updated": 1}]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (GOOD.replace("convenience_store", "kiosk"), "kind"),
        (GOOD.replace("yau-tsim-mong", "mong-kok"), "district"),
        (GOOD.replace("114.169500", "east"), "lon"),
        (GOOD.replace("24h,24h,24h,24h,24h,24h,24h", "24h,24h,9-5,24h,24h,24h,24h"), "wed"),
        (GOOD.replace("cash card", "cash cheque"), "services"),
        (GOOD.replace("cash card", ""), "services"),
        (GOOD.replace("試店,试店", ",试店"), "name"),
        (GOOD.replace("+852 2100 9999", "ring me"), "phone"),
        (GOOD.replace("HK-T-01", "hk t 01"), "code"),
        (GOOD.replace("旺角彌敦道1號", "道" * 201), "address"),
        (GOOD + ",extra", "row"),
    ],
)
def test_each_mistake_is_named_by_line_and_field(row: str, field: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        importing.read_outlets(csv_of(GOOD.replace("HK-T-01", "HK-T-00"), row))
    assert [(p.line, p.field) for p in refused.value.problems] == [(3, field)]


def test_the_header_and_repeated_codes_are_checked() -> None:
    with pytest.raises(ImportRefused) as refused:
        importing.read_outlets(HEADER.replace("lat,", "latitude,") + "\n")
    assert refused.value.problems[0].field == "lat"
    with pytest.raises(ImportRefused) as refused:
        importing.read_outlets(csv_of(GOOD, GOOD))
    assert [(p.line, p.field) for p in refused.value.problems] == [(3, "code")]


def test_the_shipped_files_are_good() -> None:
    assert len(importing.read_outlets(demo_text("outlets.csv"))) >= 60
    assert {a.code for a in importing.read_agents(demo_text("agents.csv"))} >= {"OWN", "QUIK"}
