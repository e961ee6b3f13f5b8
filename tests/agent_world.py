"""Test data of agents and their floats: the books, an agent with outlets (through the
outlets' service), and two enrolled operators — a maker and a checker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.names import Names
from simkeep.outlets import service as outlets
from simkeep.outlets.hours import parse_week
from simkeep.outlets.model import NewOutlet, OutletKind, Service
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI, Actor
from tests.factories import seed_books

STAFF_PASSWORD = "staff password 1"
SECRETS = {
    "olive": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "fiona": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
    "ada": "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
    "abby": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    "carl": "ONSWG4TFOQYTEMZUONSWG4TFOQYTEMZU",
}
HOURS = parse_week(["08:00-22:00"] * 7)


@dataclass(frozen=True, slots=True)
class Agency:
    """An agent (1.5 % commission, no credit limit) with a Mong Kok (HKD) and a Shenzhen
    (CNY) outlet, and two operators: ``maker`` and ``checker``."""

    agent_id: int
    mong_kok: int
    shenzhen: int
    maker: Actor
    checker: Actor


def outlet(agent_id: int, code: str, district: str) -> NewOutlet:
    return NewOutlet(
        code=code,
        agent_id=agent_id,
        kind=OutletKind.CONVENIENCE_STORE,
        names=Names(f"{code}店", f"{code}店", f"{code} shop"),
        addresses=Names("彌敦道1號", "弥敦道1号", "1 Nathan Road"),
        district=district,
        lat_e6=22_319_000,
        lon_e6=114_169_000,
        hours=HOURS,
        services=frozenset({Service.CASH, Service.CARD}),
    )


async def operator(db: Database, username: str, *, now: datetime, role: str = "operator") -> int:
    new = await staff.add_staff(
        db,
        username=username,
        display_name=username.title(),
        role=role,
        password=STAFF_PASSWORD,
        actor=CLI,
        now=now,
        totp_secret=SECRETS[username],
        enrolled=True,
    )
    return new.id


async def agency(db: Database, *, now: datetime, code: str = "GOLDEN") -> Agency:
    """The books, the agent ``code`` and its two outlets, and operators olive and fiona."""

    async def books(conn: AsyncConnection) -> None:
        await seed_books(conn, now=now)

    await db.transaction(books)
    agent = await outlets.create_agent(
        db,
        code=code,
        names=Names("金門代理", "金门代理", "Golden Gate Agency"),
        commission_bp=150,
        now=now,
    )
    mong_kok = await outlets.add_outlet(
        db, outlet=outlet(agent.id, f"{code[:5]}-MK", "yau-tsim-mong"), now=now
    )
    shenzhen = await outlets.add_outlet(
        db, outlet=outlet(agent.id, f"{code[:5]}-SZ", "futian"), now=now
    )
    maker = await operator(db, "olive", now=now)
    checker = await operator(db, "fiona", now=now)
    return Agency(agent.id, mong_kok.id, shenzhen.id, Actor(maker, "test"), Actor(checker, "test"))
