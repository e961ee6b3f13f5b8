"""Points on the Earth in micro-degrees, great-circle distances, and the box around a circle.

Design overview
---------------
* A coordinate is an integer of micro-degrees (``lat_e6``: 22.281234° is 22281234): stored,
  indexed and compared exactly, with no float surprises; a decimal string such as
  ``"22.281234"`` is read into one digit by digit (``parse_degrees``).
* ``distance_m`` is the haversine great-circle distance on the mean Earth radius, rounded to
  the metre — well inside what a person walking to a shop cares about.
* ``box`` is the smallest latitude/longitude box around a circle: what the finder asks the
  indexed columns for before it measures each row. Near the poles or across the 180th
  meridian the box would wrap; there are no outlets there, so it is clamped instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from simkeep.errors import Refusal

EARTH_RADIUS_M = 6_371_008.8
E6 = 1_000_000
MAX_LAT_E6 = 90 * E6
MAX_LON_E6 = 180 * E6
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180
MAX_DEGREES_TEXT = 16


class InvalidPoint(Refusal):
    """A point that is not on the Earth."""

    code = "invalid_point"


@dataclass(frozen=True, slots=True)
class Point:
    lat_e6: int
    lon_e6: int

    def __post_init__(self) -> None:
        if not -MAX_LAT_E6 <= self.lat_e6 <= MAX_LAT_E6:
            raise InvalidPoint("a latitude is between -90 and 90 degrees")
        if not -MAX_LON_E6 <= self.lon_e6 <= MAX_LON_E6:
            raise InvalidPoint("a longitude is between -180 and 180 degrees")


@dataclass(frozen=True, slots=True)
class Box:
    min_lat_e6: int
    max_lat_e6: int
    min_lon_e6: int
    max_lon_e6: int


def distance_m(a: Point, b: Point) -> int:
    """The great-circle distance between two points, in whole metres (haversine)."""
    lat1, lat2 = math.radians(a.lat_e6 / E6), math.radians(b.lat_e6 / E6)
    dlat = lat2 - lat1
    dlon = math.radians((b.lon_e6 - a.lon_e6) / E6)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))


def box(centre: Point, radius_m: int) -> Box:
    """The latitude/longitude box that holds every point within ``radius_m`` of ``centre``."""
    dlat_e6 = math.ceil(radius_m / METRES_PER_DEGREE * E6)
    min_lat = max(-MAX_LAT_E6, centre.lat_e6 - dlat_e6)
    max_lat = min(MAX_LAT_E6, centre.lat_e6 + dlat_e6)
    widest = max(abs(min_lat), abs(max_lat)) / E6  # the box is widest at its far edge
    cos_lat = math.cos(math.radians(widest))
    if cos_lat < 1e-6:
        return Box(min_lat, max_lat, -MAX_LON_E6, MAX_LON_E6)
    dlon_e6 = math.ceil(dlat_e6 / cos_lat)
    return Box(
        min_lat,
        max_lat,
        max(-MAX_LON_E6, centre.lon_e6 - dlon_e6),
        min(MAX_LON_E6, centre.lon_e6 + dlon_e6),
    )


def parse_degrees(text: str, *, limit: int) -> int:
    """Decimal degrees written as text (``"22.281234"``) in micro-degrees, exactly; at most
    six decimals, within ±``limit`` degrees."""
    cleaned = text.strip()
    if len(cleaned) > MAX_DEGREES_TEXT:
        raise InvalidPoint(f"{cleaned[:MAX_DEGREES_TEXT]!r}… is too long for degrees")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidPoint(f"{cleaned!r} is not a number of degrees") from None
    if not value.is_finite() or value.as_tuple().exponent < -6:  # type: ignore[operator]
        raise InvalidPoint(f"{cleaned!r}: degrees with at most six decimals")
    if not -limit <= value <= limit:
        raise InvalidPoint(f"{cleaned!r}: degrees between -{limit} and {limit}")
    return int(value * E6)


def degrees_text(e6: int) -> str:
    """Micro-degrees as a decimal string with six decimals (``22281234`` → ``"22.281234"``)."""
    sign = "-" if e6 < 0 else ""
    whole, fraction = divmod(abs(e6), E6)
    return f"{sign}{whole}.{fraction:06d}"
