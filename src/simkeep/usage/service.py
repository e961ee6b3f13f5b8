"""Usage use cases: a line's state and barring for the network, and charging a batch of
usage records.

Design overview
---------------
``charge_batch`` takes a batch of records as the network sent them and answers one outcome
per record, in order: ``charged``, ``unpaid`` (partly or wholly), ``duplicate`` (sent
before, by this client: its first outcome, nothing charged again) or ``refused`` (a code
and a message). Each record is checked alone first (``model.parse_record``), so a malformed
one is refused and the others go on; the valid ones are charged together in one
transaction (``charging``): a batch that fails rolls back whole, and sent again is charged
once. ``line_state`` tells the network a line's state and what to bar on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.phone import parse_number
from simkeep.sims import service as sims
from simkeep.sims.model import SimState
from simkeep.usage import charging
from simkeep.usage.model import Barring, Charge, Record, Refused, barring, parse_record

RACED_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    """One record's answer: ``charge`` for charged, unpaid and duplicate; ``refused`` else."""

    index: int
    record_id: str | None
    status: str
    charge: Charge | None = None
    refused: Refused | None = None


@dataclass(frozen=True, slots=True)
class LineState:
    number: str
    sim_id: int
    state: SimState
    plan_code: str
    barring: Barring


async def line_state(conn: AsyncConnection, *, number: str) -> LineState | None:
    """A line's state and barring (``number`` in any usual spelling); None for an unknown
    number or a recycled SIM's."""
    e164 = parse_number(number).e164
    sim = await sims.find_by_number(conn, number=e164)
    if sim is None or sim.state is SimState.RECYCLED:
        return None
    return LineState(e164, sim.id, sim.state, sim.plan_code, barring(sim.state))


async def charge_batch(
    db: Database, *, client_id: int, records: Sequence[object], now: datetime
) -> list[Outcome]:
    """Charge a batch of usage records, once per record id; one outcome per record."""
    parsed = [parse_record(raw, now=now) for raw in records]
    valid = [(index, found) for index, found in enumerate(parsed) if isinstance(found, Record)]
    answers: dict[int, charging.Answer] = {
        index: found for index, found in enumerate(parsed) if isinstance(found, Refused)
    }
    for attempt in range(1, RACED_ATTEMPTS + 1):
        if not valid:
            break
        try:
            answers |= await db.transaction(
                lambda conn: charging.charge(conn, client_id=client_id, valid=valid, now=now)
            )
            break
        except charging.Raced:
            if attempt == RACED_ATTEMPTS:
                raise
    return [_outcome(index, records[index], answers[index]) for index in range(len(records))]


def _outcome(index: int, raw: object, answer: charging.Answer) -> Outcome:
    record_id = raw.get("id") if isinstance(raw, dict) else None
    shown = record_id[:64] if isinstance(record_id, str) else None
    if isinstance(answer, Refused):
        return Outcome(index, shown, "refused", refused=answer)
    status, charge = answer
    return Outcome(index, shown, status, charge)
