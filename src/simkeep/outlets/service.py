"""Agent and outlet use cases: adding them, reading them back, and keeping an outlet up to date
from the operator's data (docs/outlets.md).

Design overview
---------------
* ``create_agent`` and ``add_outlet`` each run one transaction; ``insert_agent`` and
  ``insert_outlet`` are the same in the caller's transaction. A code is unique: a taken one
  is refused by the field, also when two add it at once (the unique index decides).
* An agent added by a person (the command line) is recorded in the audit log in the same
  transaction (``actor``).
* ``save_outlet`` is the import's upsert by code: a new code is inserted, a known one is
  updated in place (its id, and so its shifts and sales, stay).
* Reading: ``get_agent``/``get_outlet`` by id, ``agent_by_code``/``outlet_by_code``; finding
  outlets by place, district, service and opening hours is ``finder``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.names import Names
from simkeep.outlets import tables as t
from simkeep.outlets.districts import Region
from simkeep.outlets.hours import Hours
from simkeep.outlets.model import (
    Agent,
    AgentState,
    NewOutlet,
    Outlet,
    OutletError,
    OutletKind,
    OutletState,
    Service,
    UnknownAgent,
    check_agent,
    check_outlet,
)
from simkeep.staff.audit import Actor, Target, record


async def create_agent(
    db: Database,
    *,
    code: str,
    names: Names,
    commission_bp: int,
    credit_limit_minor: int = 0,
    now: datetime,
    actor: Actor | None = None,
) -> Agent:
    """A new agent with a unique code (recorded in the audit log when ``actor`` is given)."""

    async def create(conn: AsyncConnection) -> Agent:
        return await insert_agent(
            conn,
            code=code,
            names=names,
            commission_bp=commission_bp,
            credit_limit_minor=credit_limit_minor,
            now=now,
            actor=actor,
        )

    return await db.transaction(create)


async def insert_agent(
    conn: AsyncConnection,
    *,
    code: str,
    names: Names,
    commission_bp: int,
    credit_limit_minor: int = 0,
    now: datetime,
    actor: Actor | None = None,
) -> Agent:
    """``create_agent`` in the caller's transaction."""
    check_agent(
        code=code, names=names, commission_bp=commission_bp, credit_limit_minor=credit_limit_minor
    )
    values = {
        "code": code,
        **names.values(),
        "commission_bp": commission_bp,
        "credit_limit_minor": credit_limit_minor,
        "state": AgentState.ACTIVE.value,
    }
    if await agent_by_code(conn, code=code) is not None:
        raise OutletError("code", f"an agent {code!r} exists already")
    try:
        inserted = await conn.execute(
            t.agents.insert().values(**values, created_at=now).returning(t.agents.c.id)
        )
    except IntegrityError as error:
        raise OutletError("code", f"an agent {code!r} exists already") from error
    agent_id = int(inserted.scalar_one())
    if actor is not None:
        added = Target("agent", agent_id)
        await record(
            conn, actor=actor, action="agent.add", target=added, before=None, after=values, now=now
        )
    return Agent(agent_id, code, names, commission_bp, credit_limit_minor, AgentState.ACTIVE)


async def add_outlet(db: Database, *, outlet: NewOutlet, now: datetime) -> Outlet:
    """A new outlet of an existing agent, with a unique code."""

    async def add(conn: AsyncConnection) -> Outlet:
        return await insert_outlet(conn, outlet=outlet, now=now)

    return await db.transaction(add)


async def insert_outlet(conn: AsyncConnection, *, outlet: NewOutlet, now: datetime) -> Outlet:
    """``add_outlet`` in the caller's transaction."""
    check_outlet(outlet)
    if await get_agent(conn, agent_id=outlet.agent_id) is None:
        raise UnknownAgent(f"no agent {outlet.agent_id}")
    if await outlet_by_code(conn, code=outlet.code) is not None:
        raise OutletError("code", f"an outlet {outlet.code!r} exists already")
    try:
        inserted = await conn.execute(
            t.outlets.insert()
            .values(**_outlet_values(outlet), state=OutletState.OPEN.value, created_at=now)
            .returning(t.outlets.c.id)
        )
    except IntegrityError as error:
        raise OutletError("code", f"an outlet {outlet.code!r} exists already") from error
    found = await get_outlet(conn, outlet_id=int(inserted.scalar_one()))
    assert found is not None  # inserted just now, in this transaction
    return found


