"""Staff accounts: adding a member of staff (audited), the demo's, and the list.

Design overview
---------------
A new member gets a TOTP secret (new, or the demo's) that is confirmed at their first login,
unless it is given as ``enrolled`` — the demo's, whose secrets are printed for testers.
Adding is recorded in the audit log in the same transaction. The password is hashed with
the subscribers' argon2id rule before the transaction opens (it takes ~50 ms).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.staff import tables as t
from simkeep.staff.audit import Actor, Target, record
from simkeep.staff.model import (
    InvalidStaff,
    check_display_name,
    check_placement,
    check_role,
    check_totp_secret,
    check_username,
    new_totp_secret,
    provisioning_uri,
)
from simkeep.subscribers.model import hash_password


@dataclass(frozen=True, slots=True)
class StaffAccount:
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    enrolled: bool
    created_at: datetime
    last_login_at: datetime | None
    agent_id: int | None = None  # an agent's or a clerk's company
    outlet_id: int | None = None  # a clerk's outlet


@dataclass(frozen=True, slots=True)
class NewStaff:
    id: int
    username: str
    totp_secret: str
    totp_uri: str


async def add_staff(
    db: Database,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    actor: Actor,
    now: datetime,
    totp_secret: str | None = None,
    enrolled: bool = False,
    agent_id: int | None = None,
    outlet_id: int | None = None,
) -> NewStaff:
    """Create a member of staff with a new TOTP secret (or the one given: the demo's), to be
    confirmed at their first login — or ``enrolled`` already, the secret being in their
    authenticator (the demo's, printed for testers). An agent's staff name their company
    (``agent_id``), a clerk also their outlet; the caller has checked the two belong."""
    name = check_username(username)
    secret = check_totp_secret(totp_secret or new_totp_secret())
    checked_role = check_role(role)
    check_placement(checked_role, agent_id=agent_id, outlet_id=outlet_id)
    values = {
        "username": name,
        "display_name": check_display_name(display_name),
        "role": checked_role.value,
        "agent_id": agent_id,
        "outlet_id": outlet_id,
        "totp_secret": secret,
        "totp_confirmed_at": now if enrolled else None,
        "created_at": now,
    }
    password_hash = await asyncio.to_thread(hash_password, password)

    async def create(conn: AsyncConnection) -> int:
        try:
            inserted = await conn.execute(
                t.members.insert()
                .values(**values, password_hash=password_hash)
                .returning(t.members.c.id)
            )
        except IntegrityError as error:
            raise InvalidStaff(f"the username {name!r} is taken") from error
        staff_id = int(inserted.scalar_one())
        shown = ("username", "display_name", "role", "agent_id", "outlet_id")
        after = {key: values[key] for key in shown if values[key] is not None}
        await record(
            conn,
            actor=actor,
            action="staff.add",
            target=Target("staff", staff_id),
            before=None,
            after=after,
            now=now,
        )
        return staff_id

    staff_id = await db.transaction(create)
    return NewStaff(staff_id, name, secret, provisioning_uri(secret, name))


async def ensure_staff(
    db: Database,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    totp_secret: str,
    actor: Actor,
    now: datetime,
    agent_id: int | None = None,
    outlet_id: int | None = None,
) -> int:
    """The member with ``username``; added, enrolled with ``totp_secret``, if there is none
    (demo data: seeding again changes nothing)."""

    async def existing(conn: AsyncConnection) -> int | None:
        query = select(t.members.c.id).where(t.members.c.username == check_username(username))
        found = (await conn.execute(query)).scalar()
        return None if found is None else int(found)

    found = await db.read(existing)
    if found is not None:
        return found
    new = await add_staff(
        db,
        username=username,
        display_name=display_name,
        role=role,
        password=password,
        actor=actor,
        now=now,
        totp_secret=totp_secret,
        enrolled=True,
        agent_id=agent_id,
        outlet_id=outlet_id,
    )
    return new.id


async def list_staff(db: Database) -> list[StaffAccount]:
    """Every member of staff, by username."""

    async def read(conn: AsyncConnection) -> list[StaffAccount]:
        m = t.members.c
        rows = await conn.execute(select(t.members).order_by(m.username))
        return [
            StaffAccount(
                id=row.id,
                username=row.username,
                display_name=row.display_name,
                role=row.role,
                disabled=bool(row.disabled),
                enrolled=row.totp_confirmed_at is not None,
                created_at=row.created_at,
                last_login_at=row.last_login_at,
                agent_id=row.agent_id,
                outlet_id=row.outlet_id,
            )
            for row in rows
        ]

    return await db.read(read)
