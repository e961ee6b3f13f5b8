"""Test data: the books and plans, an FX rate, SIMs in any state (and moved to another, as
the retention run will), subscribers with a session, and reading the one-time codes the
outbox would send by SMS."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.ledger import service as ledger
from simkeep.notifications.tables import outbox
from simkeep.sims import service as sims
from simkeep.sims import tables as sim_tables
from simkeep.sims.model import IdType, Sim, SimState, digest_key, luhn_complete
from simkeep.topups import service as topups
from simkeep.usage import rates

HKD_CNY = Decimal("0.92")


async def seed_books(conn: AsyncConnection, *, now: datetime) -> None:
    """The chart of accounts, the plans with their usage rates and an HKD→CNY rate."""
    await ledger.ensure_chart(conn, now=now, hot_slots=4)
    await sims.ensure_plans(conn)
    await rates.ensure_rates(conn)
    await topups.set_fx_rate(
        conn, base="HKD", quote_currency="CNY", rate=HKD_CNY, source="test", now=now
    )


async def issue_sim(
    conn: AsyncConnection,
    *,
    n: int,
    plan: str,
    now: datetime,
    state: SimState = SimState.ACTIVE,
    validity_until: datetime | None = None,
) -> Sim:
    """SIM number ``n``: its numbers follow from ``n``, so tests can make many."""
    return await sims.issue_sim(
        conn,
        iccid=luhn_complete(f"8985200{n:011d}"),
        plan_code=plan,
        hk_number=f"9{n + 200:03d}{n * 37 % 10000:04d}",
        cn_number=f"139{n:04d}{n * 53 % 10000:04d}",
        holder_name="陳大明",
        id_type=IdType.HKID,
        id_number="A123456(3)",
        id_key=digest_key("test"),
        now=now,
        state=state,
        validity_until=validity_until,
    )


async def set_sim_state(conn: AsyncConnection, *, sim_id: int, state: SimState) -> None:
    """The SIM's state changes, as the retention run will change it (it has no service yet)."""
    await conn.execute(
        sim_tables.sims.update().where(sim_tables.sims.c.id == sim_id).values(state=state.value)
    )


async def last_code(db: Database, phone: str) -> str:
    """The newest one-time code queued by SMS to ``phone`` (E.164)."""

    async def read(conn: AsyncConnection) -> str | None:
        return (
            await conn.execute(
                select(outbox.c.body)
                .where(outbox.c.recipient == phone)
                .order_by(outbox.c.id.desc())
                .limit(1)
            )
        ).scalar()

    body = await db.transaction(read)
    assert body is not None, f"no SMS to {phone}"
    match = re.search(r"\b(\d{6})\b", body)
    assert match, body
    return match.group(1)
