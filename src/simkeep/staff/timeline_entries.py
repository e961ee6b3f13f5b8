"""The entries of a SIM's timeline on the console (``staff.timeline``): where each comes
from, what it holds, and the cursor where a page of them ends.

Design overview
---------------
An ``Entry`` is one thing that happened to the SIM: its time, its ``Source`` and that
source's row id, and the item the source read (an order, a journal, a ``Message`` …).
Entries are ordered by (time, source, id); a ``Cursor`` is that triple for the last entry of
a page, written into the next page's address as ``<µs since 1970>-<source>-<id>``, and it
gives each source the keyset that matches the source's place against it
(``Cursor.keyset_for``). Nothing here reads the database; ``hide_codes`` hides the
one-time codes of a message before staff read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import Any

from simkeep.keyset import Keyset
from simkeep.money import Money
from simkeep.sqltypes import MAX_ID

_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
HIDDEN_CODE = "••••••"


class Source(IntEnum):
    """The timeline's sources; at one instant, a higher one is shown first."""

    ORDER = 1
    NOTIFICATION = 2
    JOURNAL = 3
    STATE = 4
    SMS = 5
    REFUND = 6
    KEEPALIVE = 7
    USAGE = 8
    ADJUSTMENT = 9


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """Where a page of the timeline ends: the last entry's (time, source, id)."""

    at: datetime
    source: int
    id: int

    def token(self) -> str:
        """The cursor in a page's address: ``<µs since 1970>-<source>-<id>``."""
        micros = (self.at - EPOCH) // _MICROSECOND
        return f"{micros}-{self.source}-{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """A cursor from its token; ``ValueError`` for anything else."""
        match = re.fullmatch(r"(\d{1,16})-(\d)-(\d{1,19})", token)
        if match is None:
            raise ValueError(f"{token[:40]!r} is not a page of a timeline")
        micros, source, row_id = (int(part) for part in match.groups())
        if source not in {s.value for s in Source} or row_id > MAX_ID:
            raise ValueError(f"{token[:40]!r} is not a page of a timeline")
        return cls(EPOCH + micros * _MICROSECOND, source, row_id)

    def keyset_for(self, source: Source) -> Keyset:
        """What ``source`` has left to show after this cursor."""
        if source < self.source:
            return Keyset(self.at, MAX_ID)  # the cursor's instant too
        if source > self.source:
            return Keyset(self.at, 0)  # only earlier instants
        return Keyset(self.at, self.id)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    source: Source
    id: int
    item: Any  # what the source read: an order, a journal, a refund …

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.source.value, self.id)


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    order_no: str
    provider: str
    source: str  # notification | poll
    status: str
    error: str | None


@dataclass(frozen=True, slots=True)
class StateChange:
    from_state: str | None
    to_state: str
    reason: str


@dataclass(frozen=True, slots=True)
class Message:
    recipient: str
    body: str  # one-time codes hidden
    sent: bool


@dataclass(frozen=True, slots=True)
class KeepAliveCharge:
    period: date
    state: str
    amount: Money
    tries: int
    order_no: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class UsageBatch:
    records: int
    data_mb: int
    voice_minutes: int
    sms: int
    charged: Money
    from_bonus: Money
    from_balance: Money
    unpaid: Money


def hide_codes(text: str) -> str:
    """A message with every run of exactly six digits (a one-time code) hidden."""
    return _CODE.sub(HIDDEN_CODE, text)
