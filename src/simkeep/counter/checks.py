"""Looking a number up at the counter, and checking the holder's ID (docs/outlets.md, "ID
check").

Design overview
---------------
* ``look_up`` shows what the online wrong-number guard shows (``topups.preview_number``:
  masked holder, plan, line state, home currency; unknown and recycled numbers refused) and
  what the counter needs besides: whether the SIM's currency is the outlet's, when the ID
  policy asks for a check, and whether this clerk's last check of this SIM matched within
  ``IdLimits.match_valid``.
* ``check_id`` compares the ID number typed from the document with the SIM's keyed digest
  (``sims.service.id_matches``) and answers match or no match, never what is stored. The
  number's shape is checked first (a typo is not an attempt). Then one upsert counts the
  attempt for the SIM and for the clerk at once, *before* anything is compared; over either
  limit, nothing is compared. A match gives its attempts back, so the limits count failed
  checks. Every check is written to ``id_checks`` and the staff audit log — the type, the
  SIM, the clerk and the result, never the number — in the transaction that counted it.
* A top-up that the policy says needs a check finds the clerk's latest check of the SIM
  with ``recent_match``: it must be a match younger than ``match_valid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.counter import tables as t
from simkeep.counter.model import IdLimits, IdPolicy, TooManyIdChecks, WrongCurrency
from simkeep.counter.shifts import Place, place_of, trading_outlet
from simkeep.db import Database
from simkeep.money import Money
from simkeep.phone import parse_number
from simkeep.sims import service as sims
from simkeep.sims.model import IdType, InvalidIdDocument, Plan, Sim, SimState, normalise_id
from simkeep.staff.audit import Actor, Target, record
from simkeep.staff.service import StaffMember
from simkeep.topups import service as topups
from simkeep.topups.model import NumberNotEligible, UnknownNumber

MAX_ID_TEXT = 40
a = t.id_check_attempts.c


class Scope(StrEnum):
    SIM = "sim"
    CLERK = "clerk"


@dataclass(frozen=True, slots=True)
class Lookup:
    """A number as the counter sees it before a top-up."""

    e164: str
    holder_masked: str
    plan: Plan
    state: SimState
    home_currency: str
    check_from: Money  # a top-up of this much or more needs the ID checked
    matched_until: datetime | None  # this clerk's last check matched; valid until then

    @property
    def always_check(self) -> bool:
        """A suspended SIM's top-ups all need the ID checked."""
        return self.state is SimState.SUSPENDED


class IdDocument(TypedDict):
    """What an ID check takes besides the SIM it checks (``check_id``, and a refund's check
    of its top-up's SIM): the clerk, the document as typed, the digest key and the limits,
    who checks (for the audit log) and when. An entry point builds it once from its form or
    body."""

    clerk: StaffMember
    id_type: str
    id_number: str
    id_key: bytes
    limits: IdLimits
    actor: Actor
    now: datetime


async def look_up(
    db: Database, *, clerk: StaffMember, number: str, policy: IdPolicy, now: datetime
) -> Lookup:
    """What the counter shows of ``number``; unknown, recycled or other-currency SIMs are
    refused."""
    place = place_of(clerk)
    e164 = parse_number(number).e164

    async def read(conn: AsyncConnection) -> Lookup:
        outlet = await trading_outlet(conn, place.outlet_id)
        preview = await topups.preview_number(conn, subscriber_id=None, number=e164)
        sim = await live_sim(conn, e164, outlet.currency)
        matched_at = await recent_match(
            conn, sim_id=sim.id, clerk_id=place.clerk_id, since=now - policy.limits.match_valid
        )
        return Lookup(
            e164=e164,
            holder_masked=preview.holder_masked,
            plan=preview.plan,
            state=sim.state,
            home_currency=sim.home_currency,
            check_from=Money(policy.check_from_minor, outlet.currency),
            matched_until=matched_at + policy.limits.match_valid if matched_at else None,
        )

    return await db.read(read)


async def live_sim(conn: AsyncConnection, e164: str, currency: str) -> Sim:
    """The SIM of ``e164``, refused if unknown, recycled or of another currency."""
    sim = await sims.find_by_number(conn, number=e164)
    if sim is None:
        raise UnknownNumber("no China–Hong Kong SIM has this number: check it")
    if sim.state is SimState.RECYCLED:
        raise NumberNotEligible("this number was recycled and cannot be topped up")
    if sim.home_currency != currency:
        raise WrongCurrency(
            f"this SIM is topped up in {sim.home_currency}; this counter sells {currency}"
        )
    return sim


