"""Hand-written statements for the hot paths, run on the driver connection.

Design overview
---------------
SQLAlchemy Core builds, caches and compiles a statement on every call and wraps each
execution in its own context: about 0.1 ms per statement here, more than asyncpg spends
sending it. The few statements every top-up runs are written out once instead, as a
``Statement``: SQL with ``:name`` parameters, translated at import to asyncpg's ``$n`` and
to sqlite3's ``?`` (a ``sqlite`` text may stand in where the two databases differ), and run
on the driver connection under ``conn`` — inside ``Database.transaction`` they are part of
the same transaction as any SQLAlchemy statement. asyncpg prepares each text once per
connection. Parameters pass through as they are, except that an aware datetime becomes the
UTC text SQLite keeps, and a list a JSON array (read it there with ``json_each``); read
timestamps back with ``sqltypes.as_utc``. Rows allow both ``row[0]`` and ``row["name"]``. A
constraint's refusal comes as the driver's own error: catch ``INTEGRITY_ERRORS``.

Where hand-written SQL is allowed at all: only in a package's ``statements.py``, for the hot
paths and for set-based SQL that Core would only obscure; everything else is SQLAlchemy
Core (docs/architecture.md, "Writing SQL").
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.db import driver_connection
from simkeep.sqltypes import sqlite_timestamp

# A constraint refused a write: raised by SQLAlchemy for Core statements, and by the driver
# itself for a ``Statement``.
INTEGRITY_ERRORS = (IntegrityError, sqlite3.IntegrityError, IntegrityConstraintViolationError)

_PARAMETER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


class Row(Protocol):
    def __getitem__(self, key: int | str, /) -> Any: ...


class Statement:
    """One statement for both databases, parsed once."""

    def __init__(self, sql: str, *, sqlite: str | None = None) -> None:
        self._pg_sql, self._pg_names = _numbered(sql)
        self._sqlite_sql, self._sqlite_names = _positional(sqlite or sql)

    async def rows(self, conn: AsyncConnection, **params: Any) -> Sequence[Row]:
        driver = await driver_connection(conn)
        rows: Sequence[Row]
        if conn.dialect.name == "postgresql":
            rows = await driver.fetch(self._pg_sql, *self._pg_args(params))
        else:
            rows = self._sqlite_cursor(driver, params).fetchall()
        return rows

    async def row(self, conn: AsyncConnection, **params: Any) -> Row | None:
        driver = await driver_connection(conn)
        row: Row | None
        if conn.dialect.name == "postgresql":
            row = await driver.fetchrow(self._pg_sql, *self._pg_args(params))
        else:
            row = self._sqlite_cursor(driver, params).fetchone()
        return row

    async def execute(self, conn: AsyncConnection, **params: Any) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        driver = await driver_connection(conn)
        if conn.dialect.name == "postgresql":
            status: str = await driver.execute(self._pg_sql, *self._pg_args(params))
            count = status.rsplit(" ", 1)[-1]
            return int(count) if count.isdigit() else 0
        changed: int = self._sqlite_cursor(driver, params).rowcount
        return changed

    def _pg_args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self._pg_names]

    def _sqlite_cursor(
        self, driver: sqlite3.Connection, params: Mapping[str, Any]
    ) -> sqlite3.Cursor:
        cursor = sqlite3.Cursor(driver)
        cursor.row_factory = sqlite3.Row
        args = [_sqlite_value(params[name]) for name in self._sqlite_names]
        return cursor.execute(self._sqlite_sql, args)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return sqlite_timestamp(value)
    if isinstance(value, list):
        return json.dumps(value)
    return value


def _numbered(sql: str) -> tuple[str, list[str]]:
    """``:name`` → ``$n``, one number per distinct name."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAMETER.sub(number, sql), names


def _positional(sql: str) -> tuple[str, list[str]]:
    """``:name`` → ``?``, one argument per occurrence."""
    names: list[str] = []

    def mark(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return "?"

    return _PARAMETER.sub(mark, sql), names
