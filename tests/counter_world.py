"""Test data of the counter: an agent with an outlet, a clerk there, and the books."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.names import Names
from simkeep.outlets import tables as ot
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI

CLERK_PASSWORD = "clerk password"
CLERK_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@dataclass(frozen=True, slots=True)
class Counter:
    agent_id: int
    outlet_id: int
    clerk_id: int


async def agent_and_outlet(
    conn: AsyncConnection, *, now: datetime, code: str = "A1", currency: str = "HKD"
) -> tuple[int, int]:
    """An agent at 1.5 % commission and one outlet of it selling in ``currency``."""
    names = Names(f"代理{code}", f"代理{code}", f"Agent {code}")
    agent = await conn.execute(
        ot.agents.insert()
        .values(code=code, **names.values(), commission_bp=150, created_at=now)
        .returning(ot.agents.c.id)
    )
    agent_id = int(agent.scalar_one())
    shop = Names("旺角店", "旺角店", "Mong Kok shop")
    address = Names("旺角道1號", "旺角道1号", "1 Mong Kok Road")
    outlet = await conn.execute(
        ot.outlets.insert()
        .values(
            code=f"{code}-MK",
            agent_id=agent_id,
            kind="convenience_store",
            **shop.values(),
            **address.values("address"),
            region="HK",
            district="Yau Tsim Mong",
            lat_e6=22_319_000,
            lon_e6=114_169_000,
            hours={"mon": [["08:00", "22:00"]]},
            sells_cash=True,
            sells_card=True,
            sells_vouchers=True,
            currency=currency,
            created_at=now,
        )
        .returning(ot.outlets.c.id)
    )
    return agent_id, int(outlet.scalar_one())


async def counter(
    db: Database, *, now: datetime, code: str = "A1", username: str = "clerk.mk"
) -> Counter:
    """An agent, its outlet and an enrolled clerk there."""
    agent_id, outlet_id = await db.transaction(
        lambda conn: agent_and_outlet(conn, now=now, code=code)
    )
    clerk_id = await staff.ensure_staff(
        db,
        username=username,
        display_name="Mandy Clerk",
        role="clerk",
        password=CLERK_PASSWORD,
        totp_secret=CLERK_SECRET,
        actor=CLI,
        now=now,
        agent_id=agent_id,
        outlet_id=outlet_id,
    )
    return Counter(agent_id, outlet_id, clerk_id)
