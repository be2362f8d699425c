"""Cron expressions in a time zone: validation and fire times across daylight-saving changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from app.errors import InvalidInput
from app.services.scheduling import cron

NY = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_spring_forward_day_fires_0230_once_at_the_first_valid_instant() -> None:
    # 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 does not exist that day.
    times = cron.next_fire_times("30 2 * * *", NY, utc(2026, 3, 7, 17, 0), 3)
    assert times == [
        utc(2026, 3, 8, 7, 0),
        utc(2026, 3, 9, 6, 30),
        utc(2026, 3, 10, 6, 30),
    ]  # 03:00 EDT, then 02:30 EDT


def test_fall_back_day_fires_0230_once() -> None:
    # 2026-11-01 02:00 EDT falls back to 01:00 EST; 02:30 happens once, in EST.
    times = cron.next_fire_times("30 2 * * *", NY, utc(2026, 10, 31, 16, 0), 3)
    assert times == [utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30), utc(2026, 11, 3, 7, 30)]


def test_a_time_inside_the_repeated_hour_fires_once_even_when_asked_from_inside_it() -> None:
    assert cron.next_fire_times("30 1 * * *", NY, utc(2026, 10, 31, 16, 0), 2) == [
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT
        utc(2026, 11, 2, 6, 30),  # not 01:30 EST the same night
    ]
    # From 01:10 EST (after 01:30 EDT already fired) the next is tomorrow, never an instant in the past.
    assert cron.next_fire_time("30 1 * * *", NY, utc(2026, 11, 1, 6, 10)) == utc(2026, 11, 2, 6, 30)


def test_fire_times_strictly_increase_through_both_transitions() -> None:
    times = cron.next_fire_times("*/20 * * * *", NY, utc(2026, 3, 8, 5, 0), 12)
    assert all(a < b for a, b in itertools.pairwise(times))
    times = cron.next_fire_times("*/20 * * * *", NY, utc(2026, 11, 1, 4, 0), 12)
    assert all(a < b for a, b in itertools.pairwise(times))


def test_window_helpers() -> None:
    first = utc(2026, 5, 1, 10, 0)
    assert cron.fire_times_until("* * * * *", "UTC", first, utc(2026, 5, 1, 10, 3, 30), limit=100) == [
        first,
        utc(2026, 5, 1, 10, 1),
        utc(2026, 5, 1, 10, 2),
        utc(2026, 5, 1, 10, 3),
    ]
    assert cron.latest_fire_time("* * * * *", "UTC", first, utc(2026, 5, 1, 10, 3, 30)) == utc(2026, 5, 1, 10, 3)
    assert cron.latest_fire_time("0 0 * * *", "UTC", first, utc(2026, 5, 1, 10, 3)) == first


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("* * *", "expected 5 fields"),
        ("* * * * * *", "expected 5 fields"),  # no seconds field: at most once a minute
        ("61 * * * *", "Bad minute"),
        ("0 0 30 2 *", "Bad day-of-month"),
        ("", "expected 5 fields"),
    ],
)
def test_bad_cron_is_422_with_the_reason(expression: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        cron.normalize_cron(expression)
    assert reason in caught.value.detail


def test_aliases_and_spacing_normalize() -> None:
    assert cron.normalize_cron("@daily") == "0 0 * * *"
    assert cron.normalize_cron("  30   2 * *  * ") == "30 2 * * *"
    assert cron.describe("30 2 * * *") == "At 02:30 every day"


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "", "EST5EDT_not"])
def test_unknown_time_zone_is_422(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        cron.zone(name)
    assert "Unknown time zone" in caught.value.detail
