"""The operator's outlets and agents as CSV: read, checked row by row, and saved all at once
(docs/outlets.md).

Design overview
---------------
* ``read_outlets`` and ``read_agents`` read a CSV file (UTF-8, a header row with the
  columns ``OUTLET_COLUMNS``/``AGENT_COLUMNS``) into checked rows, without I/O beyond the
  text. Every mistake is collected with its line and field (up to ``MAX_PROBLEMS``), and if
  there is any the whole file is refused (``ImportRefused``), so the operator fixes them
  all in one go.
* ``import_outlets`` saves the rows in one transaction, upserting by outlet code
  (``service.save_outlet``); an agent code that names no agent refuses the file the same
  way. A file with a bad row therefore changes nothing.
* ``ensure_agents`` adds the agents of a file that are not there yet (the demo's, seeded
  again, change nothing).
* Hours are written one column per weekday (``hours.parse_day``: ``08:00-22:00``,
  ``22:00-02:00``, ``24h``, ``closed``); coordinates in decimal degrees (at most six
  decimals, read exactly into micro-degrees); services separated by spaces.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import Database
from simkeep.errors import Refusal
from simkeep.names import Names
from simkeep.outlets import service
from simkeep.outlets.geo import InvalidPoint, parse_degrees
from simkeep.outlets.hours import DAYS, Hours, InvalidHours, parse_day
from simkeep.outlets.model import (
    Agent,
    NewOutlet,
    OutletError,
    OutletKind,
    check_agent,
    check_outlet,
    services_of,
)
from simkeep.staff import audit

NAME_COLUMNS = ("name_zh_hant", "name_zh_hans", "name_en")
ADDRESS_COLUMNS = ("address_zh_hant", "address_zh_hans", "address_en")
OUTLET_COLUMNS = (
    "code",
    "agent",
    "kind",
    *NAME_COLUMNS,
    *ADDRESS_COLUMNS,
    "district",
    "lat",
    "lon",
    *DAYS,
    "services",
    "phone",
)
AGENT_COLUMNS = ("code", *NAME_COLUMNS, "commission_bp", "credit_limit_minor")
MAX_PROBLEMS = 20
MAX_ROWS = 1_000_000
MAX_FIELD = 1_000
Progress = Callable[[int], None]  # told how many rows are done so far
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    line: int  # in the file; the header is line 1
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


class ImportRefused(Refusal):
    """A file with mistakes: nothing of it was saved."""

    code = "invalid_import"

    def __init__(self, problems: list[Problem]) -> None:
        shown = "; ".join(str(problem) for problem in problems)
        super().__init__(f"nothing imported — {shown}")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class OutletRow:
    line: int
    agent_code: str
    outlet: NewOutlet  # its agent_id is 0 until the agent is looked up


@dataclass(frozen=True, slots=True)
class AgentRow:
    line: int
    code: str
    names: Names
    commission_bp: int
    credit_limit_minor: int


@dataclass(frozen=True, slots=True)
class Imported:
    added: int
    updated: int


def _records(text: str, columns: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = tuple(reader.fieldnames or ())
    missing = [column for column in columns if column not in header]
    extra = [column for column in header if column not in columns]
    if missing or extra:
        field = (missing or extra)[0]
        word = "missing" if missing else "unknown"
        raise ImportRefused([Problem(1, field, f"{word} column; the columns are {columns}")])
    for count, record in enumerate(reader, start=1):
        if count > MAX_ROWS:
            raise ImportRefused([Problem(reader.line_num, "file", f"over {MAX_ROWS} rows")])
        if None in record or any(value is None for value in record.values()):
            raise ImportRefused([Problem(reader.line_num, "row", "the wrong number of fields")])
        yield reader.line_num, {key: value.strip() for key, value in record.items()}


def _checked(
    text: str, columns: tuple[str, ...], read: Callable[[int, dict[str, str]], T]
) -> list[T]:
    rows: list[T] = []
    problems: list[Problem] = []
    for line, record in _records(text, columns):
        too_long = next((k for k, v in record.items() if len(v) > MAX_FIELD), None)
        try:
            if too_long is not None:
                raise OutletError(too_long, f"over {MAX_FIELD} characters")
            rows.append(read(line, record))
        except (OutletError, InvalidPoint, InvalidHours, ValueError) as error:
            problems.append(Problem(line, getattr(error, "field", "row"), str(error)))
            if len(problems) >= MAX_PROBLEMS:
                break
    if problems:
        raise ImportRefused(problems)
    return rows


def read_outlets(text: str) -> list[OutletRow]:
    """Every outlet of a CSV text, checked; ``ImportRefused`` names each mistake."""
    rows = _checked(text, OUTLET_COLUMNS, _outlet)
    seen: dict[str, int] = {}
    for row in rows:
        if row.outlet.code in seen:
            message = f"{row.outlet.code} is on line {seen[row.outlet.code]} already"
            raise ImportRefused([Problem(row.line, "code", message)])
        seen[row.outlet.code] = row.line
    return rows


def read_agents(text: str) -> list[AgentRow]:
    """Every agent of a CSV text, checked; ``ImportRefused`` names each mistake."""
    return _checked(text, AGENT_COLUMNS, _agent)


def _names(record: Mapping[str, str], columns: tuple[str, ...], field: str) -> Names:
    try:
        return Names(*(record[column] for column in columns))
    except ValueError as error:
        raise OutletError(field, str(error)) from None


def _field(field: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except (InvalidHours, InvalidPoint, ValueError) as error:
        raise OutletError(field, str(error)) from None


def _outlet(line: int, record: dict[str, str]) -> OutletRow:
    outlet = NewOutlet(
        code=record["code"],
        agent_id=0,
        kind=_field("kind", lambda: OutletKind(record["kind"])),
        names=_names(record, NAME_COLUMNS, "name"),
        addresses=_names(record, ADDRESS_COLUMNS, "address"),
        district=record["district"],
        lat_e6=_field("lat", lambda: parse_degrees(record["lat"], limit=90)),
        lon_e6=_field("lon", lambda: parse_degrees(record["lon"], limit=180)),
        hours=_hours(record),
        services=services_of(record["services"].split()),
        phone=record["phone"] or None,
    )
    check_outlet(outlet)
    return OutletRow(line, record["agent"], outlet)


def _hours(record: Mapping[str, str]) -> Hours:
    days = tuple(_field(day, partial(parse_day, record[day])) for day in DAYS)
    return _field("hours", partial(Hours, days))


def _agent(line: int, record: dict[str, str]) -> AgentRow:
    numbers = {}
    for field in ("commission_bp", "credit_limit_minor"):
        if not record[field].isdigit() or len(record[field]) > 15:
            raise OutletError(field, f"{record[field][:20]!r} is not a whole number")
        numbers[field] = int(record[field])
    row = AgentRow(line, record["code"], _names(record, NAME_COLUMNS, "name"), **numbers)
    check_agent(
        code=row.code,
        names=row.names,
        commission_bp=row.commission_bp,
        credit_limit_minor=row.credit_limit_minor,
    )
    return row


async def import_outlets(
    db: Database,
    *,
    rows: list[OutletRow],
    now: datetime,
    progress: Progress | None = None,
    actor: audit.Actor | None = None,
) -> Imported:
    """Save checked outlets in one transaction, upserting by code; an unknown agent code
    refuses them all. Recorded in the audit log when ``actor`` (a person) is given."""

    async def save(conn: AsyncConnection) -> Imported:
        agents: dict[str, Agent | None] = {}
        added = 0
        for done, row in enumerate(rows, start=1):
            if row.agent_code not in agents:
                agents[row.agent_code] = await service.agent_by_code(conn, code=row.agent_code)
            agent = agents[row.agent_code]
            if agent is None:
                raise ImportRefused([Problem(row.line, "agent", f"no agent {row.agent_code!r}")])
            new = replace(row.outlet, agent_id=agent.id)
            added += await service.save_outlet(conn, outlet=new, now=now)
            if progress is not None:
                progress(done)
        imported = Imported(added, len(rows) - added)
        if actor is not None:
            await audit.record(
                conn,
                actor=actor,
                action="outlets.import",
                target=audit.Target("outlets", "csv"),
                before=None,
                after={"added": imported.added, "updated": imported.updated},
                now=now,
            )
        return imported

    return await db.transaction(save)


async def ensure_agents(conn: AsyncConnection, *, rows: list[AgentRow], now: datetime) -> int:
    """Add the agents whose code is not there yet; how many were added."""
    added = 0
    for row in rows:
        if await service.agent_by_code(conn, code=row.code) is None:
            await service.insert_agent(
                conn,
                code=row.code,
                names=row.names,
                commission_bp=row.commission_bp,
                credit_limit_minor=row.credit_limit_minor,
                now=now,
            )
            added += 1
    return added
