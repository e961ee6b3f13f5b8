"""An agent's people, on SQLite and PostgreSQL: a clerk works at one of the agent's own
outlets, an agent's user at none; adding either is audited and gives a TOTP secret to
confirm at the first login; the demo's are added once however often it seeds; and the
command line adds both, asking for the password."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from simkeep.cli.main import app
from simkeep.clock import FixedClock
from simkeep.db import Database
from simkeep.outlets import staffing
from simkeep.outlets.model import UnknownAgent, UnknownOutlet
from simkeep.outlets.staffing import Placement
from simkeep.settings import load_settings
from simkeep.staff import audit
from simkeep.staff import service as staff
from simkeep.staff.audit import CLI
from simkeep.staff.model import InvalidStaff, Role
from simkeep.subscribers.model import WeakPassword
from tests.agent_world import SECRETS, Agency, agency, agent_member

PASSWORD = "clerk password 1"
CLERK = ["agents", "add-clerk", "--agent", "GOLDEN", "--outlet"]
USER = ["agents", "add-user", "--agent", "GOLDEN"]


async def add(db: Database, clock: FixedClock, place: Placement, username: str) -> int:
    new = await staffing.add_agent_staff(
        db,
        place=place,
        username=username,
        display_name=username.title(),
        password=PASSWORD,
        actor=CLI,
        now=clock.now(),
    )
    return new.id


async def test_a_clerk_at_an_outlet_and_a_user_of_the_agent(
    db: Database, clock: FixedClock
) -> None:
    a = await agency(db, now=clock.now())
    place = await staffing.placement(db, agent_code="golden", outlet_code="golde-mk")
    assert place == Placement(a.agent_id, a.mong_kok)
    assert place.role is Role.CLERK

    clerk = await add(db, clock, place, "mandy")
    user = await add(db, clock, Placement(a.agent_id), "abby")

    members = {m.username: m for m in await staffing.agent_staff(db, agent_id=a.agent_id)}
    assert set(members) == {"mandy", "abby"}
    assert (members["mandy"].role, members["mandy"].outlet_id) == ("clerk", a.mong_kok)
    assert (members["abby"].role, members["abby"].outlet_id) == ("agent", None)
    assert not members["mandy"].enrolled  # the secret is confirmed at the first login
    log = await db.read(lambda conn: audit.entries(conn, action="staff.add"))
    added = {entry.target.id: entry.after for entry in log}
    assert added[str(clerk)]["outlet_id"] == a.mong_kok
    assert added[str(user)]["agent_id"] == a.agent_id


async def test_a_clerk_only_at_the_agents_own_outlets(db: Database, clock: FixedClock) -> None:
    golden = await agency(db, now=clock.now())
    silver = await agency(db, now=clock.now(), code="SILVER", books=False)

    with pytest.raises(UnknownOutlet):
        await add(db, clock, Placement(golden.agent_id, silver.mong_kok), "mandy")
    with pytest.raises(UnknownOutlet):
        await staffing.placement(db, agent_code="GOLDEN", outlet_code="SILVE-MK")
    with pytest.raises(UnknownOutlet):
        await staffing.placement(db, agent_code="GOLDEN", outlet_code="NOWHERE")
    with pytest.raises(UnknownAgent):
        await staffing.placement(db, agent_code="BRONZE")
    with pytest.raises(UnknownAgent):
        await add(db, clock, Placement(999), "abby")
    with pytest.raises(WeakPassword):
        await staffing.add_agent_staff(
            db,
            place=Placement(golden.agent_id),
            username="abby",
            display_name="Abby",
            password="short",
            actor=CLI,
            now=clock.now(),
        )
    assert await staffing.agent_staff(db, agent_id=golden.agent_id) == []
    await add(db, clock, Placement(golden.agent_id), "abby")
    with pytest.raises(InvalidStaff, match="taken"):
        await add(db, clock, Placement(silver.agent_id), "abby")


async def test_the_demos_people_are_added_once(db: Database, clock: FixedClock) -> None:
    a = await agency(db, now=clock.now())
    first = await agent_member(
        db, "carl", agent_id=a.agent_id, outlet_id=a.mong_kok, now=clock.now()
    )
    again = await agent_member(
        db, "carl", agent_id=a.agent_id, outlet_id=a.mong_kok, now=clock.now()
    )
    assert first == again
    (carl,) = await staffing.agent_staff(db, agent_id=a.agent_id)
    assert carl.enrolled


def test_the_command_line_adds_a_clerk_and_a_user(database_url: str, clock: FixedClock) -> None:
    async def setup() -> Agency:
        db = Database.from_settings(load_settings(database_url=database_url))
        try:
            return await agency(db, now=clock.now())
        finally:
            await db.dispose()

    golden = asyncio.run(setup())
    env = {"SIMKEEP_DATABASE_URL": database_url}
    clerk = CliRunner().invoke(
        app,
        [*CLERK, "GOLDE-SZ", "--username", "lily", "--name", "Lily Chen"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        env=env,
    )
    assert clerk.exit_code == 0, clerk.output
    assert "TOTP secret: " in clerk.output
    assert "otpauth://totp/" in clerk.output
    user = CliRunner().invoke(
        app,
        [*USER, "--username", "abby", "--name", "Abby", "--generate-password"],
        env=env,
    )
    assert user.exit_code == 0, user.output
    assert "Password: " in user.output
    elsewhere = CliRunner().invoke(
        app,
        [*CLERK, "NOPE-1", "--username", "rex", "--name", "Rex", "--generate-password"],
        env=env,
    )
    assert elsewhere.exit_code == 2
    assert "unknown_outlet" in elsewhere.output

    async def members() -> dict[str, tuple[str, int | None]]:
        db = Database.from_settings(load_settings(database_url=database_url))
        try:
            return {m.username: (m.role, m.outlet_id) for m in await staff.list_staff(db)}
        finally:
            await db.dispose()

    found = asyncio.run(members())
    assert found["lily"] == ("clerk", golden.shenzhen)
    assert found["abby"] == ("agent", None)
    assert "rex" not in found
    assert set(SECRETS) >= {"olive", "fiona"}
