# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""May this node reboot now? The reboot window, blocking pods and Prometheus alerts, each answering with reasons.
A check that cannot answer (Prometheus down, API error) blocks: not knowing is not a yes."""

from __future__ import annotations

import datetime
import json
import re
import typing as t
from dataclasses import dataclass

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover - Python < 3.9 controllers are not supported
    ZoneInfo = None  # type: ignore[assignment,misc]

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIME_24H = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
TIME_12H = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap]m)$", re.IGNORECASE)
FINISHED_PHASES = ("Succeeded", "Failed", "Unknown")


def parse_day(text: str) -> int:
    """Weekday number (Monday 0) from kured's forms: su, sun, sunday (any case), or 0-6 with 0 = Sunday."""
    value = str(text).strip().lower()
    if value.isdigit() and int(value) <= 6:
        return (int(value) - 1) % 7
    for number, name in enumerate(DAY_NAMES):
        if len(value) >= 2 and name.startswith(value):
            return number
    raise ValueError(f"reboot_days: {text!r} is not a day; use su, mo, tu, we, th, fr, sa or full names")


def parse_time_of_day(text: str, option: str) -> datetime.time:
    value = str(text).strip()
    match = TIME_24H.match(value)
    if match:
        hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    else:
        match = TIME_12H.match(value)
        if not match:
            raise ValueError(f"{option}: {text!r} is not a time of day; use HH:MM, HH:MM:SS or forms like 3pm, 3:30am")
        hour, minute, second = int(match.group(1)) % 12, int(match.group(2) or 0), int(match.group(3) or 0)
        if match.group(4).lower() == "pm":
            hour += 12
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{option}: {text!r} is out of range")
    return datetime.time(hour, minute, second)


@dataclass
class RebootWindow:
    days: frozenset[int]
    start: datetime.time
    end: datetime.time
    zone: t.Any

    @classmethod
    def parse(cls, days: t.Sequence[str], start: str, end: str, time_zone: str) -> RebootWindow:
        if not days:
            raise ValueError("reboot_days is empty; give at least one day")
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"time_zone: {time_zone!r} is not an IANA time zone name (like Europe/Berlin)") from error
        return cls(frozenset(parse_day(day) for day in days), parse_time_of_day(start, "start_time"),
                   parse_time_of_day(end, "end_time"), zone)

    def contains(self, moment: datetime.datetime) -> bool:
        """kured's semantics: the day is the local day of ``moment``; the end is inclusive to its last instant;
        a start later than the end wraps past midnight (a window 22:00-04:00 covers 23:00 and 03:00)."""
        local = moment.astimezone(self.zone)
        if local.weekday() not in self.days:
            return False
        now = local.time().replace(tzinfo=None)
        end_inclusive = self.end.replace(microsecond=999999)
        if self.start <= self.end:
            return self.start <= now <= end_inclusive
        return now >= self.start or now <= end_inclusive

    def describe(self) -> str:
        days = ",".join(DAY_NAMES[day][:2] for day in sorted(self.days))
        return f"{days} {self.start.isoformat()}-{self.end.isoformat()} {self.zone.key}"


@dataclass
class AlertFilter:
    ignore_regexp: str | None = None
    match_only: bool = False
    firing_only: bool = False
    label_matchers: dict[str, str] | None = None

    def blocking(self, alerts: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
        """Names of the alerts that block, following kured's alert-filter flags."""
        pattern = re.compile(self.ignore_regexp) if self.ignore_regexp else None
        names = []
        for alert in alerts:
            labels = alert.get("labels") or {}
            name = labels.get("alertname", "?")
            if self.firing_only and alert.get("state") != "firing":
                continue
            if self.label_matchers and any(labels.get(key) != value for key, value in self.label_matchers.items()):
                continue
            matched = bool(pattern and pattern.search(name))
            if (self.match_only and not matched) or (not self.match_only and matched):
                continue
            names.append(name)
        return sorted(set(names))


def prometheus_alerts(fetch: t.Callable[[str], bytes], base_url: str) -> list[dict[str, t.Any]]:
    url = base_url.rstrip("/") + "/api/v1/alerts"
    try:
        body = json.loads(fetch(url))
    except NodepatchError:
        raise
    except Exception as error:  # pylint: disable=broad-exception-caught
        raise NodepatchError(f"cannot read alerts from Prometheus at {url}: {error}", target="prometheus") from error
    if body.get("status") != "success":
        raise NodepatchError(f"Prometheus at {url} answered {body.get('status')}: {body.get('error')}",
                             target="prometheus")
    return list((body.get("data") or {}).get("alerts") or [])


def blocking_pods(client: t.Any, node: str, selectors: t.Sequence[str]) -> list[str]:
    """Unfinished pods on the node matching any selector (kured's --blocking-pod-selector)."""
    found = []
    for selector in selectors:
        pods = client.call(client.core.list_pod_for_all_namespaces, target=f"node/{node}",
                           action="list the pods of", field_selector=f"spec.nodeName={node}", label_selector=selector)
        found.extend(f"{pod.metadata.namespace}/{pod.metadata.name} ({selector})" for pod in pods.items
                     if (pod.status.phase if pod.status else None) not in FINISHED_PHASES)
    return sorted(set(found))
