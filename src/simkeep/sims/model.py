"""SIM rules without I/O: ICCIDs, real-name records, masking, states, validity.

Design overview
---------------
* A SIM carries two lines: a Hong Kong number and a Mainland number (``simkeep.phone``),
  stored in E.164; either finds the SIM.
* An ICCID is 19–20 digits starting ``89`` whose last digit is a Luhn check digit.
* A real-name record is kept only as a keyed digest (HMAC-SHA256 under a key derived from
  the secret key) plus a masked form for people (``A12****(3)``); the holder's name is kept
  masked (``陳*明``). Nothing can recover the ID number from what is stored.
* Line states: ``active → grace → suspended → recycled``; a top-up that covers what is owed
  brings ``grace`` or ``suspended`` back to ``active``; ``recycled`` is terminal.
* A plan is data with a name in each of the three languages (``simkeep.names``); whoever
  shows it picks the reader's (``Plan.name``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from simkeep.errors import Refusal
from simkeep.money import Money, check_currency
from simkeep.names import Names
from simkeep.phone import Number


class SimError(Refusal):
    """Bad input about a SIM; ``code`` is machine-readable."""

    code = "invalid_sim"


class InvalidIccid(SimError):
    code = "invalid_iccid"


class InvalidIdDocument(SimError):
    code = "invalid_id_document"


class SimState(StrEnum):
    ACTIVE = "active"
    GRACE = "grace"
    SUSPENDED = "suspended"
    RECYCLED = "recycled"


class Retention(StrEnum):
    MONTHLY_FEE = "monthly_fee"
    VALIDITY = "validity"


class IdType(StrEnum):
    HKID = "hkid"
    CN_RESIDENT_ID = "cn_resident_id"
    HOME_RETURN_PERMIT = "home_return_permit"
    PASSPORT = "passport"


TRANSITIONS: dict[SimState, frozenset[SimState]] = {
    SimState.ACTIVE: frozenset({SimState.GRACE}),
    SimState.GRACE: frozenset({SimState.ACTIVE, SimState.SUSPENDED}),
    SimState.SUSPENDED: frozenset({SimState.ACTIVE, SimState.RECYCLED}),
    SimState.RECYCLED: frozenset(),
}


def can_move(current: SimState, target: SimState) -> bool:
    return target in TRANSITIONS[current]


MAX_VALIDITY_AHEAD = timedelta(days=730)


def extended_validity(current: datetime | None, days: int, now: datetime) -> datetime:
    """Validity after a top-up: ``days`` from the later of now and the current date, never
    more than 730 days ahead."""
    start = max(current, now) if current else now
    return min(start + timedelta(days=days), now + MAX_VALIDITY_AHEAD)


def check_iccid(text: str) -> str:
    iccid = re.sub(r"\s", "", text or "")
    if not re.fullmatch(r"89\d{17,18}", iccid):
        raise InvalidIccid("an ICCID is 19 or 20 digits starting with 89")
    if not _luhn_valid(iccid):
        raise InvalidIccid("the ICCID's check digit is wrong")
    return iccid


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def luhn_complete(prefix: str) -> str:
    """``prefix`` plus the Luhn check digit that makes it valid (for issuing ICCIDs)."""
    for digit in "0123456789":
        if _luhn_valid(prefix + digit):
            return prefix + digit
    raise AssertionError("unreachable: one digit always completes a Luhn number")


_ID_PATTERNS = {
    IdType.HKID: re.compile(r"^[A-Z]{1,2}\d{6}\(?[0-9A]\)?$"),
    IdType.CN_RESIDENT_ID: re.compile(r"^\d{17}[\dX]$"),
    IdType.HOME_RETURN_PERMIT: re.compile(r"^[HM]\d{8}(\d{2})?$"),
    IdType.PASSPORT: re.compile(r"^[A-Z0-9]{6,12}$"),
}


def normalise_id(id_type: IdType, number: str) -> str:
    """The canonical spelling of an ID number (upper case, no spaces; HKID as ``A123456(3)``)."""
    text = re.sub(r"\s", "", (number or "").upper())
    if not _ID_PATTERNS[id_type].match(text):
        raise InvalidIdDocument(f"that is not a valid {id_type.value.replace('_', ' ')} number")
    if id_type is IdType.HKID:
        bare = text.replace("(", "").replace(")", "")
        return f"{bare[:-1]}({bare[-1]})"
    return text


def id_digest(key: bytes, id_type: IdType, number: str) -> str:
    """The keyed digest stored in place of the ID number."""
    message = f"{id_type.value}:{normalise_id(id_type, number)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def digest_key(secret_key: str) -> bytes:
    """The key for ID digests, derived from the application's secret key."""
    return hmac.new(secret_key.encode(), b"simkeep/real-name-digest/v1", hashlib.sha256).digest()


def mask_id(id_type: IdType, number: str) -> str:
    """What people may see of an ID number: ``A12****(3)``, ``110***********123X``."""
    text = normalise_id(id_type, number)
    if id_type is IdType.HKID:
        body, check = text[:-3], text[-3:]
        return f"{body[:3]}{'*' * (len(body) - 3)}{check}"
    keep = 4 if id_type is IdType.CN_RESIDENT_ID else 2
    return f"{text[:3]}{'*' * (len(text) - 3 - keep)}{text[-keep:]}"


def mask_name(name: str) -> str:
    """``陳大明`` → ``陳*明``; ``陳明`` → ``陳*``; ``Chan Tai Man`` → ``C*** T** M**``."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise SimError("the holder's name is required")
    if any(unicodedata.east_asian_width(c) in ("W", "F") for c in name):
        chars = name.replace(" ", "")
        if len(chars) <= 2:
            return chars[0] + "*"
        return chars[0] + "*" * (len(chars) - 2) + chars[-1]
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())


@dataclass(frozen=True, slots=True)
class Plan:
    code: str
    names: Names
    currency: str
    retention: Retention
    monthly_fee: int  # minor units; 0 for validity plans
    grace_days: int = 30  # receive-only, then suspended
    suspension_days: int = 60  # barred, then recycled

    def __post_init__(self) -> None:
        check_currency(self.currency)

    def name(self, locale: str) -> str:
        """The plan's name as a reader of ``locale`` reads it."""
        return self.names.pick(locale)


@dataclass(frozen=True, slots=True)
class Sim:
    id: int
    iccid: str
    home_currency: str
    plan_code: str
    state: SimState
    hk_number: Number
    cn_number: Number
    holder_masked: str
    id_type: IdType
    id_masked: str
    validity_until: datetime | None
    created_at: datetime
    state_since: datetime | None = None  # None: since it was issued
    billing_day: int | None = None  # monthly-fee plans (None until the first run or issue)
    next_fee_on: date | None = None
    arrears_minor: int = 0  # fees owed


@dataclass(frozen=True, slots=True)
class SimAccount:
    """A SIM as its holder sees it: the card, its plan and what is on it."""

    sim: Sim
    plan: Plan
    balance: Money
    bonus: Money


@dataclass(frozen=True, slots=True)
class Holder:
    """An account that holds a SIM, as the SIM's holders see it."""

    subscriber_id: int
    phone_masked: str  # +852 6***4567
    linked_at: datetime
