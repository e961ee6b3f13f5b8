"""Agents and outlets without I/O: what they are and what makes one valid (docs/outlets.md).

Design overview
---------------
* An ``Agent`` is a company that owns outlets: a code, names in three languages, a
  commission in basis points of each sale (0–2000: up to 20 %), a credit limit in minor
  units that its float may go below zero by, a state.
* An ``Outlet`` is a counter where people top up: a code, its agent, a kind (an operator's
  own shop, a convenience store, a mall kiosk), names and addresses in three languages, a
  district (``districts``; the district gives the region and the region the currency it
  sells in), coordinates in micro-degrees (``geo``), opening hours (``hours``), the services
  it offers (cash, card, selling vouchers) and a phone.
* ``check_agent`` and ``check_outlet`` refuse what cannot be meant, naming the field, so an
  import names the row and the field of each mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from simkeep.errors import Refusal
from simkeep.names import Names
from simkeep.outlets.districts import Region, district
from simkeep.outlets.geo import MAX_LAT_E6, MAX_LON_E6, degrees_text
from simkeep.outlets.hours import Hours

MAX_COMMISSION_BP = 2_000
MAX_CREDIT_LIMIT_MINOR = 100_000_000_000  # a billion of the currency: a slip of the finger
MAX_NAME = 100
MAX_ADDRESS = 200
MAX_PHONE = 20
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,15}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,18}$")


class OutletError(Refusal):
    """An agent or outlet that cannot be meant; ``field`` names what to fix."""

    code = "invalid_outlet"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownOutlet(Refusal):
    code = "unknown_outlet"


class UnknownAgent(Refusal):
    code = "unknown_agent"


class OutletKind(StrEnum):
    OPERATOR_SHOP = "operator_shop"  # the operator's own shop (營業廳)
    CONVENIENCE_STORE = "convenience_store"
    MALL_KIOSK = "mall_kiosk"


class Service(StrEnum):
    CASH = "cash"  # takes cash for a top-up
    CARD = "card"  # takes a bank card for a top-up
    VOUCHER_SALE = "voucher_sale"  # sells top-up vouchers


class AgentState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class OutletState(StrEnum):
    OPEN = "open"  # trading: listed by the finder
    CLOSED = "closed"  # closed for good: kept for its history, not listed


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    code: str
    names: Names
    commission_bp: int
    credit_limit_minor: int
    state: AgentState


@dataclass(frozen=True, slots=True)
class NewOutlet:
    code: str
    agent_id: int
    kind: OutletKind
    names: Names
    addresses: Names
    district: str
    lat_e6: int
    lon_e6: int
    hours: Hours
    services: frozenset[Service]
    phone: str | None = None

    @property
    def region(self) -> Region:
        """The region of its district (``check_outlet`` has made sure there is one)."""
        found = district(self.district)
        if found is None:
            raise OutletError("district", f"no district {self.district!r}")
        return found.region


@dataclass(frozen=True, slots=True)
class Outlet:
    id: int
    code: str
    agent_id: int
    kind: OutletKind
    names: Names
    addresses: Names
    region: Region
    district: str
    lat_e6: int
    lon_e6: int
    hours: Hours
    services: frozenset[Service]
    phone: str | None
    currency: str
    state: OutletState


def check_code(field: str, code: str) -> str:
    """An agent's or outlet's code: 2–16 capitals, digits and dashes."""
    if not _CODE.match(code):
        raise OutletError(field, f"{code[:20]!r}: a code is 2–16 capitals, digits or dashes")
    return code


def check_names(field: str, names: Names, *, length: int) -> Names:
    """Names no longer than the column holds."""
    written = (("zh-Hant", names.zh_hant_hk), ("zh-Hans", names.zh_hans_cn), ("en", names.en))
    for language, value in written:
        if len(value) > length:
            raise OutletError(field, f"the {language} {field} is over {length} characters")
    return names


def check_agent(*, code: str, names: Names, commission_bp: int, credit_limit_minor: int) -> None:
    """Refuse an agent that cannot be meant, naming the field."""
    check_code("code", code)
    check_names("name", names, length=MAX_NAME)
    if not 0 <= commission_bp <= MAX_COMMISSION_BP:
        raise OutletError("commission_bp", "a commission is 0 to 2000 basis points (0–20 %)")
    if not 0 <= credit_limit_minor <= MAX_CREDIT_LIMIT_MINOR:
        raise OutletError("credit_limit_minor", "a credit limit is 0 or more, in minor units")


def check_outlet(outlet: NewOutlet) -> None:
    """Refuse an outlet that cannot be meant, naming the field."""
    check_code("code", outlet.code)
    check_names("name", outlet.names, length=MAX_NAME)
    check_names("address", outlet.addresses, length=MAX_ADDRESS)
    if district(outlet.district) is None:
        raise OutletError("district", f"no district {outlet.district[:40]!r}")
    if not -MAX_LAT_E6 <= outlet.lat_e6 <= MAX_LAT_E6:
        raise OutletError("lat", "a latitude is between -90 and 90 degrees")
    if not -MAX_LON_E6 <= outlet.lon_e6 <= MAX_LON_E6:
        raise OutletError("lon", "a longitude is between -180 and 180 degrees")
    if not outlet.services:
        raise OutletError("services", "an outlet offers at least one service")
    if outlet.phone is not None and not _PHONE.match(outlet.phone):
        raise OutletError("phone", f"{outlet.phone[:24]!r} is not a phone number")


def services_of(words: Iterable[str]) -> frozenset[Service]:
    """Services named by their words (``cash``, ``card``, ``voucher_sale``)."""
    found = set()
    for word in words:
        try:
            found.add(Service(word))
        except ValueError:
            raise OutletError("services", f"{word[:20]!r} is not a service") from None
    return frozenset(found)


def directions_url(outlet: Outlet, name: str) -> str:
    """A link that shows the way to the outlet: Google Maps in Hong Kong, Amap (高德) on the
    Mainland, where Google's maps do not reach; coordinates are WGS-84, as Amap is told."""
    lat, lon = degrees_text(outlet.lat_e6), degrees_text(outlet.lon_e6)
    if outlet.region is Region.HK:
        return f"https://www.google.com/maps/dir/?api=1&destination={lat},{lon}"
    query = urlencode({"position": f"{lon},{lat}", "name": name, "coordinate": "wgs84"}, safe=",")
    return f"https://uri.amap.com/marker?{query}"
