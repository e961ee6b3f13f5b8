"""The demo's agents at work: a second operator so that maker and checker can be seen, each
demo agent's user and clerks at one or two of its outlets, and float deposits entered by
``operator`` and approved by ``finance`` through the same service as anyone's, so every
float has its history.

Design overview
---------------
Runs after the outlets are seeded (``demo.outlets``) and the demo's operator is added. Each
person is added once (``staffing.ensure_member``, enrolled with a fixed TOTP secret that
``simkeep demo seed`` prints); a deposit is found again by its bank reference
(``DEMO-<agent>-<currency>``), so seeding again enters and approves nothing twice, and a
deposit left pending by a seeding that stopped half-way is approved the next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.money import Money
from simkeep.outlets import floats, staffing
from simkeep.outlets.float_model import DepositState
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI, Actor


@dataclass(frozen=True)
class DemoMember:
    """A demo member of staff as ``simkeep demo seed`` prints them (``DemoStaff``'s fields
    first), and where they work."""

    username: str
    name: str
    role: str
    password: str
    totp_secret: str  # base32; a tester computes codes with it
    agent: str | None = None  # the agent's code; None: the operator's own staff
    outlet: str | None = None  # a clerk's outlet code

    def printed(self) -> tuple[str, str, str, str, str]:
        return self.username, self.name, self.role, self.password, self.totp_secret


AGENT_PASSWORD = "demo-agent-1"  # noqa: S105 -- printed for testers
CLERK_PASSWORD = "demo-clerk-1"  # noqa: S105 -- printed for testers


def _secret(username: str) -> str:
    """A fixed TOTP secret of 32 base32 characters, readable as whose it is."""
    letters = "".join(c for c in username.upper() if c.isalpha())
    return f"DEMO{letters}TOTPSECRET{'234567' * 5}"[:32]


def _user(username: str, name: str, agent: str) -> DemoMember:
    return DemoMember(username, name, "agent", AGENT_PASSWORD, _secret(username), agent)


def _clerk(username: str, name: str, agent: str, outlet: str) -> DemoMember:
    return DemoMember(username, name, "clerk", CLERK_PASSWORD, _secret(username), agent, outlet)


FINANCE = DemoMember("finance", "Demo Finance", "operator", "demo-staff-fi", _secret("finance"))
DEMO_AGENT_STAFF = (
    FINANCE,
    _user("agent.own", "Own shops' office", "OWN"),
    _user("agent.quik", "QuikMart office", "QUIK"),
    _user("agent.mall", "MallComm office", "MALLCOM"),
    _user("agent.yx", "YouXuan office", "YOUXUAN"),
    _clerk("clerk.mk", "Mandy (Mong Kok)", "OWN", "HK-YT-01"),
    _clerk("clerk.ft", "Fang (Futian)", "OWN", "SZ-FT-01"),
    _clerk("clerk.tst", "Tommy (Tsim Sha Tsui)", "QUIK", "HK-YT-02"),
    _clerk("clerk.mall", "Winnie (mall kiosk)", "MALLCOM", "HK-YT-03"),
    _clerk("clerk.fq", "Li (Fuqiang Road)", "YOUXUAN", "SZ-FT-02"),
)
# What each agent paid into its float, per currency it sells in (major units).
DEMO_DEPOSITS = {
    "OWN": {"HKD": 50_000, "CNY": 50_000},
    "QUIK": {"HKD": 200_000},
    "MALLCOM": {"HKD": 100_000, "CNY": 30_000},
    "YOUXUAN": {"CNY": 100_000},
}
MAKER = "operator"  # the demo's operator (``demo.service.DEMO_STAFF``) enters the deposits


async def ensure_demo_agents(db: Database, *, now: datetime) -> tuple[DemoMember, ...]:
    """The second operator, the agents' people and their approved float deposits; the people
    added, to print."""
    for member in DEMO_AGENT_STAFF:
        await _ensure(db, member, now)
    maker = await db.read(lambda conn: staff.find_member(conn, username=MAKER))
    checker = await db.read(lambda conn: staff.find_member(conn, username=FINANCE.username))
    if maker is None or checker is None:
        raise LookupError(f"the demo's {MAKER} and {FINANCE.username} come first")
    made, checked = Actor(maker.id, "cli"), Actor(checker.id, "cli")
    for code, amounts in DEMO_DEPOSITS.items():
        for currency, major in amounts.items():
            await _deposit(db, code, Money(major * 100, currency), made, checked, now)
    return DEMO_AGENT_STAFF


async def _ensure(db: Database, member: DemoMember, now: datetime) -> None:
    if member.agent is None:
        await staff.ensure_staff(
            db,
            username=member.username,
            display_name=member.name,
            role=member.role,
            password=member.password,
            totp_secret=member.totp_secret,
            actor=CLI,
            now=now,
        )
        return
    await staffing.ensure_member(
        db,
        place=await staffing.placement(db, agent_code=member.agent, outlet_code=member.outlet),
        username=member.username,
        display_name=member.name,
        password=member.password,
        totp_secret=member.totp_secret,
        actor=CLI,
        now=now,
    )


async def _deposit(
    db: Database, code: str, amount: Money, maker: Actor, checker: Actor, now: datetime
) -> None:
    """The agent's demo deposit in this currency, entered and approved unless it was."""
    reference = f"DEMO-{code}-{amount.currency}"
    agent_id = (await staffing.placement(db, agent_code=code)).agent_id

    async def existing(conn: AsyncConnection) -> list[floats.FloatDeposit]:
        found = await floats.deposits(conn, agent_id=agent_id, limit=200)
        return [deposit for deposit in found if deposit.reference == reference]

    found = await db.read(existing)
    deposit = found[0] if found else None
    if deposit is None:
        deposit = await floats.enter_deposit(
            db, agent_id=agent_id, amount=amount, reference=reference, actor=maker, now=now
        )
    if deposit.state is DepositState.PENDING:
        await floats.approve_deposit(db, deposit_id=deposit.id, actor=checker, now=now)
