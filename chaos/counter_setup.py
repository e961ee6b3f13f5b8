"""The counters before the doors open: an agent, its two outlets, their clerks' devices, the
floats, and a stock of vouchers printed for the outlets to sell.

Made through simkeep's own services on a direct connection, as the operator would: the
agent (``CHAOS``, 1.5 % commission, no credit limit, so its floats stop at zero) owns a
Hong Kong outlet selling in HKD and a Shenzhen one selling in yuan; each has ``CLERKS``
clerks with a POS device token of their own. Each float is funded by one deposit entered by
one operator and approved by another (``FLOAT``: enough for a part of the run only, so that
later sales meet the floor and are refused). A batch of vouchers per currency is generated
and its printer's lines (serial and PIN) kept here, for the clerks to sell and the people
to redeem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import devices
from simkeep.db import Database
from simkeep.money import Money
from simkeep.names import Names
from simkeep.outlets import floats, staffing
from simkeep.outlets import service as outlets
from simkeep.outlets.hours import DAYS, Hours
from simkeep.outlets.model import NewOutlet, OutletKind, Service
from simkeep.outlets.staffing import Placement
from simkeep.staff import accounts
from simkeep.staff.audit import CLI, Actor
from simkeep.vouchers import batches
from simkeep.vouchers.model import PrintedVoucher, pin_key

CLERKS = 2  # per outlet
FLOAT = {"HKD": 2_000_000, "CNY": 2_000_000}  # minor units: HK$/¥20,000 each
VOUCHERS = {"HKD": (10_000, 150), "CNY": (5_000, 150)}  # face value, count
OUTLETS = (  # code, district, currency, latitude and longitude in micro-degrees
    ("CHAOS-HK", "yau-tsim-mong", "HKD", 22_319_300, 114_169_400),
    ("CHAOS-SZ", "futian", "CNY", 22_541_000, 114_054_500),
)
STAFF_PASSWORD = "chaos staff 42"  # the harness' own throwaway accounts


@dataclass(frozen=True, slots=True)
class Clerk:
    token: str  # the POS device's bearer token
    currency: str  # what the outlet sells in


@dataclass(frozen=True, slots=True)
class CounterStock:
    clerks: list[Clerk]
    vouchers: list[PrintedVoucher]  # the printer's lines: serial, PIN, value


async def prepare_counters(db: Database, *, secret_key: str, now: datetime) -> CounterStock:
    """The agent, outlets, clerks and their devices, funded floats and vouchers to sell."""
    agent = await outlets.create_agent(
        db,
        code="CHAOS",
        names=Names("混沌代理", "混沌代理", "Chaos agent"),
        commission_bp=150,
        now=now,
    )
    clerks: list[Clerk] = []
    for code, district, currency, lat, lon in OUTLETS:
        outlet = await outlets.add_outlet(
            db, outlet=_outlet(code, agent.id, district, lat, lon), now=now
        )
        for n in range(CLERKS):
            member = await staffing.add_agent_staff(
                db,
                place=Placement(agent.id, outlet.id),
                username=f"{code.lower()}-{n}",
                display_name=f"Clerk {n} of {code}",
                password=STAFF_PASSWORD,
                actor=CLI,
                now=now,
            )
            device = await devices.issue_device(
                db, staff_id=member.id, label=f"counter {n}", actor=CLI, now=now
            )
            clerks.append(Clerk(device.token, currency))
    maker, checker = [
        await accounts.add_staff(
            db,
            username=name,
            display_name=name,
            role="operator",
            password=STAFF_PASSWORD,
            actor=CLI,
            now=now,
        )
        for name in ("chaos-maker", "chaos-checker")
    ]
    for currency, amount in FLOAT.items():
        deposit = await floats.enter_deposit(
            db,
            agent_id=agent.id,
            amount=Money(amount, currency),
            reference=f"CHAOS-{currency}",
            actor=Actor(maker.id, "chaos"),
            now=now,
        )
        await floats.approve_deposit(
            db, deposit_id=deposit.id, actor=Actor(checker.id, "chaos"), now=now
        )
    printed: list[PrintedVoucher] = []
    for currency, (face, count) in VOUCHERS.items():
        printed += await _print(db, Money(face, currency), count, pin_key(secret_key), now)
    return CounterStock(clerks, printed)


async def _print(
    db: Database, face: Money, count: int, key: bytes, now: datetime
) -> list[PrintedVoucher]:
    """A batch of vouchers, generated as ``simkeep vouchers generate`` does: its printer's
    lines."""

    async def generate(conn: AsyncConnection) -> list[PrintedVoucher]:
        expires_on = (now + timedelta(days=365)).date()
        generated = await batches.generate_batch(
            conn, face=face, count=count, expires_on=expires_on, created_by=None, key=key, now=now
        )
        return generated.printed

    return await db.transaction(generate)


def _outlet(code: str, agent_id: int, district: str, lat: int, lon: int) -> NewOutlet:
    return NewOutlet(
        code=code,
        agent_id=agent_id,
        kind=OutletKind.CONVENIENCE_STORE,
        names=Names(f"{code} 門市", f"{code} 门店", f"{code} shop"),
        addresses=Names("混沌街 1 號", "混沌街 1 号", "1 Chaos Street"),
        district=district,
        lat_e6=lat,
        lon_e6=lon,
        hours=Hours.of_json({day: [["00:00", "24:00"]] for day in DAYS}),
        services=frozenset(Service),
    )
