"""A SIM's retention as its holders and the crediting see it: the fees it owes paid first
from a top-up, the last day its fees keep the number, and its history.

Design overview
---------------
``settle_arrears`` runs in the crediting transaction: the fees a lapsed SIM owes are paid
from the balance the top-up raised (journal ``arrears:<order>``), all or nothing.
``kept_until_instant`` is what a monthly-fee top-up's order and receipt state as its
validity. ``history`` reads back what the daily run (``service``) and the top-ups took for a
SIM, from the books, with its state changes — for the SIM's page and the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG
from simkeep.ledger import chart, rules
from simkeep.ledger import service as ledger
from simkeep.ledger import tables as lt
from simkeep.ledger.chart import System
from simkeep.money import Money
from simkeep.retention.model import lapses_on, line_of
from simkeep.sims import service as sims
from simkeep.sims import tables as st
from simkeep.sims.model import SimAccount


async def settle_arrears(
    conn: AsyncConnection, *, sim_id: int, balance_account: int, reference: str, now: datetime
) -> bool:
    """A top-up to a SIM in grace or suspended: the fees it owes are paid first, from the
    balance the top-up raised, when the balance covers all of them (journal
    ``arrears:<reference>``). Whether the SIM owes nothing now (and so is active again)."""
    s = st.sims.c
    row = (await conn.execute(select(s.arrears_minor, s.home_currency).where(s.id == sim_id))).one()
    if row.arrears_minor == 0:
        return True
    held = await ledger.get_balance(conn, account_id=balance_account)
    if held.available < row.arrears_minor:
        return False
    revenue_code = chart.system_code(System.RETENTION_FEE_REVENUE, row.home_currency)
    revenue = (await ledger.account_ids(conn, codes=[revenue_code]))[revenue_code]
    owed = Money(row.arrears_minor, row.home_currency)
    postings = rules.retention_fee(sim_balance=balance_account, revenue=revenue, fee=owed)
    await ledger.post_journal(conn, client_id=f"arrears:{reference}", postings=postings, now=now)
    await conn.execute(update(st.sims).where(s.id == sim_id).values(arrears_minor=0))
    return True


async def kept_until_instant(
    conn: AsyncConnection, *, sim_id: int, balance: int
) -> datetime | None:
    """The end of the last Hong Kong day a SIM keeps its number with ``balance`` (minor
    units) — what a monthly-fee top-up's receipt states as its validity; None if it would
    not be active."""
    sim = await sims.get_sim(conn, sim_id=sim_id)
    assert sim is not None
    plan = await sims.get_plan(conn, code=sim.plan_code)
    assert plan is not None
    money = Money(balance, sim.home_currency)
    lapse = lapses_on(line_of(SimAccount(sim, plan, money, Money(0, sim.home_currency))))
    if lapse is None:
        return None
    return datetime.combine(lapse, time(0), HONG_KONG) - timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Entry:
    """A line of a SIM's retention history: a fee charged, owed fees paid, a balance
    forfeited (``amount``), or a change of state (``to_state`` and its ``reason``)."""

    at: datetime
    kind: str  # fee, arrears, forfeit, state
    amount: Money | None = None
    to_state: str | None = None
    reason: str = ""


async def history(conn: AsyncConnection, *, sim_id: int, currency: str) -> list[Entry]:
    """What keeping the number did to a SIM, newest first: the money the run and top-ups
    took for it, from the books, and its state changes."""
    p, j = lt.postings.c, lt.journals.c
    balance_code = chart.sim_balance(sim_id, currency).code
    ids = await ledger.account_ids(conn, codes=[balance_code])
    entries = []
    if balance_code in ids:
        rows = await conn.execute(
            select(j.created_at, j.client_id, p.amount)
            .select_from(lt.postings.join(lt.journals, j.id == p.journal_id))
            .where(
                p.account_id == ids[balance_code],
                j.client_id.like("fee:%")
                | j.client_id.like("arrears:%")
                | j.client_id.like("forfeit:%"),
            )
        )
        entries = [
            Entry(row.created_at, row.client_id.split(":")[0], Money(row.amount, currency))
            for row in rows
        ]
    e = st.events.c
    rows = await conn.execute(
        select(e.at, e.to_state, e.reason).where(e.sim_id == sim_id, e.from_state.is_not(None))
    )
    entries += [Entry(row.at, "state", None, row.to_state, row.reason) for row in rows]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)
