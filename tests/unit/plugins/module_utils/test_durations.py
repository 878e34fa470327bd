# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Durations as users write them, Go durations as kured stores them, and kured's nanosecond timestamps."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.durations import (
    datetime_to_nanos,
    format_go_duration,
    format_go_time,
    format_micro_time,
    parse_duration,
    parse_go_duration,
    parse_go_time,
    seconds_to_nanos,
)


@pytest.mark.parametrize("value, seconds", [
    (0, 0), ("0", 0), (90, 90), ("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400),
    ("2h0m5s", 7205), (" 45s ", 45), (1.5, 1.5), ("0.5h", 1800),
])
def test_user_durations_become_seconds(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "abc", "1d", "30 m", "m30", "-5", True, "1h-30m", "inf", "nan"])
def test_bad_user_durations_say_what_is_wrong(value: object) -> None:
    with pytest.raises(ValueError, match="ttl"):
        parse_duration(value, "ttl")


@pytest.mark.parametrize("text, nanos", [
    ("0", 0), ("0s", 0), ("1h", 3_600_000_000_000), ("1h30m", 5_400_000_000_000), ("1.5h", 5_400_000_000_000),
    ("300ms", 300_000_000), ("1us", 1_000), ("1\u00b5s", 1_000), ("7ns", 7), ("-2s", -2_000_000_000),
    ("1h0m0.5s", 3_600_500_000_000), (".5s", 500_000_000),
])
def test_go_durations_parse_like_time_parse_duration(text: str, nanos: int) -> None:
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "1", "1d", "h", "1h 30m", "--1s"])
def test_bad_go_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize("nanos, text", [
    (0, "0s"), (1, "1ns"), (1_500, "1.5\u00b5s"), (300_000_000, "300ms"), (1_000_000_000, "1s"),
    (1_500_000_000, "1.5s"), (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"),
    (5_400_000_000_000, "1h30m0s"), (-2_000_000_000, "-2s"),
])
def test_go_durations_format_like_duration_string(nanos: int, text: str) -> None:
    assert format_go_duration(nanos) == text
    assert parse_go_duration(text) == nanos


def test_seconds_become_a_go_duration_in_nanoseconds() -> None:
    assert seconds_to_nanos(1800) == 1_800_000_000_000
    assert seconds_to_nanos(0.000000001) == 1


def test_kured_timestamps_round_trip_exactly_with_nine_digits() -> None:
    text = "2024-05-31T06:31:37.441623522Z"
    nanos = parse_go_time(text)
    assert nanos % 1_000_000_000 == 441_623_522
    assert format_go_time(nanos) == text


@pytest.mark.parametrize("text, expected", [
    ("2024-05-31T06:31:37Z", "2024-05-31T06:31:37Z"),
    ("2024-05-31T06:31:37.5Z", "2024-05-31T06:31:37.5Z"),
    ("2024-05-31T06:31:37.500000000Z", "2024-05-31T06:31:37.5Z"),  # Go's RFC3339Nano trims trailing zeros
    ("2024-05-31T08:31:37.000000001+02:00", "2024-05-31T06:31:37.000000001Z"),
])
def test_timestamps_are_written_as_go_rfc3339nano_in_utc(text: str, expected: str) -> None:
    assert format_go_time(parse_go_time(text)) == expected


def test_epoch_and_pre_epoch_moments_are_exact() -> None:
    assert parse_go_time("1970-01-01T00:00:00Z") == 0
    assert parse_go_time("0001-01-01T00:00:00Z") < 0  # Go's zero time, what an empty created marshals to
    assert format_go_time(parse_go_time("0001-01-01T00:00:00Z")) == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize("text", ["", "yesterday", "2024-05-31 06:31:37Z", "2024-05-31T06:31:37", "2024-05-31T06:31:37.1234567890Z"])
def test_malformed_timestamps_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_time(text)


def test_datetimes_and_micro_times_for_leases() -> None:
    moment = datetime.datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=datetime.timezone.utc)
    nanos = datetime_to_nanos(moment)
    assert format_micro_time(nanos) == "2026-11-23T01:02:03.456789Z"
    assert datetime_to_nanos(moment.replace(tzinfo=None)) == nanos
    assert format_micro_time(parse_go_time("2026-11-23T01:02:03Z")) == "2026-11-23T01:02:03.000000Z"
