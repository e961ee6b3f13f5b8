"""Agents and outlets, on both databases: added, read back, refused by the field, unique by
code also when two add the same code at once, and updated in place by code."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.names import Names
from simkeep.outlets import service as outlets
from simkeep.outlets import tables as t
from simkeep.outlets.districts import Region
from simkeep.outlets.hours import ALWAYS, parse_week
from simkeep.outlets.model import (
    AgentState,
    NewOutlet,
    OutletError,
    OutletKind,
    OutletState,
    Service,
    UnknownAgent,
)
from simkeep.staff import audit

AGENT_NAMES = Names(zh_hant_hk="便利連鎖", zh_hans_cn="便利连锁", en="Handy Stores")


def shop(agent_id: int, code: str = "HK-WC-001", **changes: object) -> NewOutlet:
    outlet = NewOutlet(
        code=code,
        agent_id=agent_id,
        kind=OutletKind.CONVENIENCE_STORE,
        names=Names(zh_hant_hk="灣仔店", zh_hans_cn="湾仔店", en="Wan Chai"),
        addresses=Names(
            zh_hant_hk="灣仔軒尼詩道 300 號",
            zh_hans_cn="湾仔轩尼诗道 300 号",
            en="300 Hennessy Road, Wan Chai",
        ),
        district="wan-chai",
        lat_e6=22_278_500,
        lon_e6=114_175_100,
        hours=ALWAYS,
        services=frozenset({Service.CASH, Service.VOUCHER_SALE}),
        phone="+852 2345 6789",
    )
    return replace(outlet, **changes)  # type: ignore[arg-type]


async def test_an_agent_and_its_outlet_are_read_back(db: Database, clock: FixedClock) -> None:
    agent = await outlets.create_agent(
        db,
        code="HANDY",
        names=AGENT_NAMES,
        commission_bp=150,
        credit_limit_minor=500_000,
        now=clock.now(),
    )
    outlet = await outlets.add_outlet(db, outlet=shop(agent.id), now=clock.now())

    async def read(conn):  # type: ignore[no-untyped-def]
        return (
            await outlets.get_agent(conn, agent_id=agent.id),
            await outlets.get_outlet(conn, outlet_id=outlet.id),
            await outlets.get_outlet(conn, outlet_id=outlet.id + 1000),
        )

    found_agent, found_outlet, missing = await db.read(read)
    assert found_agent == agent
    assert agent.state is AgentState.ACTIVE
    assert agent.credit_limit_minor == 500_000
    assert found_outlet == outlet
    assert missing is None
    assert outlet.region is Region.HK
    assert outlet.currency == "HKD"
    assert outlet.state is OutletState.OPEN
    assert outlet.services == {Service.CASH, Service.VOUCHER_SALE}
    assert outlet.hours == ALWAYS


async def test_a_mainland_outlet_sells_in_renminbi(db: Database, clock: FixedClock) -> None:
    agent = await outlets.create_agent(
        db, code="MALLCO", names=AGENT_NAMES, commission_bp=0, now=clock.now()
    )
    hours = parse_week(["10:00-22:00"] * 5 + ["10:00-23:30", "closed"])
    outlet = await outlets.add_outlet(
        db,
        outlet=shop(agent.id, "SZ-FT-001", district="futian", hours=hours, phone=None),
        now=clock.now(),
    )
    assert outlet.region is Region.SZ
    assert outlet.currency == "CNY"
    assert outlet.hours == hours
    assert outlet.phone is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "bad code"}, "code"),
        ({"district": "atlantis"}, "district"),
        ({"lat_e6": 91_000_000}, "lat"),
        ({"lon_e6": -181_000_000}, "lon"),
        ({"services": frozenset()}, "services"),
        ({"phone": "call me"}, "phone"),
        ({"names": Names(zh_hant_hk="店" * 101, zh_hans_cn="店", en="Shop")}, "name"),
    ],
)
async def test_an_outlet_that_cannot_be_meant_is_refused_by_field(
    db: Database, clock: FixedClock, changes: dict[str, object], field: str
) -> None:
    agent = await outlets.create_agent(
        db, code="HANDY", names=AGENT_NAMES, commission_bp=150, now=clock.now()
    )
    with pytest.raises(OutletError) as refused:
        await outlets.add_outlet(db, outlet=shop(agent.id, **changes), now=clock.now())
    assert refused.value.field == field
    assert await db.read(lambda conn: conn.scalar(select(func.count()).select_from(t.outlets))) == 0


async def test_an_agent_that_cannot_be_meant_is_refused(db: Database, clock: FixedClock) -> None:
    for code, bp, limit, field in [
        ("X", 100, 0, "code"),
        ("GOOD", 2001, 0, "commission_bp"),
        ("GOOD", -1, 0, "commission_bp"),
        ("GOOD", 100, -1, "credit_limit_minor"),
    ]:
        with pytest.raises(OutletError) as refused:
            await outlets.create_agent(
                db,
                code=code,
                names=AGENT_NAMES,
                commission_bp=bp,
                credit_limit_minor=limit,
                now=clock.now(),
            )
        assert refused.value.field == field
    with pytest.raises(UnknownAgent):
        await outlets.add_outlet(db, outlet=shop(12345), now=clock.now())


async def test_two_adding_the_same_code_at_once_make_one(db: Database, clock: FixedClock) -> None:
    agent = await outlets.create_agent(
        db, code="HANDY", names=AGENT_NAMES, commission_bp=150, now=clock.now()
    )
    results = await asyncio.gather(
        *(outlets.add_outlet(db, outlet=shop(agent.id), now=clock.now()) for _ in range(10)),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, OutletError)]
    assert len(made) == 1
    assert len(refused) == 9
    with pytest.raises(OutletError) as again:
        await outlets.create_agent(
            db, code="HANDY", names=AGENT_NAMES, commission_bp=1, now=clock.now()
        )
    assert again.value.field == "code"


async def test_saving_a_known_code_updates_it_in_place(db: Database, clock: FixedClock) -> None:
    agent = await outlets.create_agent(
        db, code="HANDY", names=AGENT_NAMES, commission_bp=150, now=clock.now()
    )
    first = await outlets.add_outlet(db, outlet=shop(agent.id), now=clock.now())
    moved = shop(agent.id, lat_e6=22_280_000, services=frozenset({Service.CARD}))
    new = await db.transaction(
        lambda conn: outlets.save_outlet(conn, outlet=moved, now=clock.now())
    )
    assert new is False
    after = await db.read(lambda conn: outlets.get_outlet(conn, outlet_id=first.id))
    assert after is not None
    assert after.lat_e6 == 22_280_000
    assert after.services == {Service.CARD}


async def test_an_agent_added_by_a_person_is_audited(db: Database, clock: FixedClock) -> None:
    agent = await outlets.create_agent(
        db, code="OPSHOP", names=AGENT_NAMES, commission_bp=0, now=clock.now(), actor=audit.CLI
    )
    logged = await db.read(lambda conn: audit.entries(conn, action="agent.add"))
    assert [(e.target.id, e.origin, e.staff_id) for e in logged] == [(str(agent.id), "cli", None)]
    assert logged[0].after["commission_bp"] == 0
