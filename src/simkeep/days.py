"""Ranges of Hong Kong days, as figures and exports ask for them, and the Hong Kong day of a
stored instant in SQL.

Design overview
---------------
* ``DayRange`` is a first and a last Hong Kong calendar day, both included, of at most
  ``MAX_DAYS`` days, within this century (``DayRange.of`` refuses a reversed or longer
  range, or a day out of the century, with an ``InvalidRange``: no query scans more than
  a year, and no bound overflows a date). ``window`` is the two UTC instants a query
  filters stored instants with: from the start of the first day, up to (and without) the
  start of the day after the last.
* ``hk_day(conn, column)`` is the SQL that turns a stored instant into its Hong Kong day,
  for ``GROUP BY``: ``timezone('Asia/Hong_Kong', …)`` on PostgreSQL, eight hours added to
  the UTC text on SQLite (Hong Kong keeps UTC+8 all year: no daylight saving since 1979).
  ``as_day`` reads the value back as a ``date`` from either database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, func, literal_column
from sqlalchemy.ext.asyncio import AsyncConnection

from simkeep.clock import HONG_KONG
from simkeep.errors import Refusal

MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)  # no figure of simkeep's is older; nor any query's range
LATEST = date(2099, 12, 31)


class InvalidRange(Refusal):
    code = "invalid_range"


class RangeReversed(InvalidRange):
    code = "range_reversed"


class RangeTooLong(InvalidRange):
    code = "range_too_long"


class DayOutOfRange(InvalidRange):
    code = "day_out_of_range"


@dataclass(frozen=True, slots=True)
class DayRange:
    first: date
    last: date

    @classmethod
    def of(cls, first: date, last: date) -> DayRange:
        """The days from ``first`` to ``last``, both included; refused when ``last`` comes
        before ``first``, the range is longer than ``MAX_DAYS`` or leaves the years from
        ``EARLIEST`` to ``LATEST``."""
        if first < EARLIEST or last > LATEST:
            raise DayOutOfRange(f"a day is from {EARLIEST} to {LATEST}")
        if last < first:
            raise RangeReversed("the last day comes before the first")
        if (last - first).days + 1 > MAX_DAYS:
            raise RangeTooLong(f"a range is at most {MAX_DAYS} days")
        return cls(first, last)

    @classmethod
    def ending(cls, last: date, *, days: int) -> DayRange:
        """The ``days`` days up to ``last``, included."""
        if not EARLIEST <= last <= LATEST:
            raise DayOutOfRange(f"a day is from {EARLIEST} to {LATEST}")
        return cls.of(max(last - timedelta(days=days - 1), EARLIEST), last)

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1

    def __iter__(self) -> Iterator[date]:
        return (self.first + timedelta(days=n) for n in range(self.length))

    def window(self) -> tuple[datetime, datetime]:
        """The UTC instants the range starts and ends (the end excluded)."""
        return start_of(self.first), start_of(self.last + timedelta(days=1))


def start_of(day: date) -> datetime:
    """The UTC instant a Hong Kong day begins."""
    return datetime.combine(day, time(), HONG_KONG).astimezone(UTC)


def hk_day(conn: AsyncConnection, instant: Any) -> Any:
    """The Hong Kong calendar day of a stored instant (an expression of a ``UTCDateTime``
    column), in SQL."""
    if conn.dialect.name == "postgresql":
        return func.timezone(literal_column("'Asia/Hong_Kong'"), instant).cast(Date)
    return func.date(instant, literal_column("'+8 hours'"))


def as_day(value: date | str) -> date:
    """A day as either database returns it (SQLite: ``YYYY-MM-DD`` text)."""
    return value if isinstance(value, date) else date.fromisoformat(value)
