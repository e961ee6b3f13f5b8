"""Column types shared by every domain's tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

MAX_ID = 2**63 - 1  # the largest 64-bit id: anything above cannot name a row


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on both databases (SQLite keeps the text in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"{value!r} is not an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime | str) -> datetime:
    """A timestamp as either database returns it (SQLite: UTC text), as an aware UTC instant."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(instant, datetime):
        raise TypeError(f"{value!r} is not a timestamp")
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def sqlite_timestamp(instant: datetime) -> str:
    """The text UTCDateTime stores on SQLite (``%Y-%m-%d %H:%M:%S.%f`` in UTC), for
    statements written by hand."""
    utc = instant.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(sep=" ", timespec="microseconds")


def id_column_type() -> BigInteger:
    """64-bit ids; on SQLite an INTEGER primary key so that it is the rowid."""
    return BigInteger().with_variant(Integer(), "sqlite")
