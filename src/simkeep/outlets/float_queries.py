"""Read models of agents' money: deposits, each agent's books per currency, the agents'
overview and an agent's outlets (re-exported by ``floats``).

Design overview
---------------
Balances come from the ledger (``ledger.get_balance``: constant time whatever the history),
the account ids of all the agents at once (``ledger.account_ids``). A currency an agent sells
in (one of its outlets') shows a float of zero until its first deposit opens the accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.ledger import chart
from simkeep.ledger import service as ledger
from simkeep.ledger.chart import CURRENCIES
from simkeep.money import Money
from simkeep.outlets import service as outlets
from simkeep.outlets import tables as t
from simkeep.outlets.float_model import DepositState, UnknownDeposit, floor_of
from simkeep.outlets.model import Agent, Outlet, UnknownAgent

MAX_DEPOSITS = 200


@dataclass(frozen=True, slots=True)
class FloatDeposit:
    id: int
    agent_id: int
    amount: Money
    reference: str
    state: DepositState
    made_by: int
    made_at: datetime
    checked_by: int | None
    checked_at: datetime | None
    journal_id: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class AgentBook:
    """An agent's money in one currency: its float, how far below zero it may go, and the
    commission the operator owes it."""

    currency: str
    float: Money
    floor: Money
    commission: Money


@dataclass(frozen=True, slots=True)
class AgentSummary:
    agent: Agent
    outlets: int
    books: list[AgentBook]


async def books(conn: AsyncConnection, *, agent: Agent, currencies: set[str]) -> list[AgentBook]:
    """The agent's float, floor and commission payable in each currency of ``currencies`` or
    with an account open, by currency (zero where no account is open yet)."""
    return (await _books(conn, [agent], {agent.id: currencies}))[agent.id]


async def agent_books(conn: AsyncConnection, *, agent_id: int) -> list[AgentBook]:
    """The books of one agent, in each currency its outlets sell in or it has a float in."""
    agent = await outlets.get_agent(conn, agent_id=agent_id)
    if agent is None:
        raise UnknownAgent(f"no agent {agent_id}")
    sold = {outlet.currency for outlet in await agent_outlets(conn, agent_id=agent_id)}
    return await books(conn, agent=agent, currencies=sold)


async def overview(conn: AsyncConnection) -> list[AgentSummary]:
    """Every agent by code, with how many outlets it has and its books."""
    agents = await outlets.list_agents(conn)
    o = t.outlets.c
    counted = await conn.execute(
        select(o.agent_id, o.currency, func.count().label("n")).group_by(o.agent_id, o.currency)
    )
    sold: dict[int, set[str]] = {agent.id: set() for agent in agents}
    counts: dict[int, int] = {agent.id: 0 for agent in agents}
    for row in counted:
        sold.setdefault(row.agent_id, set()).add(row.currency)
        counts[row.agent_id] = counts.get(row.agent_id, 0) + int(row.n)
    found = await _books(conn, agents, sold)
    return [AgentSummary(agent, counts[agent.id], found[agent.id]) for agent in agents]


async def _books(
    conn: AsyncConnection, agents: list[Agent], sold: dict[int, set[str]]
) -> dict[int, list[AgentBook]]:
    codes = {
        (agent.id, currency): (
            chart.agent_float(agent.id, currency).code,
            chart.agent_commission(agent.id, currency).code,
        )
        for agent in agents
        for currency in CURRENCIES
    }
    ids = await ledger.account_ids(conn, codes=[code for pair in codes.values() for code in pair])
    found: dict[int, list[AgentBook]] = {agent.id: [] for agent in agents}
    for agent in agents:
        for currency in CURRENCIES:
            float_code, commission_code = codes[(agent.id, currency)]
            if currency not in sold.get(agent.id, set()) and float_code not in ids:
                continue
            book = AgentBook(
                currency=currency,
                float=await _posted(conn, ids.get(float_code), currency),
                floor=Money(floor_of(agent.credit_limit_minor), currency),
                commission=await _posted(conn, ids.get(commission_code), currency),
            )
            found[agent.id].append(book)
    return found


async def _posted(conn: AsyncConnection, account_id: int | None, currency: str) -> Money:
    if account_id is None:
        return Money.zero(currency)
    return (await ledger.get_balance(conn, account_id=account_id)).money()


async def agent_outlets(conn: AsyncConnection, *, agent_id: int) -> list[Outlet]:
    """The agent's outlets, by code."""
    query = select(t.outlets).where(t.outlets.c.agent_id == agent_id).order_by(t.outlets.c.code)
    return [outlets.outlet_of_row(row) for row in (await conn.execute(query)).mappings()]


async def deposits(
    conn: AsyncConnection,
    *,
    agent_id: int | None = None,
    state: DepositState | None = None,
    limit: int = 50,
) -> list[FloatDeposit]:
    """Deposits newest first: an agent's, or in one state (the queue: pending)."""
    c = t.float_deposits.c
    query = select(t.float_deposits).order_by(c.id.desc()).limit(max(1, min(limit, MAX_DEPOSITS)))
    if agent_id is not None:
        query = query.where(c.agent_id == agent_id)
    if state is not None:
        query = query.where(c.state == state.value)
    return [_deposit_of(row) for row in await conn.execute(query)]


async def get_deposit(conn: AsyncConnection, *, deposit_id: int) -> FloatDeposit:
    """One deposit; ``UnknownDeposit`` if there is none."""
    query = select(t.float_deposits).where(t.float_deposits.c.id == deposit_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise UnknownDeposit(f"no deposit {deposit_id}")
    return _deposit_of(row)


def _deposit_of(row: Row[Any]) -> FloatDeposit:
    return FloatDeposit(
        id=row.id,
        agent_id=row.agent_id,
        amount=Money(row.amount_minor, row.currency),
        reference=row.reference,
        state=DepositState(row.state),
        made_by=row.made_by,
        made_at=row.made_at,
        checked_by=row.checked_by,
        checked_at=row.checked_at,
        journal_id=row.journal_id,
        reason=row.reason,
    )