async def save_outlet(conn: AsyncConnection, *, outlet: NewOutlet, now: datetime) -> bool:
    """Insert the outlet, or update the one with its code in place; True if it was new."""
    existing = await outlet_by_code(conn, code=outlet.code)
    if existing is None:
        await insert_outlet(conn, outlet=outlet, now=now)
        return True
    check_outlet(outlet)
    if await get_agent(conn, agent_id=outlet.agent_id) is None:
        raise UnknownAgent(f"no agent {outlet.agent_id}")
    await conn.execute(
        update(t.outlets).where(t.outlets.c.id == existing.id).values(**_outlet_values(outlet))
    )
    return False


async def get_agent(conn: AsyncConnection, *, agent_id: int) -> Agent | None:
    """The agent with this id, or None."""
    row = (await conn.execute(select(t.agents).where(t.agents.c.id == agent_id))).mappings()
    found = row.first()
    return None if found is None else _agent(found)


async def agent_by_code(conn: AsyncConnection, *, code: str) -> Agent | None:
    """The agent with this code, or None."""
    row = (await conn.execute(select(t.agents).where(t.agents.c.code == code))).mappings()
    found = row.first()
    return None if found is None else _agent(found)


async def list_agents(conn: AsyncConnection) -> list[Agent]:
    """Every agent, by code."""
    rows = await conn.execute(select(t.agents).order_by(t.agents.c.code))
    return [_agent(row) for row in rows.mappings()]


async def get_outlet(conn: AsyncConnection, *, outlet_id: int) -> Outlet | None:
    """The outlet with this id, or None."""
    row = (await conn.execute(select(t.outlets).where(t.outlets.c.id == outlet_id))).mappings()
    found = row.first()
    return None if found is None else outlet_of_row(found)


async def outlet_by_code(conn: AsyncConnection, *, code: str) -> Outlet | None:
    """The outlet with this code, or None."""
    row = (await conn.execute(select(t.outlets).where(t.outlets.c.code == code))).mappings()
    found = row.first()
    return None if found is None else outlet_of_row(found)


def _outlet_values(outlet: NewOutlet) -> dict[str, Any]:
    region = outlet.region
    return {
        "code": outlet.code,
        "agent_id": outlet.agent_id,
        "kind": outlet.kind.value,
        **outlet.names.values(),
        **outlet.addresses.values("address"),
        "region": region.value,
        "district": outlet.district,
        "lat_e6": outlet.lat_e6,
        "lon_e6": outlet.lon_e6,
        "hours": outlet.hours.to_json(),
        "sells_cash": Service.CASH in outlet.services,
        "sells_card": Service.CARD in outlet.services,
        "sells_vouchers": Service.VOUCHER_SALE in outlet.services,
        "phone": outlet.phone,
        "currency": region.currency,
    }


def _agent(row: Mapping[Any, Any]) -> Agent:
    return Agent(
        id=int(row["id"]),
        code=row["code"],
        names=Names.of_row(row),
        commission_bp=int(row["commission_bp"]),
        credit_limit_minor=int(row["credit_limit_minor"]),
        state=AgentState(row["state"]),
    )


def outlet_of_row(row: Mapping[Any, Any]) -> Outlet:
    """An outlet read from its table's row."""
    offered = (
        (Service.CASH, row["sells_cash"]),
        (Service.CARD, row["sells_card"]),
        (Service.VOUCHER_SALE, row["sells_vouchers"]),
    )
    return Outlet(
        id=int(row["id"]),
        code=row["code"],
        agent_id=int(row["agent_id"]),
        kind=OutletKind(row["kind"]),
        names=Names.of_row(row),
        addresses=Names.of_row(row, "address"),
        region=Region(row["region"]),
        district=row["district"],
        lat_e6=int(row["lat_e6"]),
        lon_e6=int(row["lon_e6"]),
        hours=Hours.of_json(row["hours"]),
        services=frozenset(service for service, offers in offered if offers),
        phone=row["phone"],
        currency=row["currency"],
        state=OutletState(row["state"]),
    )
