# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations as users write them (``90``, ``30m``, ``1h30m``), Go durations as kured stores them (integer
nanoseconds, ``time.Duration.String()``), and timestamps as Go's ``time.RFC3339Nano`` writes them.

Python datetimes stop at microseconds and kured writes nine fractional digits, so timestamps travel here as
integer nanoseconds since the epoch: parsing and formatting round-trip kured's text exactly.
"""

from __future__ import annotations

import datetime
import math
import re

NANOS_PER_SECOND = 1_000_000_000
UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
# Go's time.ParseDuration units, in nanoseconds ("us" and "µs" are both microseconds).
GO_UNIT_NANOS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000,
                 "s": NANOS_PER_SECOND, "m": 60 * NANOS_PER_SECOND, "h": 3600 * NANOS_PER_SECOND}
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
GO_DURATION_PART = re.compile("(\\d+(?:\\.\\d*)?|\\.\\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


def parse_duration(value: object, option: str = "duration") -> float:
    """Seconds from an int, a float, a numeric string or a duration like ``30m``, ``1h30m`` or ``45s``."""
    if isinstance(value, bool):
        raise ValueError(f"{option}: {value!r} is not a duration; give seconds or a duration like 30m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = DURATION_PART.findall(text)
            if not parts or "".join(number + unit for number, unit in parts) != text:
                raise ValueError(
                    f"{option}: {value!r} is not a duration; give seconds or a duration like 30m, 1h or 1h30m"
                ) from None
            seconds = sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)
    if not math.isfinite(seconds):
        raise ValueError(f"{option}: {value!r} is not a finite duration")
    if seconds < 0:
        raise ValueError(f"{option}: {value!r} is negative")
    return seconds


def seconds_to_nanos(seconds: float) -> int:
    """A Go ``time.Duration`` (integer nanoseconds) from seconds, rounded to the nanosecond."""
    return int(round(seconds * NANOS_PER_SECOND))


def nanos_to_seconds(nanos: int) -> float:
    return nanos / NANOS_PER_SECOND


def parse_go_duration(text: str) -> int:
    """Nanoseconds from a Go duration string (``1h30m``, ``1.5h``, ``300ms``, ``-2s``, ``0``), as time.ParseDuration."""
    original = text
    text = (text or "").strip()
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    parts = GO_DURATION_PART.findall(text)
    if not text or not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{original!r} is not a Go duration (like 1h30m, 90s or 500ms)")
    total = 0
    for number, unit in parts:
        whole, _dot, fraction = number.partition(".")
        scale = GO_UNIT_NANOS[unit]
        total += int(whole or 0) * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
    return sign * total


def format_go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String()``: ``1h30m0s``, ``1.5s``, ``300ms``, ``0s``."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < NANOS_PER_SECOND:
        for unit, scale in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if nanos >= scale:
                return sign + _fraction(nanos, scale) + unit
    hours, rest = divmod(nanos, 3600 * NANOS_PER_SECOND)
    minutes, rest = divmod(rest, 60 * NANOS_PER_SECOND)
    text = _fraction(rest, NANOS_PER_SECOND) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _fraction(value: int, scale: int) -> str:
    whole, rest = divmod(value, scale)
    if not rest:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}." + f"{rest:0{digits}d}".rstrip("0")


def format_go_time(epoch_ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, trailing zeros trimmed: Go's time.RFC3339Nano, as kured marshals it."""
    seconds, nanos = divmod(epoch_ns, NANOS_PER_SECOND)
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    stamp = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment:%H:%M:%S}"
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def parse_go_time(text: str) -> int:
    """Epoch nanoseconds from an RFC 3339 timestamp with up to nine fractional digits and any offset."""
    match = RFC3339.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp")
    day, clock, fraction, zone = match.groups()
    offset = "+00:00" if zone in ("Z", "z") else zone
    moment = datetime.datetime.fromisoformat(f"{day}T{clock}{offset}")
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    whole_seconds = (moment - epoch) // datetime.timedelta(seconds=1)
    nanos = int((fraction or "").ljust(9, "0") or 0)
    return whole_seconds * NANOS_PER_SECOND + nanos


def datetime_to_nanos(moment: datetime.datetime) -> int:
    """Epoch nanoseconds from an aware datetime (a naive one is taken as UTC), exact to the microsecond."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1000


def format_micro_time(epoch_ns: int) -> str:
    """A Kubernetes MicroTime (Lease acquireTime/renewTime): RFC 3339 UTC with exactly six fractional digits."""
    seconds, nanos = divmod(epoch_ns, NANOS_PER_SECOND)
    return f"{format_go_time(seconds * NANOS_PER_SECOND)[:-1]}.{nanos // 1000:06d}Z"
