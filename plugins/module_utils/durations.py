# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations as users write them (``90``, ``30m``, ``1h30m``) and timestamps as kured's Go code writes them."""

from __future__ import annotations

import datetime
import re

NANOS_PER_SECOND = 1_000_000_000
UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def parse_duration(value: object, option: str = "duration") -> float:
    """Seconds from an int, a float, a numeric string or a Go-style duration (``1h30m``, ``45s``)."""
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
    if seconds < 0:
        raise ValueError(f"{option}: {value!r} is negative")
    return seconds


def format_go_time(epoch_ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, trailing zeros trimmed: Go's time.RFC3339Nano, as kured marshals it."""
    seconds, nanos = divmod(epoch_ns, NANOS_PER_SECOND)
    stamp = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def parse_go_time(text: str) -> int:
    """Epoch nanoseconds from an RFC 3339 timestamp with up to nine fractional digits and any offset."""
    match = RFC3339.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp")
    base, fraction, zone = match.groups()
    offset = "+00:00" if zone == "Z" else zone
    moment = datetime.datetime.fromisoformat(base + offset)
    nanos = int((fraction or "").ljust(9, "0") or 0)
    return int(moment.timestamp()) * NANOS_PER_SECOND + nanos
