"""POS devices on SQLite and PostgreSQL: a token shown once and stored as a digest, speaking
for its clerk until revoked or the clerk is disabled; last use written sparingly; audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import FixedClock
from simkeep.counter import devices
from simkeep.counter import tables as t
from simkeep.counter.model import DeviceError
from simkeep.db import Database
from simkeep.staff import service as staff
from simkeep.staff import tables as st
from simkeep.staff.audit import CLI
from simkeep.subscribers.model import token_digest
from tests.counter_world import place


async def test_a_device_token_speaks_for_its_clerk_and_is_stored_as_a_digest(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())
    new = await devices.issue_device(
        db, staff_id=where.clerk.id, label="Till 1", actor=CLI, now=clock.now()
    )

    member = await devices.authenticate_device(db, token=new.token, now=clock.now())

    assert member is not None
    assert (member.id, member.role, member.outlet_id) == (where.clerk.id, "clerk", where.outlet_id)

    async def stored(conn: AsyncConnection) -> tuple[str, int]:
        digest = (await conn.execute(select(t.devices.c.token_digest))).scalar_one()
        audited = await conn.execute(
            select(func.count()).where(st.audit.c.action == "pos.device_issued")
        )
        return digest, int(audited.scalar_one())

    digest, audited = await db.read(stored)
    assert digest == token_digest(new.token) != new.token
    assert audited == 1
    assert await devices.authenticate_device(db, token=new.token + "x", now=clock.now()) is None


async def test_a_revoked_device_or_a_disabled_clerk_opens_nothing(
    db: Database, clock: FixedClock
) -> None:
    where = await place(db, now=clock.now())
    first = await devices.issue_device(
        db, staff_id=where.clerk.id, label="Till 1", actor=CLI, now=clock.now()
    )
    second = await devices.issue_device(
        db, staff_id=where.clerk.id, label="Till 2", actor=CLI, now=clock.now()
    )

    await devices.revoke_device(db, device_id=first.id, actor=CLI, now=clock.now())

    assert await devices.authenticate_device(db, token=first.token, now=clock.now()) is None
    assert await devices.authenticate_device(db, token=second.token, now=clock.now()) is not None
    with pytest.raises(DeviceError):
        await devices.revoke_device(db, device_id=first.id, actor=CLI, now=clock.now())

    async def disable(conn: AsyncConnection) -> None:
        await conn.execute(
            update(st.members).where(st.members.c.id == where.clerk.id).values(disabled=True)
        )

    await db.transaction(disable)
    assert await devices.authenticate_device(db, token=second.token, now=clock.now()) is None


async def test_only_a_clerk_or_an_agent_gets_a_device(db: Database, clock: FixedClock) -> None:
    operator = await staff.add_staff(
        db,
        username="olive",
        display_name="Olive",
        role="operator",
        password="operator password",
        actor=CLI,
        now=clock.now(),
    )
    with pytest.raises(DeviceError):
        await devices.issue_device(
            db, staff_id=operator.id, label="Till", actor=CLI, now=clock.now()
        )
    with pytest.raises(DeviceError):
        await devices.member_id(db, username="nobody")


async def test_last_use_is_written_once_per_few_minutes(db: Database, clock: FixedClock) -> None:
    where = await place(db, now=clock.now())
    new = await devices.issue_device(
        db, staff_id=where.clerk.id, label="Till 1", actor=CLI, now=clock.now()
    )
    first = clock.now()

    await devices.authenticate_device(db, token=new.token, now=first)
    await devices.authenticate_device(db, token=new.token, now=first + timedelta(minutes=1))
    [row] = await devices.list_devices(db, staff_id=where.clerk.id)
    assert row.last_used_at == first

    later = first + devices.TOUCH_EVERY + timedelta(seconds=1)
    await devices.authenticate_device(db, token=new.token, now=later)
    [row] = await devices.list_devices(db, staff_id=where.clerk.id)
    assert row.last_used_at == later