async def check_id(
    db: Database,
    *,
    clerk: StaffMember,
    number: str,
    id_type: str,
    id_number: str,
    id_key: bytes,
    limits: IdLimits,
    actor: Actor,
    now: datetime,
) -> bool:
    """Whether the ID typed is the SIM's holder's: match or no match, never the number."""
    place = place_of(clerk)
    kind = _id_type(id_type)
    typed = id_number[:MAX_ID_TEXT]
    normalise_id(kind, typed)  # a malformed number is refused before it counts
    e164 = parse_number(number).e164

    async def check(conn: AsyncConnection) -> bool | None:
        outlet = await trading_outlet(conn, place.outlet_id)
        sim = await live_sim(conn, e164, outlet.currency)
        if not await _take_attempts(conn, sim.id, place.clerk_id, limits, now):
            await _audit(conn, actor, sim.id, kind, "limited", now)
            return None
        matched = await sims.id_matches(
            conn, sim_id=sim.id, id_type=kind, id_number=typed, id_key=id_key
        )
        await _record(conn, place, sim.id, kind, matched, actor, now)
        return matched

    matched = await db.transaction(check)
    if matched is None:
        window = int(limits.window.total_seconds() // 60)
        raise TooManyIdChecks(
            f"too many ID checks of this SIM or by you: wait up to {window} minutes"
        )
    return matched


async def recent_match(
    conn: AsyncConnection, *, sim_id: int, clerk_id: int, since: datetime
) -> datetime | None:
    """When this clerk's latest check of this SIM since ``since`` matched; None if it did
    not, or there was none."""
    c = t.id_checks.c
    latest = (
        await conn.execute(
            select(c.matched, c.at)
            .where(c.sim_id == sim_id, c.clerk_id == clerk_id, c.at > since)
            .order_by(c.at.desc(), c.id.desc())
            .limit(1)
        )
    ).first()
    return latest.at if latest is not None and latest.matched else None


def _id_type(text: str) -> IdType:
    try:
        return IdType(text)
    except ValueError:
        raise InvalidIdDocument("choose the type of the ID document") from None


async def _take_attempts(
    conn: AsyncConnection, sim_id: int, clerk_id: int, limits: IdLimits, now: datetime
) -> bool:
    """Count one check for the SIM and one for the clerk, in one statement; False when
    either is now over its limit."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    fresh = now + limits.window
    statement = insert(t.id_check_attempts).values(
        [
            {
                "scope": Scope.SIM.value,
                "subject_id": sim_id,
                "attempts": 1,
                "window_ends_at": fresh,
            },
            {
                "scope": Scope.CLERK.value,
                "subject_id": clerk_id,
                "attempts": 1,
                "window_ends_at": fresh,
            },
        ]
    )
    live = a.window_ends_at > now
    taken = statement.on_conflict_do_update(
        index_elements=["scope", "subject_id"],
        set_={
            "attempts": case((live, a.attempts + 1), else_=1),
            "window_ends_at": case(
                (live, a.window_ends_at), else_=statement.excluded.window_ends_at
            ),
        },
    ).returning(a.scope, a.attempts)
    counts = {str(row.scope): int(row.attempts) for row in await conn.execute(taken)}
    return counts[Scope.SIM] <= limits.per_sim and counts[Scope.CLERK] <= limits.per_clerk


async def _record(
    conn: AsyncConnection,
    place: Place,
    sim_id: int,
    kind: IdType,
    matched: bool,
    actor: Actor,
    now: datetime,
) -> None:
    """Log a check (never the number) in ``id_checks`` and the audit log; a match gives its
    attempts back."""
    await conn.execute(
        t.id_checks.insert().values(
            sim_id=sim_id,
            outlet_id=place.outlet_id,
            clerk_id=place.clerk_id,
            id_type=kind.value,
            matched=matched,
            at=now,
        )
    )
    await _audit(conn, actor, sim_id, kind, "match" if matched else "no_match", now)
    if matched:
        await _give_back(conn, sim_id, place.clerk_id)


async def _give_back(conn: AsyncConnection, sim_id: int, clerk_id: int) -> None:
    """A match is not a failed check: its attempts are given back."""
    await conn.execute(
        update(t.id_check_attempts)
        .where(
            or_(
                and_(a.scope == Scope.SIM.value, a.subject_id == sim_id),
                and_(a.scope == Scope.CLERK.value, a.subject_id == clerk_id),
            ),
            a.attempts > 0,
        )
        .values(attempts=a.attempts - 1)
    )


async def _audit(
    conn: AsyncConnection, actor: Actor, sim_id: int, kind: IdType, result: str, now: datetime
) -> None:
    await record(
        conn,
        actor=actor,
        action="pos.id_check",
        target=Target("sim", sim_id),
        before=None,
        after={"id_type": kind.value, "result": result},
        now=now,
    )
