"""An agent's people: its own users (role ``agent``) and the clerks at its outlets (``clerk``).

Design overview
---------------
Adding one checks where they will work first — the agent exists, and a clerk's outlet is
one of that agent's (``outlets.service.get_outlet``) — then adds the member of staff through
``staff.accounts.add_staff`` with ``agent_id`` and ``outlet_id``, which records it in the
audit log. The new member gets a TOTP secret, shown once to whoever adds them (the console
page, the command line) and confirmed at their first login; the demo's are enrolled
already (``ensure_member``). ``agent_staff`` lists an agent's people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.outlets import service as outlets
from simkeep.outlets.model import UnknownAgent, UnknownOutlet
from simkeep.staff import service as staff
from simkeep.staff.audit import Actor
from simkeep.staff.model import Role
from simkeep.staff.service import NewStaff, StaffAccount


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a member of an agent's staff works: the agent, and a clerk's outlet."""

    agent_id: int
    outlet_id: int | None = None

    @property
    def role(self) -> Role:
        return Role.AGENT if self.outlet_id is None else Role.CLERK


async def placement(db: Database, *, agent_code: str, outlet_code: str | None = None) -> Placement:
    """The agent (and its outlet) by code, checked to belong together."""

    async def read(conn: AsyncConnection) -> Placement:
        agent = await outlets.agent_by_code(conn, code=agent_code.strip().upper())
        if agent is None:
            raise UnknownAgent(f"no agent has the code {agent_code[:20]!r}")
        if outlet_code is None:
            return Placement(agent.id)
        outlet = await outlets.outlet_by_code(conn, code=outlet_code.strip().upper())
        if outlet is None:
            raise UnknownOutlet(f"no outlet has the code {outlet_code[:20]!r}")
        return await _checked(conn, Placement(agent.id, outlet.id))

    return await db.read(read)


async def _checked(conn: AsyncConnection, place: Placement) -> Placement:
    if await outlets.get_agent(conn, agent_id=place.agent_id) is None:
        raise UnknownAgent(f"no agent {place.agent_id}")
    if place.outlet_id is not None:
        outlet = await outlets.get_outlet(conn, outlet_id=place.outlet_id)
        if outlet is None or outlet.agent_id != place.agent_id:
            raise UnknownOutlet("a clerk works at one of the agent's own outlets")
    return place


async def add_agent_staff(
    db: Database,
    *,
    place: Placement,
    username: str,
    display_name: str,
    password: str,
    actor: Actor,
    now: datetime,
) -> NewStaff:
    """A user of the agent (no outlet) or a clerk at one of its outlets, with a new TOTP secret
    to be confirmed at the first login (audited)."""
    await db.read(lambda conn: _checked(conn, place))
    return await staff.add_staff(
        db,
        username=username,
        display_name=display_name,
        role=place.role.value,
        password=password,
        actor=actor,
        now=now,
        agent_id=place.agent_id,
        outlet_id=place.outlet_id,
    )


async def ensure_member(
    db: Database,
    *,
    place: Placement,
    username: str,
    display_name: str,
    password: str,
    totp_secret: str,
    actor: Actor,
    now: datetime,
) -> int:
    """The member with ``username``; added there, enrolled with ``totp_secret``, if there is
    none (the demo's: seeding again changes nothing)."""
    await db.read(lambda conn: _checked(conn, place))
    return await staff.ensure_staff(
        db,
        username=username,
        display_name=display_name,
        role=place.role.value,
        password=password,
        totp_secret=totp_secret,
        actor=actor,
        now=now,
        agent_id=place.agent_id,
        outlet_id=place.outlet_id,
    )


async def agent_staff(db: Database, *, agent_id: int) -> list[StaffAccount]:
    """The agent's users and clerks, by username."""
    return [member for member in await staff.list_staff(db) if member.agent_id == agent_id]
