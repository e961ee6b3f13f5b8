"""The audit log: every staff action, recorded in the transaction of the change it records.

Design overview
---------------
``record(conn, …)`` is the one way to write the log, and it takes the connection of the
transaction that makes the change, so a change and its record commit together or not at
all. An entry names who (``Actor``: a member of staff and where they came from — the
client's IP address, or ``cli``), the action (a dotted word: ``plan.update``,
``staff.add``), the target (``Target``: a type and an id) and the target before and after,
as JSON (``None`` when there was nothing before, or is nothing after). The table is
append-only: the database refuses UPDATE and DELETE (migration 0011). ``entries`` reads it
newest first, filtered by member of staff and action, a page at a time.

Adding an audited change to a staff page::

    async def change(conn: AsyncConnection) -> None:
        before, after = await plans.update_plan(conn, ...)
        await audit.record(conn, actor=staff.actor, action="plan.update",
                           target=Target("plan", code), before=before, after=after, now=now)

    await services.db.transaction(change)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.staff import tables as t

MAX_ORIGIN = 64


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a member of staff (None for the command line) and from where."""

    staff_id: int | None
    origin: str


CLI = Actor(None, "cli")


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    id: str | int


@dataclass(frozen=True, slots=True)
class Change:
    field: str  # dotted for a nested value: names.name_en
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at: datetime
    staff_id: int | None
    username: str | None
    origin: str
    action: str
    target: Target
    before: Any
    after: Any

    def changes(self) -> list[Change]:
        """The fields whose value differs between before and after, by name."""
        before, after = flat(self.before), flat(self.after)
        return [
            Change(field, before.get(field), after.get(field))
            for field in sorted(before.keys() | after.keys())
            if before.get(field) != after.get(field)
        ]


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A snapshot's values by dotted field name (``{"names": {"en": …}}`` → ``names.en``)."""
    if not isinstance(value, dict):
        return {} if value is None and not prefix else {prefix: value}
    fields: dict[str, Any] = {}
    for key, item in value.items():
        fields.update(flat(item, f"{prefix}.{key}" if prefix else str(key)))
    return fields


def as_json(value: Mapping[str, Any] | None) -> Any:
    """A snapshot as JSON holds it: dates and other values as text."""
    return None if value is None else json.loads(json.dumps(value, default=str))


async def record(
    conn: AsyncConnection,
    *,
    actor: Actor,
    action: str,
    target: Target,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    now: datetime,
) -> None:
    """Record one staff action, in the caller's transaction."""
    await conn.execute(
        t.audit.insert().values(
            at=now,
            staff_id=actor.staff_id,
            origin=actor.origin[:MAX_ORIGIN],
            action=action,
            target_type=target.type,
            target_id=str(target.id),
            before=as_json(before),
            after=as_json(after),
        )
    )


async def entries(
    conn: AsyncConnection,
    *,
    staff_id: int | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Entry]:
    """The log newest first, by member of staff and action, older than ``before_id``."""
    query = (
        select(t.audit, t.members.c.username)
        .join(t.members, t.members.c.id == t.audit.c.staff_id, isouter=True)
        .order_by(t.audit.c.id.desc())
        .limit(limit)
    )
    if staff_id is not None:
        query = query.where(t.audit.c.staff_id == staff_id)
    if action:
        query = query.where(t.audit.c.action == action)
    if before_id is not None:
        query = query.where(t.audit.c.id < before_id)
    rows = await conn.execute(query)
    return [
        Entry(
            id=row.id,
            at=row.at,
            staff_id=row.staff_id,
            username=row.username,
            origin=row.origin,
            action=row.action,
            target=Target(row.target_type, row.target_id),
            before=row.before,
            after=row.after,
        )
        for row in rows
    ]


async def actions(conn: AsyncConnection) -> list[str]:
    """Every action the log holds, for the filter."""
    rows = await conn.execute(select(t.audit.c.action).distinct().order_by(t.audit.c.action))
    return [str(action) for action in rows.scalars()]
