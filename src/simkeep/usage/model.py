"""Usage rules without I/O: what a usage record is, what a line may do in each state, and
how a record is paid.

Design overview
---------------
* A record is reported by the network: an id unique per network client (1–64 printable
  ASCII characters), the E.164 number of either of a SIM's lines, a ``kind`` (``voice``
  minutes, ``data`` MB, ``sms`` messages), a ``zone`` (``hk``, ``mainland``), a positive
  whole ``quantity`` of units (capped per kind) and the instant it occurred (at most
  ``MAX_AGE`` old, at most ``MAX_AHEAD`` in the future). ``parse_record`` turns what came
  over the wire into a ``Record`` or a ``Refused`` with a code, record by record, so one
  malformed record never stops the others.
* Barring by state: ``active`` nothing; ``grace`` receives only (outgoing voice, outgoing SMS
  and data barred); ``suspended`` everything. The network is the authority for what
  happened: a record of a barred line is rated and charged like any other, and its outcome
  says ``barred`` so the network can see its barring is behind.
* Paying (``Wallet.pay``), in order: benefit buckets of the record's kind in its zone or in
  any zone, earliest expiry first (a bucket pays for usage that occurred before it expired),
  unit by unit; the units left are priced at the plan's rate; that price is paid from bonus
  money (money buckets, earliest expiry first, never more than the bonus account holds),
  then from the balance; what is left is unpaid. Nothing goes below zero.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from simkeep.errors import Refusal
from simkeep.money import Money
from simkeep.sims.model import SimState

MAX_RECORDS = 500  # records in one batch
MAX_BATCH_BYTES = 256 * 1024  # a batch's body: 500 records of ~500 bytes
MAX_AGE = timedelta(days=90)  # a record older than this is refused
MAX_AHEAD = timedelta(minutes=10)  # clocks differ; a record further in the future is refused

RECORD_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
E164 = re.compile(r"^\+(852[0-9]{8}|861[0-9]{10})$")


class Kind(StrEnum):
    VOICE = "voice"  # minutes
    DATA = "data"  # MB
    SMS = "sms"  # messages


class Zone(StrEnum):
    HK = "hk"
    MAINLAND = "mainland"


KINDS = tuple(kind.value for kind in Kind)  # compared with ==: any JSON value may come
ZONES = tuple(zone.value for zone in Zone)
MAX_QUANTITY = {Kind.VOICE: 1_440, Kind.DATA: 102_400, Kind.SMS: 1_000}


class UsageError(Refusal):
    code = "invalid_usage"


class UnknownRate(UsageError):
    code = "unknown_rate"


@dataclass(frozen=True, slots=True)
class Barring:
    """What the network must bar on a line."""

    outgoing_voice: bool
    outgoing_sms: bool
    data: bool
    incoming_voice: bool
    incoming_sms: bool


def barring(state: SimState) -> Barring:
    """``active`` nothing, ``grace`` all but receiving, ``suspended`` (and beyond) all."""
    if state is SimState.ACTIVE:
        return Barring(False, False, False, False, False)
    if state is SimState.GRACE:
        return Barring(True, True, True, False, False)
    return Barring(True, True, True, True, True)


@dataclass(frozen=True, slots=True)
class Record:
    record_id: str
    number: str  # E.164
    kind: Kind
    zone: Zone
    quantity: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Refused:
    code: str
    message: str


def parse_record(raw: object, *, now: datetime) -> Record | Refused:
    """One record as the network sent it: a ``Record``, or why it is refused."""
    if not isinstance(raw, dict):
        return Refused("invalid_record", "a record is a JSON object")
    record_id, number = raw.get("id"), raw.get("number")
    if not isinstance(record_id, str) or not RECORD_ID.match(record_id):
        return Refused("invalid_id", "id is 1–64 printable ASCII characters, no spaces")
    if not isinstance(number, str) or not E164.match(number):
        return Refused("invalid_number", "number is a Hong Kong or Mainland number in E.164")
    if raw.get("kind") not in KINDS:
        return Refused("unknown_kind", "kind is one of voice, data, sms")
    if raw.get("zone") not in ZONES:
        return Refused("unknown_zone", "zone is one of hk, mainland")
    kind, zone = Kind(raw["kind"]), Zone(raw["zone"])
    quantity = raw.get("quantity")
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 0 < quantity <= MAX_QUANTITY[kind]
    ):
        return Refused(
            "invalid_quantity",
            f"quantity is a whole number of units from 1 to {MAX_QUANTITY[kind]} for {kind}",
        )
    occurred_at = _instant(raw.get("occurred_at"))
    if occurred_at is None or not now - MAX_AGE <= occurred_at <= now + MAX_AHEAD:
        return Refused(
            "invalid_time",
            "occurred_at is an ISO 8601 time with its offset, within the last 90 days",
        )
    return Record(record_id, number, kind, zone, quantity, occurred_at)


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


@dataclass(slots=True)
class Bucket:
    """A benefit bucket as usage sees it: ``kind`` is a usage kind or ``money``; ``zone``
    None is any zone."""

    id: int
    kind: str
    zone: str | None
    remaining: int
    expires_at: datetime

    def pays(self, kind: str, record: Record) -> bool:
        return (
            self.kind == kind
            and self.remaining > 0
            and self.zone in (None, record.zone.value)
            and self.expires_at > record.occurred_at
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """What a record cost and who paid it."""

    currency: str
    rate: int  # minor units per unit
    bucket_units: int  # units paid by benefit buckets
    amount: int  # the price of the other units
    bonus: int
    balance: int
    unpaid: int
    barred: bool

    @property
    def status(self) -> str:
        return "unpaid" if self.unpaid else "charged"


@dataclass(slots=True)
class Wallet:
    """What one SIM can pay with in one batch; ``pay`` spends from it record by record."""

    currency: str
    buckets: list[Bucket]  # earliest expiry first
    bonus: int  # the bonus account's available money
    balance: int  # the balance account's available money
    spent: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # bucket id → units
    from_bonus: int = 0
    from_balance: int = 0

    def pay(self, record: Record, *, rate: int, barred: bool) -> Charge:
        units = self._take(record.kind.value, record, record.quantity)
        amount = (record.quantity - units) * rate
        bonus = self._take("money", record, min(amount, self.bonus))
        balance = min(amount - bonus, self.balance)
        self.bonus -= bonus
        self.balance -= balance
        self.from_bonus += bonus
        self.from_balance += balance
        unpaid = amount - bonus - balance
        return Charge(self.currency, rate, units, amount, bonus, balance, unpaid, barred)

    def _take(self, kind: str, record: Record, wanted: int) -> int:
        taken = 0
        for bucket in self.buckets:
            if taken == wanted:
                break
            if bucket.pays(kind, record):
                take = min(bucket.remaining, wanted - taken)
                bucket.remaining -= take
                self.spent[bucket.id] += take
                taken += take
        return taken


@dataclass(frozen=True, slots=True)
class Spend:
    """What one SIM's usage in a batch took from its bonus and balance accounts."""

    sim_id: int
    bonus_account: int
    balance_account: int
    from_bonus: Money
    from_balance: Money

    @property
    def currency(self) -> str:
        return self.from_balance.currency


def journal_id(client_id: int, record_id: str) -> str:
    """The client id of the journal that books a batch's money, from its first record: a
    record is charged once, so the name is never used for another journal (and a batch run
    again after a conflict names its journal the same)."""
    digest = hashlib.sha256(record_id.encode()).hexdigest()[:40]
    return f"usage:{client_id}:{digest}"
