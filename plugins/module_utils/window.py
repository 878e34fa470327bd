# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reboot window: days and a time range in a time zone, with kured's day and time forms. Time is always passed
in (``now``), so the edges — midnight, the inclusive end, DST — are unit-tested."""

from __future__ import annotations

import datetime
import re
import typing as t
from dataclasses import dataclass

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover - Python < 3.9 controllers are not supported
    ZoneInfo = None  # type: ignore[assignment,misc]
    ZoneInfoNotFoundError = KeyError  # type: ignore[assignment,misc]

UTC = datetime.timezone.utc
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAYS = ("su", "mo", "tu", "we", "th", "fr", "sa")
# kured's day forms: two letters, three letters, the full name (any case), or 0-6 with 0 = Sunday.
DAY_FORMS = {form: number for number, name in enumerate(DAY_NAMES) for form in (name[:2], name[:3], name)}
TIME_24H = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?$")
TIME_12H = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap])\.?m\.?$", re.IGNORECASE)
DAYS_MATCH = ("current_day", "window_start")


def parse_day(text: str) -> int:
    """Weekday number (Monday 0, as Python counts) from kured's forms."""
    value = str(text).strip().lower()
    if value.isdigit():
        if int(value) > 6:
            raise ValueError(f"reboot_days: {text!r} is out of range; numbers go from 0 (Sunday) to 6 (Saturday)")
        return (int(value) - 1) % 7
    if value in DAY_FORMS:
        return DAY_FORMS[value]
    raise ValueError(f"reboot_days: {text!r} is not a day; use su, mo, tu, we, th, fr, sa, three-letter or full "
                     "names, or 0-6 with 0 for Sunday")


def parse_time_of_day(text: str, option: str) -> datetime.time:
    """kured's forms (``15:04``, ``15:04:05``, ``15``, ``3pm``, ``03:04pm``) and a little more (``3:04 PM``)."""
    value = str(text).strip()
    match = TIME_24H.match(value)
    twelve = None
    if not match:
        match = TIME_12H.match(value)
        if not match:
            raise ValueError(f"{option}: {text!r} is not a time of day; use HH:MM, HH:MM:SS, HH, or 12-hour forms "
                             "like 3pm or 10:30pm")
        twelve = match.group(4).lower()
    hour, minute, second = int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0)
    if twelve is not None:
        if not 1 <= hour <= 12:
            raise ValueError(f"{option}: {text!r} is out of range (12-hour times go from 1 to 12)")
        hour = hour % 12 + (12 if twelve == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{option}: {text!r} is out of range")
    return datetime.time(hour, minute, second)


def load_zone(name: str) -> datetime.tzinfo:
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"time_zone: {name!r} is not an IANA time zone name (like Europe/Berlin or "
                         "America/New_York)") from error


def wall_to_instant(day: datetime.date, wall: datetime.time, zone: datetime.tzinfo) -> datetime.datetime:
    """The first instant at which the clocks of ``zone`` show ``wall`` (or later) on ``day``.

    A wall time in a spring-forward gap does not exist: the first instant at or after it is the transition itself.
    A repeated wall time (fall back) is taken at its first occurrence."""
    naive = datetime.datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=1 maps with the new offset to an earlier instant, fold=0 with the old one to a later one;
    # the transition lies between. Bisect to the second.
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    if low > high:
        low, high = high, low
    while (high - low) > datetime.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


@dataclass
class RebootWindow:
    """Days and a time range in a time zone, as kured's --reboot-days/--start-time/--end-time/--time-zone.

    The range is wall-clock time in ``zone``, so DST moves nothing: 02:00-03:00 is 02:00-03:00 on the clock on
    every day (on the night clocks go back, the repeated hour is inside twice; on the night they go forward,
    wall times in the gap never happen). The end is inclusive to the end of its second, as in kured: 04:00
    includes 04:00:00.999 but not 04:00:01. A start later than the end wraps past midnight. Which day must be
    listed in ``days``:

    - ``current_day`` (kured): the local day of the moment. A window 22:00-04:00 on ``mo`` covers Monday 00:00-04:00
      and Monday 22:00-24:00, not Tuesday morning.
    - ``window_start``: the day the window started. The same window covers Monday 22:00 to Tuesday 04:00.
    """

    days: frozenset[int]
    start: datetime.time
    end: datetime.time
    zone: datetime.tzinfo
    days_match: str = "current_day"

    @classmethod
    def parse(cls, days: t.Sequence[str], start: str, end: str, time_zone: str,
              days_match: str = "current_day") -> RebootWindow:
        if not days:
            raise ValueError("reboot_days is empty; give at least one day")
        if days_match not in DAYS_MATCH:
            raise ValueError(f"reboot_days_match: {days_match!r} is not one of {', '.join(DAYS_MATCH)}")
        return cls(frozenset(parse_day(day) for day in days), parse_time_of_day(start, "start_time"),
                   parse_time_of_day(end, "end_time"), load_zone(time_zone), days_match)

    @property
    def wraps(self) -> bool:
        return self.start > self.end

    @property
    def always(self) -> bool:
        return len(self.days) == 7 and self.start == datetime.time(0) and self.end >= datetime.time(23, 59, 59)

    def contains(self, moment: datetime.datetime) -> bool:
        local = moment.astimezone(self.zone)
        wall = local.time().replace(tzinfo=None)
        end = self.end.replace(microsecond=999999)
        day = local.date()
        if not self.wraps:
            inside = self.start <= wall <= end
        elif wall >= self.start:
            inside = True
        else:
            inside = wall <= end
            if inside and self.days_match == "window_start":
                day -= datetime.timedelta(days=1)
        return inside and day.weekday() in self.days

    def next_start(self, moment: datetime.datetime) -> datetime.datetime | None:
        """The first instant after ``moment`` at which the window opens; None when it is open now."""
        if self.contains(moment):
            return None
        today = moment.astimezone(self.zone).date()
        candidates = []
        for offset in range(-1, 9):
            day = today + datetime.timedelta(days=offset)
            for wall in (self.start, datetime.time(0)):
                instant = wall_to_instant(day, wall, self.zone)
                if instant > moment and self.contains(instant):
                    candidates.append(instant)
        return min(candidates) if candidates else None

    def describe(self) -> str:
        days = ",".join(DAY_NAMES[day][:2] for day in sorted(self.days))
        zone = getattr(self.zone, "key", None) or str(self.zone)
        text = f"{days} {self.start.isoformat()}-{self.end.isoformat()} {zone}"
        if self.wraps and self.days_match == "window_start":
            text += " (days name the evening the window starts)"
        return text
