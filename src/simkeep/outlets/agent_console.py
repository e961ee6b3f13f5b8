"""What the pages about agents read, each in one call: the operator's list of agents, an
agent's page and the deposits queue (``/staff/agents``), an agent's own page (``/agent``),
and what its own systems read (``/api/v1/agent``: floats, sales, shifts).

Design overview
---------------
Each function gathers one page's read models — the agent and its outlets (``outlets``),
its books and deposits (``floats``), its people (``staffing``), its counters' shifts and
sales of a Hong Kong day (``counter.reports``) — so a route calls one function and
renders. Members of staff are named by username where a page shows who made or checked a
deposit, or who ran a shift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import reports
from simkeep.counter.reports import OutletTotals, SalesPage, ShiftReport
from simkeep.db import Database
from simkeep.outlets import floats, staffing
from simkeep.outlets import service as outlets
from simkeep.outlets.float_model import DepositState
from simkeep.outlets.floats import AgentBook, AgentSummary, FloatDeposit
from simkeep.outlets.model import Agent, Outlet, UnknownAgent, UnknownOutlet
from simkeep.staff import service as staff
from simkeep.staff.service import StaffAccount

RECENT_DEPOSITS = 20


@dataclass(frozen=True, slots=True)
class AgentsPage:
    agents: list[AgentSummary]
    pending: int  # deposits waiting for a checker


@dataclass(frozen=True, slots=True)
class AgentPage:
    agent: Agent
    books: list[AgentBook]
    outlets: list[Outlet]
    deposits: list[FloatDeposit]
    members: list[StaffAccount]
    totals: dict[int, OutletTotals]  # the day's sales by outlet id
    usernames: dict[int, str]


@dataclass(frozen=True, slots=True)
class DepositsQueue:
    pending: list[FloatDeposit]
    recent: list[FloatDeposit]  # checked already, newest first
    agents: dict[int, Agent]
    usernames: dict[int, str]


@dataclass(frozen=True, slots=True)
class AgentHome:
    """An agent's own page: its outlets, money, and the day's shifts and sales."""

    agent: Agent
    books: list[AgentBook]
    outlets: list[Outlet]
    deposits: list[FloatDeposit]
    totals: dict[int, OutletTotals]
    shifts: list[ShiftReport]
    usernames: dict[int, str]


async def agents_page(db: Database) -> AgentsPage:
    """Every agent with its books and outlets, and how many deposits wait."""

    async def read(conn: AsyncConnection) -> AgentsPage:
        pending = await floats.deposits(conn, state=DepositState.PENDING, limit=200)
        return AgentsPage(await floats.overview(conn), len(pending))

    return await db.read(read)


async def agent_page(db: Database, *, code: str, day: date) -> AgentPage:
    """An agent by code: books, outlets (with the day's sales), deposits and people."""

    async def read(conn: AsyncConnection) -> tuple[Agent, list[Outlet], list[FloatDeposit]]:
        agent = await outlets.agent_by_code(conn, code=code)
        if agent is None:
            raise UnknownAgent(f"no agent has the code {code[:20]!r}")
        shops = await floats.agent_outlets(conn, agent_id=agent.id)
        found = await floats.deposits(conn, agent_id=agent.id, limit=RECENT_DEPOSITS)
        return agent, shops, found

    agent, shops, found = await db.read(read)
    sold = {shop.currency for shop in shops}
    return AgentPage(
        agent=agent,
        books=await db.read(lambda conn: floats.books(conn, agent=agent, currencies=sold)),
        outlets=shops,
        deposits=found,
        members=await staffing.agent_staff(db, agent_id=agent.id),
        totals=await _totals(db, agent.id, day),
        usernames=await _usernames(db),
    )


async def deposits_queue(db: Database) -> DepositsQueue:
    """The deposits waiting for a checker, oldest first, and the last ones checked."""

    async def read(conn: AsyncConnection) -> DepositsQueue:
        pending = await floats.deposits(conn, state=DepositState.PENDING, limit=200)
        recent = [
            deposit
            for deposit in await floats.deposits(conn, limit=RECENT_DEPOSITS * 2)
            if deposit.state is not DepositState.PENDING
        ][:RECENT_DEPOSITS]
        agents = {agent.id: agent for agent in await outlets.list_agents(conn)}
        return DepositsQueue(pending[::-1], recent, agents, {})

    queue = await db.read(read)
    return DepositsQueue(queue.pending, queue.recent, queue.agents, await _usernames(db))


async def agent_home(db: Database, *, agent_id: int, day: date) -> AgentHome:
    """The agent's own page: outlets, books, recent deposits, and a day's shifts and sales."""

    async def read(conn: AsyncConnection) -> AgentHome:
        agent = await outlets.get_agent(conn, agent_id=agent_id)
        if agent is None:
            raise UnknownAgent(f"no agent {agent_id}")
        shops = await floats.agent_outlets(conn, agent_id=agent_id)
        sold = {shop.currency for shop in shops}
        return AgentHome(
            agent=agent,
            books=await floats.books(conn, agent=agent, currencies=sold),
            outlets=shops,
            deposits=await floats.deposits(conn, agent_id=agent_id, limit=RECENT_DEPOSITS),
            totals=await _totals_in(conn, agent_id, day),
            shifts=await reports.shifts_of_day(
                conn, outlet_ids=[shop.id for shop in shops], day=day
            ),
            usernames={},
        )

    home = await db.read(read)
    clerks = {m.id: m.display_name for m in await staffing.agent_staff(db, agent_id=agent_id)}
    return AgentHome(
        home.agent, home.books, home.outlets, home.deposits, home.totals, home.shifts, clerks
    )


@dataclass(frozen=True, slots=True)
class AgentFloats:
    agent: Agent
    books: list[AgentBook]


@dataclass(frozen=True, slots=True)
class AgentSales:
    page: SalesPage
    totals: list[OutletTotals]
    outlets: dict[int, Outlet]


@dataclass(frozen=True, slots=True)
class AgentShifts:
    shifts: list[ShiftReport]
    outlets: dict[int, Outlet]
    clerks: dict[int, str]  # usernames by id


async def agent_floats(db: Database, *, agent_id: int) -> AgentFloats:
    """The agent and its books (its own systems' API)."""

    async def read(conn: AsyncConnection) -> AgentFloats:
        agent = await outlets.get_agent(conn, agent_id=agent_id)
        if agent is None:
            raise UnknownAgent(f"no agent {agent_id}")
        return AgentFloats(agent, await floats.agent_books(conn, agent_id=agent_id))

    return await db.read(read)


async def agent_sales(
    db: Database,
    *,
    agent_id: int,
    day: date,
    outlet_code: str | None,
    after: int | None,
    limit: int,
) -> AgentSales:
    """A page of the agent's sales of a day and their totals per outlet, at one of its
    outlets (by code: ``UnknownOutlet`` if it is not one of the agent's) or at all."""

    async def read(conn: AsyncConnection) -> AgentSales:
        shops = await _own_outlets(conn, agent_id, outlet_code)
        only = next(iter(shops)) if outlet_code else None
        page = await reports.sales_of_day(
            conn, agent_id=agent_id, day=day, outlet_id=only, after=after, limit=limit
        )
        totals = await reports.totals_of_day(conn, agent_id=agent_id, day=day, outlet_id=only)
        return AgentSales(page, totals, shops)

    return await db.read(read)


async def agent_shifts(
    db: Database, *, agent_id: int, day: date, outlet_code: str | None
) -> AgentShifts:
    """The shifts opened on a day at the agent's outlets (or at one, by code)."""

    async def read(conn: AsyncConnection) -> AgentShifts:
        shops = await _own_outlets(conn, agent_id, outlet_code)
        shifts = await reports.shifts_of_day(conn, outlet_ids=list(shops), day=day)
        return AgentShifts(shifts, shops, {})

    found = await db.read(read)
    clerks = {m.id: m.username for m in await staffing.agent_staff(db, agent_id=agent_id)}
    return AgentShifts(found.shifts, found.outlets, clerks)


async def _own_outlets(
    conn: AsyncConnection, agent_id: int, outlet_code: str | None
) -> dict[int, Outlet]:
    shops = {shop.id: shop for shop in await floats.agent_outlets(conn, agent_id=agent_id)}
    if outlet_code is None:
        return shops
    chosen = {key: shop for key, shop in shops.items() if shop.code == outlet_code}
    if not chosen:
        raise UnknownOutlet(f"the agent has no outlet {outlet_code[:20]!r}")
    return chosen


async def _totals(db: Database, agent_id: int, day: date) -> dict[int, OutletTotals]:
    return await db.read(lambda conn: _totals_in(conn, agent_id, day))


async def _totals_in(conn: AsyncConnection, agent_id: int, day: date) -> dict[int, OutletTotals]:
    found = await reports.totals_of_day(conn, agent_id=agent_id, day=day)
    return {totals.outlet_id: totals for totals in found}


async def _usernames(db: Database) -> dict[int, str]:
    return {member.id: member.username for member in await staff.list_staff(db)}
