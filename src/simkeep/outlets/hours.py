"""Opening hours per weekday, and whether an outlet is open at an instant (docs/outlets.md).

Design overview
---------------
* ``Hours`` holds seven days, Monday first; each day is a tuple of ranges in minutes after
  that day's midnight. A range may pass midnight: its end is then after 24:00 (22:00–02:00 is
  ``(1320, 1560)``), so a range always belongs to the day it starts on. A 24-hour day is
  ``(0, 1440)``; a day without ranges is closed.
* Stored as JSON, ``{"mon": [["08:00", "22:00"]], "fri": [["22:00", "26:00"]], …}`` (a day
  left out is closed); written by people as text, ``08:00-22:00``, ``22:00-02:00`` (an end
  not after its start is the next day's), ``08:00-12:00,14:00-20:00``, ``24h`` or
  ``closed``.
* ``is_open`` reads the local time (Asia/Hong_Kong for every outlet: Shenzhen and Guangzhou
  share its clock) and looks at the day's ranges and at the previous day's ranges that pass
  midnight, so Sunday night's range still holds early on Monday morning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from simkeep.clock import in_hong_kong
from simkeep.errors import Refusal

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
MAX_RANGES = 4  # in one day
MAX_TEXT = 64  # one day written as text

Range = tuple[int, int]


class InvalidHours(Refusal):
    """Opening hours that cannot be read or cannot be meant."""

    code = "invalid_hours"


@dataclass(frozen=True, slots=True)
class Hours:
    week: tuple[tuple[Range, ...], ...]  # seven days, Monday first

    def __post_init__(self) -> None:
        if len(self.week) != len(DAYS):
            raise InvalidHours("opening hours need seven days")
        for day, ranges in zip(DAYS, self.week, strict=True):
            _check_day(day, ranges)

    def day(self, weekday: int) -> tuple[Range, ...]:
        """The ranges of a weekday (0 is Monday)."""
        return self.week[weekday % 7]

    def today(self, now: datetime) -> tuple[Range, ...]:
        """The ranges of the Hong Kong day that ``now`` (aware) falls on."""
        return self.day(in_hong_kong(now).weekday())

    def is_open(self, now: datetime) -> bool:
        """Whether the outlet is open at the instant ``now`` (aware), in Hong Kong time."""
        weekday, minute = _week_minute(now)
        return _open(self.day(weekday), self.day(weekday - 1), minute)

    def to_json(self) -> dict[str, list[list[str]]]:
        """The stored form: days with ranges only, times as ``HH:MM`` (ends up to 48:00)."""
        return {
            day: [[clock_text(start), clock_text(end)] for start, end in ranges]
            for day, ranges in zip(DAYS, self.week, strict=True)
            if ranges
        }

    @classmethod
    def of_json(cls, stored: Mapping[str, Sequence[Sequence[str]]]) -> Hours:
        """Hours read back from their stored form."""
        unknown = set(stored) - set(DAYS)
        if unknown:
            raise InvalidHours(f"unknown day {sorted(unknown)[0]!r}")
        return cls(
            tuple(
                tuple((_minutes(r[0]), _minutes(r[1])) for r in stored.get(day, ())) for day in DAYS
            )
        )


def open_in_stored(stored: Mapping[str, Sequence[Sequence[str]]], now: datetime) -> bool:
    """``Hours.is_open`` read straight from the stored form (checked when it was written),
    looking at two days only: what the finder asks of every row it considers."""
    weekday, minute = _week_minute(now)

    def ranges(day: int) -> list[Range]:
        return [(_stored(r[0]), _stored(r[1])) for r in stored.get(DAYS[day % 7], ())]

    return _open(ranges(weekday), ranges(weekday - 1), minute)


def _week_minute(now: datetime) -> tuple[int, int]:
    local = in_hong_kong(now)
    return local.weekday(), local.hour * 60 + local.minute


def _open(today: Sequence[Range], yesterday: Sequence[Range], minute: int) -> bool:
    """Open at ``minute`` of a day: in one of its ranges, or in the previous day's range that
    passes midnight (Sunday's, on a Monday)."""
    if any(start <= minute < end for start, end in today):
        return True
    return any(minute + DAY_MINUTES < end for _, end in yesterday)


def _stored(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:5])


def _check_day(day: str, ranges: tuple[Range, ...]) -> None:
    if len(ranges) > MAX_RANGES:
        raise InvalidHours(f"{day}: at most {MAX_RANGES} ranges a day")
    previous_end = -1
    for start, end in ranges:
        if not 0 <= start < DAY_MINUTES:
            raise InvalidHours(f"{day}: a range starts between 00:00 and 23:59")
        if not start < end <= start + DAY_MINUTES:
            raise InvalidHours(f"{day}: a range ends after it starts, within 24 hours")
        if start < previous_end:
            raise InvalidHours(f"{day}: ranges are in order and do not overlap")
        previous_end = end


def _minutes(text: object) -> int:
    """Minutes after midnight of ``HH:MM`` (ASCII digits; no regex: every stored row's
    hours are read with it)."""
    cleaned = text.strip() if isinstance(text, str) else ""
    digits = cleaned[:2] + cleaned[3:]
    well_formed = len(cleaned) == 5 and cleaned[2] == ":" and digits.isascii()
    if not (well_formed and digits.isdigit() and cleaned[3:] < "60"):
        raise InvalidHours(f"{str(text)[:20]!r} is not a time HH:MM")
    return int(cleaned[:2]) * 60 + int(cleaned[3:])


def clock_text(minutes: int) -> str:
    """``HH:MM`` of minutes after midnight (an end past midnight reads past 24:00)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def wall_clock(minutes: int) -> str:
    """``HH:MM`` as a clock on the wall shows it (26:00 reads 02:00; 24:00 stays 24:00)."""
    return clock_text(minutes if minutes <= DAY_MINUTES else minutes - DAY_MINUTES)


def parse_day(text: str) -> tuple[Range, ...]:
    """A day written by a person: ``08:00-22:00``, ``22:00-02:00``, ``24h``, ``closed``,
    several ranges separated by commas; an end not after its start is the next day's."""
    cleaned = text.strip().lower()
    if len(cleaned) > MAX_TEXT:
        raise InvalidHours(f"at most {MAX_TEXT} characters a day")
    if cleaned in ("", "closed"):
        return ()
    if cleaned == "24h":
        return ((0, DAY_MINUTES),)
    ranges = []
    for part in cleaned.split(","):
        opens, sep, closes = part.partition("-")
        if not sep:
            raise InvalidHours(f"{part.strip()!r} is not a range HH:MM-HH:MM")
        start, end = _minutes(opens), _minutes(closes)
        if start >= DAY_MINUTES or end > DAY_MINUTES:
            raise InvalidHours(f"{part.strip()!r}: times run from 00:00 to 24:00")
        ranges.append((start, end if end > start else end + DAY_MINUTES))
    return tuple(ranges)


def parse_week(days: Sequence[str]) -> Hours:
    """Seven days written by a person, Monday first (``parse_day`` each)."""
    return Hours(tuple(parse_day(day) for day in days))


ALWAYS = Hours(tuple(((0, DAY_MINUTES),) for _ in DAYS))  # open round the clock
