"""Points in micro-degrees: great-circle distances (worked examples), the box around a
circle, and degrees read from text exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simkeep.outlets.geo import (
    InvalidPoint,
    Point,
    box,
    degrees_text,
    distance_m,
    parse_degrees,
)


def test_a_degree_of_latitude_is_111_km() -> None:
    # 2πR/360 on the mean radius 6,371,008.8 m: 111,195 m, anywhere along a meridian.
    assert distance_m(Point(22_000_000, 114_000_000), Point(23_000_000, 114_000_000)) == 111_195
    assert distance_m(Point(0, 0), Point(0, 1_000_000)) == 111_195


def test_a_degree_of_longitude_shrinks_with_the_cosine_of_latitude() -> None:
    # At 60° north a degree of longitude is about half of one at the equator.
    assert distance_m(Point(60_000_000, 0), Point(60_000_000, 1_000_000)) == 55_597


def test_central_to_the_guangzhou_tower() -> None:
    # Central (22.2819, 114.1581) to Canton Tower (23.1064, 113.3245): about 125 km.
    central, canton = Point(22_281_900, 114_158_100), Point(23_106_400, 113_324_500)
    assert 124_000 < distance_m(central, canton) < 126_000
    assert distance_m(central, canton) == distance_m(canton, central)
    assert distance_m(central, central) == 0


@given(
    lat=st.integers(-80_000_000, 80_000_000),
    lon=st.integers(-170_000_000, 170_000_000),
    radius=st.integers(1, 100_000),
    bearing_lat=st.integers(-1_000_000, 1_000_000),
    bearing_lon=st.integers(-1_000_000, 1_000_000),
)
def test_the_box_holds_every_point_of_the_circle(
    lat: int, lon: int, radius: int, bearing_lat: int, bearing_lon: int
) -> None:
    centre = Point(lat, lon)
    edges = box(centre, radius)
    other = Point(lat + bearing_lat, lon + bearing_lon)
    if distance_m(centre, other) < radius:
        assert edges.min_lat_e6 <= other.lat_e6 <= edges.max_lat_e6
        assert edges.min_lon_e6 <= other.lon_e6 <= edges.max_lon_e6


def test_the_box_is_no_bigger_than_it_needs_to_be() -> None:
    edges = box(Point(22_300_000, 114_170_000), 1_000)
    assert edges.max_lat_e6 - 22_300_000 == 8_994  # 1 km is 0.008994° of latitude
    assert 9_700 < edges.max_lon_e6 - 114_170_000 < 9_800  # wider by 1/cos 22.3°


def test_degrees_are_read_exactly() -> None:
    assert parse_degrees("22.281234", limit=90) == 22_281_234
    assert parse_degrees("-0.000001", limit=90) == -1
    assert parse_degrees(" 114.1 ", limit=180) == 114_100_000
    assert degrees_text(22_281_234) == "22.281234"
    assert degrees_text(-1) == "-0.000001"
    assert degrees_text(114_000_000) == "114.000000"


@pytest.mark.parametrize(
    "text", ["", "abc", "NaN", "inf", "91", "22.1234567", "1e3", "9" * 20, "0x10"]
)
def test_degrees_that_cannot_be_meant_are_refused(text: str) -> None:
    with pytest.raises(InvalidPoint):
        parse_degrees(text, limit=90)


def test_a_point_off_the_earth_is_refused() -> None:
    with pytest.raises(InvalidPoint):
        Point(90_000_001, 0)
    with pytest.raises(InvalidPoint):
        Point(0, -180_000_001)
