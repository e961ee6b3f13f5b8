"""Test data of agents and their floats: the books, an agent with outlets (through the
outlets' service), two enrolled operators — a maker and a checker —, the agent's user and
clerks, and shifts and sales as the POS writes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import tables as ct
from simkeep.db import Database
from simkeep.money import Money
from simkeep.names import Names
from simkeep.outlets import service as outlets
from simkeep.outlets import staffing
from simkeep.outlets.float_model import commission_for
from simkeep.outlets.hours import parse_week
from simkeep.outlets.model import NewOutlet, OutletKind, Service
from simkeep.outlets.staffing import Placement
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
    "fay": "MZQXSMZQGEZDGNBVMZQXSMZQGEZDGNBV",
}
HOURS = parse_week(["08:00-22:00"] * 7)
_RECEIPTS = count(1)


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


async def ensure_operator(db: Database, username: str, *, now: datetime) -> int:
    """An enrolled operator ``username`` (one of ``SECRETS``), added if there is none."""
    return await staff.ensure_staff(
        db,
        username=username,
        display_name=username.title(),
        role="operator",
        password=STAFF_PASSWORD,
        totp_secret=SECRETS[username],
        actor=CLI,
        now=now,
    )


async def agency(
    db: Database, *, now: datetime, code: str = "GOLDEN", books: bool = True
) -> Agency:
    """The books (unless there are already), the agent ``code`` and its two outlets, and
    operators olive and fiona."""

    async def seed(conn: AsyncConnection) -> None:
        await seed_books(conn, now=now)

    if books:
        await db.transaction(seed)
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
    maker = await ensure_operator(db, "olive", now=now)
    checker = await ensure_operator(db, "fiona", now=now)
    return Agency(agent.id, mong_kok.id, shenzhen.id, Actor(maker, "test"), Actor(checker, "test"))


async def agent_member(
    db: Database, username: str, *, agent_id: int, outlet_id: int | None = None, now: datetime
) -> int:
    """An enrolled user of the agent (no outlet) or clerk at its outlet, one of ``SECRETS``."""
    return await staffing.ensure_member(
        db,
        place=Placement(agent_id, outlet_id),
        username=username,
        display_name=username.title(),
        password=STAFF_PASSWORD,
        totp_secret=SECRETS[username],
        actor=CLI,
        now=now,
    )


async def shift(
    db: Database,
    *,
    outlet_id: int,
    clerk_id: int,
    at: datetime,
    closed: bool = True,
    currency: str = "HKD",
) -> int:
    """A shift as the POS writes it: opened at ``at`` with HK$500 in the till, and closed an
    hour later HK$10 short of the HK$800 expected (or still open)."""
    values: dict[str, object] = {
        "outlet_id": outlet_id,
        "clerk_id": clerk_id,
        "currency": currency,
        "state": "closed" if closed else "open",
        "opening_cash_minor": 50_000,
        "opened_at": at,
    }
    if closed:
        values |= {
            "closed_at": at + timedelta(hours=1),
            "expected_cash_minor": 80_000,
            "expected_card_minor": 5_000,
            "counted_cash_minor": 79_000,
            "difference_minor": -1_000,
        }

    async def insert(conn: AsyncConnection) -> int:
        done = await conn.execute(ct.shifts.insert().values(**values).returning(ct.shifts.c.id))
        return int(done.scalar_one())

    return await db.transaction(insert)


async def sale(
    db: Database,
    agency: Agency,
    *,
    shift_id: int,
    clerk_id: int,
    amount: int,
    at: datetime,
    kind: str = "topup",
    payment: str = "cash",
    outlet_id: int | None = None,
    currency: str = "HKD",
) -> int:
    """A sale row as the POS writes it, with the commission of a 1.5 % agent."""
    n = next(_RECEIPTS)
    values = {
        "receipt_no": f"T{n:09d}",
        "shift_id": shift_id,
        "outlet_id": outlet_id or agency.mong_kok,
        "agent_id": agency.agent_id,
        "clerk_id": clerk_id,
        "kind": kind,
        "idempotency_key": f"sale-{n}",
        "request_hash": "0" * 64,
        "amount_minor": amount,
        "currency": currency,
        "payment": payment,
        "terminal_ref": f"TERM-{n}" if payment == "card" else None,
        "commission_minor": commission_for(Money(amount, currency), 150).minor,
        "created_at": at,
    }

    async def insert(conn: AsyncConnection) -> int:
        done = await conn.execute(ct.sales.insert().values(**values).returning(ct.sales.c.id))
        return int(done.scalar_one())

    return await db.transaction(insert)
