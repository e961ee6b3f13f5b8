"""POS devices: a bearer token per device, bound to one member of staff.

Design overview
---------------
A device (a counter's tablet, or an agent's own system) gets a random token, shown once
when it is issued; only its SHA-256 digest is stored, so a stolen database opens no
counter. The token belongs to one member of staff — a clerk (the POS API) or an agent (the
agent's API) — and speaks for them while the member is enabled and the device is not
revoked. Issuing and revoking are recorded in the staff audit log, in the transaction that
makes the change. ``authenticate_device`` is a read on every request; it writes
``last_used_at`` only when the stored time is older than ``TOUCH_EVERY``, so a busy device
does not write a row per request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import tables as t
from simkeep.counter.model import DeviceError, check_label
from simkeep.db import Database
from simkeep.staff import service as staff
from simkeep.staff.audit import Actor, Target, record
from simkeep.staff.model import Role
from simkeep.staff.service import StaffMember
from simkeep.subscribers.model import token_digest

DEVICE_MARK = "skd_"  # the start of every device token
TOUCH_EVERY = timedelta(minutes=5)
MAX_TOKEN = 128
DEVICE_ROLES = frozenset({Role.CLERK.value, Role.AGENT.value})


@dataclass(frozen=True, slots=True)
class NewDevice:
    id: int
    token: str  # shown once


@dataclass(frozen=True, slots=True)
class Device:
    """A live device and the member of staff it speaks for."""

    id: int
    member: StaffMember


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: int
    staff_id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def issue_device(
    db: Database, *, staff_id: int, label: str, actor: Actor, now: datetime
) -> NewDevice:
    """Give a clerk's or an agent's device a new token (returned once, stored as a digest)."""
    name = check_label(label)
    token = DEVICE_MARK + secrets.token_urlsafe(32)

    async def issue(conn: AsyncConnection) -> int:
        member = await staff.find_member(conn, staff_id=staff_id)
        if member is None or member.role not in DEVICE_ROLES:
            raise DeviceError("a device belongs to an enabled clerk or agent")
        inserted = await conn.execute(
            t.devices.insert()
            .values(staff_id=staff_id, label=name, token_digest=token_digest(token), created_at=now)
            .returning(t.devices.c.id)
        )
        device_id = int(inserted.scalar_one())
        after = {"staff_id": staff_id, "label": name}
        target = Target("pos_device", device_id)
        await record(
            conn,
            actor=actor,
            action="pos.device_issued",
            target=target,
            before=None,
            after=after,
            now=now,
        )
        return device_id

    return NewDevice(await db.transaction(issue), token)


async def member_id(db: Database, *, username: str) -> int:
    """The id of the enabled member of staff with ``username`` (the command line's)."""
    found = await db.read(lambda conn: staff.find_member(conn, username=username))
    if found is None:
        raise DeviceError(f"no enabled member of staff is called {username!r}")
    return found.id


async def revoke_device(db: Database, *, device_id: int, actor: Actor, now: datetime) -> None:
    """Revoke a device: its token opens nothing from now on."""

    async def revoke(conn: AsyncConnection) -> None:
        c = t.devices.c
        done = await conn.execute(
            update(t.devices)
            .where(c.id == device_id, c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if done.rowcount != 1:
            raise DeviceError(f"no device {device_id} that is not revoked already")
        target = Target("pos_device", device_id)
        await record(
            conn,
            actor=actor,
            action="pos.device_revoked",
            target=target,
            before={"revoked": False},
            after={"revoked": True},
            now=now,
        )

    await db.transaction(revoke)


async def device_for_token(db: Database, *, token: str, now: datetime) -> Device | None:
    """The live device of a bearer token and its member of staff, or None."""
    if not token.startswith(DEVICE_MARK) or len(token) > MAX_TOKEN:
        return None
    c = t.devices.c
    query = select(c.id, c.staff_id, c.last_used_at).where(
        c.token_digest == token_digest(token), c.revoked_at.is_(None)
    )

    async def read(conn: AsyncConnection) -> tuple[Device | None, datetime | None]:
        row = (await conn.execute(query)).first()
        if row is None:
            return None, None
        member = await staff.find_member(conn, staff_id=row.staff_id)
        if member is None or member.role not in DEVICE_ROLES:
            return None, None
        return Device(row.id, member), row.last_used_at

    device, last_used = await db.read(read)
    if device is not None and (last_used is None or last_used < now - TOUCH_EVERY):
        await db.one_statement(lambda conn: _touch(conn, device.id, now))
    return device


async def authenticate_device(db: Database, *, token: str, now: datetime) -> StaffMember | None:
    """The member of staff a device's token speaks for; None if revoked, unknown or disabled."""
    device = await device_for_token(db, token=token, now=now)
    return None if device is None else device.member


async def list_devices(db: Database, *, staff_id: int | None = None) -> list[DeviceRow]:
    """The devices (of one member, or everyone's), newest first."""
    query = select(t.devices).order_by(t.devices.c.id.desc())
    if staff_id is not None:
        query = query.where(t.devices.c.staff_id == staff_id)

    async def read(conn: AsyncConnection) -> list[DeviceRow]:
        rows = await conn.execute(query)
        return [
            DeviceRow(r.id, r.staff_id, r.label, r.created_at, r.last_used_at, r.revoked_at)
            for r in rows
        ]

    return await db.read(read)


async def _touch(conn: AsyncConnection, device_id: int, now: datetime) -> None:
    c = t.devices.c
    stale = or_(c.last_used_at.is_(None), c.last_used_at < now - TOUCH_EVERY)
    await conn.execute(update(t.devices).where(c.id == device_id, stale).values(last_used_at=now))
