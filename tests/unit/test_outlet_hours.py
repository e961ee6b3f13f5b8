"""Opening hours: open now across midnight and at the week's wrap (Sunday night into
Monday), in Hong Kong time whatever the instant's zone; hours written by people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simkeep.clock import HONG_KONG
from simkeep.outlets.hours import ALWAYS, Hours, InvalidHours, parse_day, parse_week

CLOSED = "closed"


def hk(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in Hong Kong on a day of the week of 2026-11-30 (a Monday = 0)."""
    return datetime(2026, 11, 30, hour, minute, tzinfo=HONG_KONG) + timedelta(days=day)


def test_the_days_are_those_of_a_real_week() -> None:
    assert hk(0, 12).weekday() == 0
    assert hk(6, 12).weekday() == 6


def test_a_day_range_is_open_from_its_start_and_closed_at_its_end() -> None:
    hours = parse_week(["08:00-22:00"] * 7)
    assert not hours.is_open(hk(2, 7, 59))
    assert hours.is_open(hk(2, 8, 0))
    assert hours.is_open(hk(2, 21, 59))
    assert not hours.is_open(hk(2, 22, 0))


def test_a_range_past_midnight_holds_into_the_next_morning() -> None:
    hours = parse_week([CLOSED, "22:00-02:00", CLOSED, CLOSED, CLOSED, CLOSED, CLOSED])
    assert hours.day(1) == ((22 * 60, 26 * 60),)
    assert not hours.is_open(hk(1, 21, 59))
    assert hours.is_open(hk(1, 23, 30))
    assert hours.is_open(hk(2, 1, 59))  # Wednesday, closed itself, still Tuesday's night
    assert not hours.is_open(hk(2, 2, 0))
    assert not hours.is_open(hk(0, 1, 0))  # Monday: Sunday had no night


def test_sunday_night_holds_into_monday_morning() -> None:
    hours = parse_week([CLOSED] * 6 + ["20:00-03:00"])
    assert hours.is_open(hk(6, 23, 0))
    assert hours.is_open(hk(7, 2, 30))  # Monday 7 December
    assert not hours.is_open(hk(7, 3, 0))
    assert not hours.is_open(hk(5, 2, 30))  # Saturday had no night before it


def test_the_instant_is_read_in_hong_kong_time() -> None:
    hours = parse_week(["09:00-17:00"] * 5 + [CLOSED, CLOSED])
    # 01:30 UTC on a Monday is 09:30 in Hong Kong; 10:00 UTC on a Friday is 18:00.
    assert hours.is_open(datetime(2026, 11, 30, 1, 30, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 12, 4, 10, 0, tzinfo=UTC))
    # 20:00 UTC on a Sunday is already Monday 04:00 in Hong Kong: closed, not Sunday's.
    assert not hours.is_open(datetime(2026, 12, 6, 20, 0, tzinfo=UTC))


def test_round_the_clock_is_open_at_every_minute() -> None:
    assert parse_week(["24h"] * 7) == ALWAYS
    assert ALWAYS.is_open(hk(0, 0, 0))
    assert ALWAYS.is_open(hk(6, 23, 59))
    assert ALWAYS.is_open(hk(3, 12, 0))


def test_people_write_several_ranges_and_closed_days() -> None:
    assert parse_day("08:00-12:00, 13:30-20:00") == ((480, 720), (810, 1200))
    assert parse_day("00:00-24:00") == ((0, 1440),)
    assert parse_day("") == ()
    assert parse_day(" Closed ") == ()
    hours = parse_week(["08:00-12:00,13:30-20:00"] * 7)
    assert not hours.is_open(hk(0, 12, 45))
    assert hours.is_open(hk(0, 13, 30))


def test_hours_are_stored_and_read_back_as_json() -> None:
    hours = parse_week(["08:00-12:00,13:30-20:00", "22:00-02:00", "24h"] + [CLOSED] * 4)
    stored = hours.to_json()
    assert stored == {
        "mon": [["08:00", "12:00"], ["13:30", "20:00"]],
        "tue": [["22:00", "26:00"]],
        "wed": [["00:00", "24:00"]],
    }
    assert Hours.of_json(stored) == hours


@pytest.mark.parametrize(
    "text",
    ["8-22", "08:00", "08:00-25:00", "24:00-02:00", "08:61-09:00", "x" * 65, "09:00-09:00x"],
)
def test_a_day_that_cannot_be_read_is_refused(text: str) -> None:
    with pytest.raises(InvalidHours):
        parse_day(text)


def test_ranges_that_overlap_or_too_many_are_refused() -> None:
    with pytest.raises(InvalidHours, match="overlap"):
        parse_week(["08:00-12:00,11:00-14:00"] + [CLOSED] * 6)
    with pytest.raises(InvalidHours, match="at most"):
        parse_week(["01:00-02:00,03:00-04:00,05:00-06:00,07:00-08:00,09:00-10:00"] * 7)
    with pytest.raises(InvalidHours, match="seven"):
        Hours(((),) * 6)
    with pytest.raises(InvalidHours, match="unknown day"):
        Hours.of_json({"monday": [["08:00", "10:00"]]})
