# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reboot window's edges (midnight, the inclusive end, DST in Europe/Berlin and America/New_York) and kured's
day and time forms."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.window import (
    RebootWindow,
    parse_day,
    parse_time_of_day,
    wall_to_instant,
)

UTC = datetime.timezone.utc


def utc(text: str) -> datetime.datetime:
    """'2026-11-23 22:00:00' as a UTC instant (2026-11-23 is a Monday)."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(days: str, start: str, end: str, zone: str = "UTC", match: str = "current_day") -> RebootWindow:
    return RebootWindow.parse(days.split(","), start, end, zone, match)


# ------------------------------------------------------------------------------------------ days and times


@pytest.mark.parametrize("text, weekday", [
    ("su", 6), ("Sun", 6), ("SUNDAY", 6), ("0", 6), ("mo", 0), ("mon", 0), ("Monday", 0), ("1", 0),
    ("tu", 1), ("tue", 1), ("we", 2), ("wed", 2), ("th", 3), ("thu", 3), ("thursday", 3), ("fr", 4), ("sa", 5),
    ("6", 5), (" fri ", 4),
])
def test_kured_day_forms(text: str, weekday: int) -> None:
    assert parse_day(text) == weekday


@pytest.mark.parametrize("text", ["7", "s", "tues", "mondays", "", "-1"])
def test_days_kured_refuses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="reboot_days"):
        parse_day(text)


@pytest.mark.parametrize("text, expected", [
    ("15:04", (15, 4, 0)), ("15:04:05", (15, 4, 5)), ("0:00", (0, 0, 0)), ("23:59:59", (23, 59, 59)),
    ("15", (15, 0, 0)), ("3pm", (15, 0, 0)), ("03pm", (15, 0, 0)), ("03:04pm", (15, 4, 0)),
    ("3:04 PM", (15, 4, 0)), ("12am", (0, 0, 0)), ("12pm", (12, 0, 0)), ("9am", (9, 0, 0)),
    ("10:30p.m.", (22, 30, 0)),
])
def test_kured_time_forms(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_time_of_day(text, "start_time") == datetime.time(*expected)


@pytest.mark.parametrize("text", ["24:00", "12:60", "13pm", "0am", "noon", "3 o'clock", ""])
def test_times_out_of_range_or_unknown_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="end_time"):
        parse_time_of_day(text, "end_time")


def test_an_unknown_time_zone_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        window("mo", "1:00", "2:00", "Mars/Olympus_Mons")


def test_an_empty_day_list_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        RebootWindow.parse([], "1:00", "2:00", "UTC")


# ------------------------------------------------------------------------------------------ plain windows


def test_the_default_window_is_always_open() -> None:
    always = window("su,mo,tu,we,th,fr,sa", "0:00", "23:59:59")
    for hour in range(24):
        assert always.contains(utc(f"2026-11-25 {hour:02d}:30:00"))
    assert always.contains(utc("2026-11-25 23:59:59.999999"))
    assert always.contains(utc("2026-11-26 00:00:00"))


@pytest.mark.parametrize("moment, inside", [
    ("2026-11-23 08:59:59.999999", False),
    ("2026-11-23 09:00:00", True),
    ("2026-11-23 12:00:00", True),
    ("2026-11-23 17:00:00", True),
    ("2026-11-23 17:00:00.999999", True),  # the end is inclusive to the end of its second, as in kured
    ("2026-11-23 17:00:01", False),
    ("2026-11-24 12:00:00", False),  # Tuesday
])
def test_the_end_is_inclusive(moment: str, inside: bool) -> None:
    assert window("mo", "9:00", "17:00").contains(utc(moment)) is inside


def test_a_window_in_another_zone_is_compared_in_that_zone() -> None:
    # 9am-5pm in New York is 14:00-22:00 UTC in November (EST, UTC-5).
    new_york = window("mo", "9am", "5pm", "America/New_York")
    assert not new_york.contains(utc("2026-11-23 13:59:59"))
    assert new_york.contains(utc("2026-11-23 14:00:00"))
    assert new_york.contains(utc("2026-11-23 22:00:00"))
    assert not new_york.contains(utc("2026-11-23 22:00:01"))


def test_the_day_is_the_local_day_not_the_utc_day() -> None:
    # Monday 01:00 in Tokyo is Sunday 16:00 UTC.
    tokyo = window("mo", "0:00", "2:00", "Asia/Tokyo")
    assert tokyo.contains(utc("2026-11-22 16:00:00"))
    assert not tokyo.contains(utc("2026-11-23 16:00:00"))


# ------------------------------------------------------------------------------------------ midnight


@pytest.mark.parametrize("moment, kured, window_start", [
    ("2026-11-22 23:00:00", False, False),  # Sunday night: Sunday is not listed
    ("2026-11-23 00:00:00", True, False),   # Monday 00:00: kured counts Monday's early morning
    ("2026-11-23 03:00:00", True, False),
    ("2026-11-23 04:00:00.5", True, False),
    ("2026-11-23 04:00:01", False, False),
    ("2026-11-23 21:59:59", False, False),
    ("2026-11-23 22:00:00", True, True),    # Monday evening: both
    ("2026-11-23 23:59:59.999999", True, True),
    ("2026-11-24 00:00:00", False, True),   # Tuesday early morning belongs to Monday's window
    ("2026-11-24 04:00:00", False, True),
    ("2026-11-24 04:00:01", False, False),
    ("2026-11-24 22:00:00", False, False),
])
def test_a_window_wrapping_past_midnight(moment: str, kured: bool, window_start: bool) -> None:
    assert window("mo", "22:00", "04:00").contains(utc(moment)) is kured
    assert window("mo", "22:00", "04:00", match="window_start").contains(utc(moment)) is window_start


def test_a_wrapping_window_on_consecutive_days_is_one_night_long_stretch() -> None:
    nights = window("mo,tu", "22:00", "04:00", match="window_start")
    assert nights.contains(utc("2026-11-24 03:00:00"))  # Monday's night
    assert nights.contains(utc("2026-11-25 03:00:00"))  # Tuesday's night
    assert not nights.contains(utc("2026-11-26 03:00:00"))  # Wednesday's night is not listed


def test_windows_that_do_not_wrap_ignore_the_day_matching() -> None:
    for moment in ("2026-11-23 10:00:00", "2026-11-24 10:00:00", "2026-11-23 18:00:00"):
        assert (window("mo", "9:00", "17:00").contains(utc(moment))
                == window("mo", "9:00", "17:00", match="window_start").contains(utc(moment)))


# ------------------------------------------------------------------------------------------ DST


def test_berlin_spring_forward_a_window_starting_in_the_gap_opens_at_the_jump() -> None:
    # Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC). 02:30 never shows on the clock.
    gap = window("su", "2:30", "5:00", "Europe/Berlin")
    assert not gap.contains(utc("2026-03-29 00:59:59"))  # 01:59:59 CET
    assert gap.contains(utc("2026-03-29 01:00:00"))      # 03:00:00 CEST
    assert gap.contains(utc("2026-03-29 03:00:00"))      # 05:00:00 CEST
    assert not gap.contains(utc("2026-03-29 03:00:01"))
    assert gap.next_start(utc("2026-03-28 12:00:00")) == utc("2026-03-29 01:00:00")


def test_berlin_spring_forward_a_night_window_is_an_hour_shorter() -> None:
    night = window("sa", "22:00", "4:00", "Europe/Berlin", match="window_start")
    assert night.contains(utc("2026-03-28 21:00:00"))      # Saturday 22:00 CET
    assert night.contains(utc("2026-03-29 00:59:59"))      # 01:59:59 CET
    assert night.contains(utc("2026-03-29 01:00:00"))      # 03:00:00 CEST
    assert night.contains(utc("2026-03-29 02:00:00"))      # 04:00:00 CEST
    assert not night.contains(utc("2026-03-29 02:00:01"))
    assert open_seconds(night, utc("2026-03-28 20:00:00"), utc("2026-03-29 04:00:00")) == 5 * 3600 + 1


def test_berlin_fall_back_the_repeated_hour_is_inside_twice() -> None:
    # Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:00-03:00 happens twice.
    repeated = window("su", "2:00", "2:59:59", "Europe/Berlin")
    assert repeated.contains(utc("2026-10-25 00:30:00"))      # 02:30 CEST
    assert repeated.contains(utc("2026-10-25 00:59:59.9"))    # 02:59:59.9 CEST: the end's second counts
    assert repeated.contains(utc("2026-10-25 01:30:00"))      # 02:30 CET, the second time
    assert not repeated.contains(utc("2026-10-25 02:00:00"))  # 03:00 CET
    assert open_seconds(repeated, utc("2026-10-24 23:00:00"), utc("2026-10-25 03:00:00")) == 2 * 3600


def test_new_york_spring_forward_shortens_a_window_across_the_jump() -> None:
    # Sunday 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    early = window("su", "1:30", "2:30", "America/New_York")
    assert early.contains(utc("2026-03-08 06:30:00"))      # 01:30 EST
    assert early.contains(utc("2026-03-08 06:59:59"))      # 01:59:59 EST
    assert not early.contains(utc("2026-03-08 07:00:00"))  # 03:00 EDT: past the end
    assert open_seconds(early, utc("2026-03-08 05:00:00"), utc("2026-03-08 09:00:00")) == 30 * 60


def test_new_york_fall_back_the_repeated_hour_is_inside_twice() -> None:
    # Sunday 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC).
    repeated = window("su", "1:00", "1:59:59", "America/New_York")
    assert repeated.contains(utc("2026-11-01 05:30:00"))  # 01:30 EDT
    assert repeated.contains(utc("2026-11-01 06:30:00"))  # 01:30 EST
    assert not repeated.contains(utc("2026-11-01 07:00:00"))
    assert repeated.next_start(utc("2026-10-31 12:00:00")) == utc("2026-11-01 05:00:00")  # the first 01:00


def test_the_window_keeps_its_wall_clock_times_across_a_dst_change() -> None:
    daily = window("su,mo,tu,we,th,fr,sa", "3:00", "4:00", "Europe/Berlin")
    assert daily.contains(utc("2026-03-28 02:30:00"))  # 03:30 CET
    assert daily.contains(utc("2026-03-30 01:30:00"))  # 03:30 CEST
    assert not daily.contains(utc("2026-03-30 02:30:00"))


def open_seconds(w: RebootWindow, start: datetime.datetime, end: datetime.datetime) -> int:
    """Seconds (sampled each second, at .5) for which the window is open between two instants."""
    moment, total = start + datetime.timedelta(seconds=0.5), 0
    while moment < end:
        total += w.contains(moment)
        moment += datetime.timedelta(seconds=1)
    return total


def test_wall_to_instant_in_a_gap_is_the_transition() -> None:
    from zoneinfo import ZoneInfo

    assert wall_to_instant(datetime.date(2026, 3, 29), datetime.time(2, 30), ZoneInfo("Europe/Berlin")) == utc(
        "2026-03-29 01:00:00")
    assert wall_to_instant(datetime.date(2026, 3, 8), datetime.time(2, 0), ZoneInfo("America/New_York")) == utc(
        "2026-03-08 07:00:00")


# ------------------------------------------------------------------------------------------ next start


def test_next_start_is_none_while_open() -> None:
    assert window("mo", "9:00", "17:00").next_start(utc("2026-11-23 10:00:00")) is None


def test_next_start_later_today_or_next_week() -> None:
    monday = window("mo", "9:00", "17:00")
    assert monday.next_start(utc("2026-11-23 08:00:00")) == utc("2026-11-23 09:00:00")
    assert monday.next_start(utc("2026-11-23 18:00:00")) == utc("2026-11-30 09:00:00")


def test_next_start_of_a_wrapping_window_follows_the_day_matching() -> None:
    sunday_noon = utc("2026-11-22 12:00:00")
    assert window("mo", "22:00", "4:00").next_start(sunday_noon) == utc("2026-11-23 00:00:00")
    assert window("mo", "22:00", "4:00", match="window_start").next_start(sunday_noon) == utc("2026-11-23 22:00:00")
