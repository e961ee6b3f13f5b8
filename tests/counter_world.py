"""Test data of the counter: the books, an agent with a funded float, its outlet, a clerk
there (with an open shift when asked), and SIMs to top up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import service as counter
from simkeep.counter.model import IdLimits, IdPolicy, Payer, Payment, TopUp
from simkeep.db import Database
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.names import Names
from simkeep.outlets import floats
from simkeep.outlets import service as outlets
from simkeep.outlets.hours import ALWAYS
from simkeep.outlets.model import NewOutlet, OutletKind, Service
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, Sim, SimState, digest_key, luhn_complete
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI, Actor
from simkeep.staff.service import StaffMember
from simkeep.vouchers import service as voucher_service
from simkeep.vouchers.model import pin_key
from tests.factories import issue_sim, seed_books

CLERK_PASSWORD = "clerk password"
CLERK_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ID_KEY = digest_key("test")  # the key tests.factories.issue_sim digests ID numbers with
HOLDER_ID = (IdType.HKID, "A123456(3)")  # the ID every SIM of tests.factories is issued with
POLICY = IdPolicy()
LIMITS = IdLimits()
CASH = Payer(Payment.CASH)
HERE = Actor(None, "127.0.0.1")


@dataclass(frozen=True, slots=True)
class Place:
    agent_id: int
    outlet_id: int
    clerk: StaffMember
    float_code: str
    commission_code: str


async def place(
    db: Database,
    *,
    now: datetime,
    code: str = "HANDY",
    username: str = "clerk.mk",
    float_minor: int = 1_000_000,
    credit_limit_minor: int = 0,
    services: frozenset[Service] = frozenset(Service),
    books: bool = True,
) -> Place:
    """An agent at 1.5 % with ``float_minor`` in its HKD float, an outlet in Wan Chai and a
    clerk there; the books first, unless they are there already."""
    if books:
        await db.transaction(lambda conn: seed_books(conn, now=now))
    agent = await outlets.create_agent(
        db,
        code=code,
        names=Names(f"{code}連鎖", f"{code}连锁", f"{code} Stores"),
        commission_bp=150,
        credit_limit_minor=credit_limit_minor,
        now=now,
    )
    outlet = await outlets.add_outlet(db, outlet=_shop(agent.id, f"{code}-1", services), now=now)
    await db.transaction(lambda conn: _fund(conn, agent.id, Money(float_minor, "HKD"), now))
    clerk_id = await staff.ensure_staff(
        db,
        username=username,
        display_name="Mandy Clerk",
        role="clerk",
        password=CLERK_PASSWORD,
        totp_secret=CLERK_SECRET,
        actor=CLI,
        now=now,
        agent_id=agent.id,
        outlet_id=outlet.id,
    )
    member = await db.read(lambda conn: staff.find_member(conn, staff_id=clerk_id))
    assert member is not None
    return Place(
        agent.id,
        outlet.id,
        member,
        chart.agent_float(agent.id, "HKD").code,
        chart.agent_commission(agent.id, "HKD").code,
    )


def _shop(agent_id: int, code: str, services: frozenset[Service]) -> NewOutlet:
    return NewOutlet(
        code=code,
        agent_id=agent_id,
        kind=OutletKind.CONVENIENCE_STORE,
        names=Names(zh_hant_hk="灣仔店", zh_hans_cn="湾仔店", en="Wan Chai shop"),
        addresses=Names(
            zh_hant_hk="灣仔軒尼詩道 300 號",
            zh_hans_cn="湾仔轩尼诗道 300 号",
            en="300 Hennessy Road, Wan Chai",
        ),
        district="wan-chai",
        lat_e6=22_278_500,
        lon_e6=114_175_100,
        hours=ALWAYS,
        services=services,
    )


async def _fund(conn: AsyncConnection, agent_id: int, amount: Money, now: datetime) -> None:
    """The agent's float, with ``amount`` paid in from the bank (none if zero)."""
    accounts = await floats.float_accounts(
        conn, agent_id=agent_id, currency=amount.currency, now=now
    )
    if amount.is_zero():
        return
    bank = chart.system_code(System.BANK, amount.currency)
    ids = await ledger.account_ids(conn, codes=[bank])
    await ledger.post_journal(
        conn,
        client_id=f"float_deposit:test:{agent_id}:{amount.currency}",
        postings=rules.float_deposit(bank=ids[bank], agent_float=accounts.float_id, amount=amount),
        now=now,
    )


async def sim(
    db: Database,
    *,
    n: int,
    now: datetime,
    plan: str = "HK-VALID",
    state: SimState = SimState.ACTIVE,
) -> Sim:
    """SIM number ``n`` (``tests.factories.issue_sim``)."""
    return await db.transaction(lambda conn: issue_sim(conn, n=n, plan=plan, now=now, state=state))


async def open_shift(
    db: Database, where: Place, *, now: datetime, opening_minor: int = 50_000
) -> int:
    shift = await counter.open_shift(
        db, clerk=where.clerk, opening_minor=opening_minor, actor=HERE, now=now
    )
    return shift.id


def topup(key: str, number: str, whole: int, payer: Payer = CASH) -> TopUp:
    return TopUp(key=key, number=number, amount_minor=whole * 100, payer=payer)


async def balance(db: Database, code: str) -> int:
    """The posted balance of the account ``code`` (0 if it is not open)."""

    async def read(conn: AsyncConnection) -> int:
        ids = await ledger.account_ids(conn, codes=[code])
        if code not in ids:
            return 0
        return (await ledger.get_balance(conn, account_id=ids[code])).posted

    return await db.read(read)


async def vouchers(db: Database, *, face_minor: int, count: int, now: datetime) -> list[str]:
    """The serials of a new batch of HKD vouchers, usable for a year."""
    made = await voucher_service.create_batch(
        db,
        face=Money(face_minor, "HKD"),
        count=count,
        expires_on=(now + timedelta(days=365)).date(),
        key=pin_key("test"),
        actor=CLI,
        now=now,
    )
    return [card.serial for card in made.printed]


async def sim_under_key(db: Database, *, n: int, now: datetime, id_key: bytes) -> Sim:
    """An HKD SIM whose holder's ID (``HOLDER_ID``) is digested under ``id_key`` (an app's)."""

    async def issue(conn: AsyncConnection) -> Sim:
        return await sims.issue_sim(
            conn,
            iccid=luhn_complete(f"8985201{n:011d}"),
            plan_code="HK-VALID",
            hk_number=f"6{n + 300:03d}{n * 37 % 10000:04d}",
            cn_number=f"137{n:04d}{n * 53 % 10000:04d}",
            holder_name="李小龍",
            id_type=HOLDER_ID[0],
            id_number=HOLDER_ID[1],
            id_key=id_key,
            now=now,
        )

    return await db.transaction(issue)
