"""Time, injected: storage in aware UTC, people see Asia/Hong_Kong, Mainland providers use
Asia/Shanghai. Domain code receives a ``Clock`` (or a ``now``) and never asks the OS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to: a test can run a month in a second."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start).astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, instant: datetime) -> None:
        self._now = require_aware(instant).astimezone(UTC)


def require_aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: simkeep stores aware UTC instants")
    return instant


def in_hong_kong(instant: datetime) -> datetime:
    return require_aware(instant).astimezone(HONG_KONG)


def in_shanghai(instant: datetime) -> datetime:
    return require_aware(instant).astimezone(SHANGHAI)
