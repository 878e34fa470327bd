# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AKS auto-upgrade channels and planned maintenance windows: validation, normalisation, REST shapes.

Pure data, no Azure SDK: module options go in, the REST body of a ManagedCluster's ``autoUpgradeProfile`` or of a
``maintenanceConfigurations`` resource comes out (and back). Every rule AKS enforces server side that we can check
before a write lives here, so that a wrong option fails before anything is sent.
"""

from __future__ import annotations

import copy
import datetime
import re
import typing as t
from dataclasses import dataclass, field

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

UPGRADE_CHANNELS: tuple[str, ...] = ("none", "patch", "stable", "rapid", "node-image")
NODE_OS_UPGRADE_CHANNELS: tuple[str, ...] = ("None", "Unmanaged", "SecurityPatch", "NodeImage")
CONFIG_NAMES: tuple[str, ...] = ("default", "aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule")
WEEKDAYS: tuple[str, ...] = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
WEEK_INDEXES: tuple[str, ...] = ("First", "Second", "Third", "Fourth", "Last")
SCHEDULE_KINDS: tuple[str, ...] = ("weekly", "absolute_monthly", "relative_monthly", "daily")

# Ranges from the Microsoft.ContainerService REST specification (maintenanceWindow and its schedules).
DURATION_HOURS = (4, 24)
INTERVAL_DAYS = (1, 7)
INTERVAL_WEEKS = (1, 4)
INTERVAL_MONTHS = (1, 6)
DAY_OF_MONTH = (1, 31)

REBOOT_MANAGER_HINT = ("nodes on the Unmanaged channel install updates but are never rebooted by AKS; run a reboot "
                       "manager such as the nodepatch.kube.safe_reboot role (playbooks/patch_and_reboot.yml) or kured")

_SCHEDULE_REST_KEYS = {"weekly": "weekly", "absolute_monthly": "absoluteMonthly",
                       "relative_monthly": "relativeMonthly", "daily": "daily"}


def _allowed(values: t.Iterable[str]) -> str:
    return ", ".join(values)


def _pick(value: str, allowed: tuple[str, ...], option: str) -> str:
    """The canonical spelling of ``value`` among ``allowed`` (matched case-insensitively), or an error."""
    for candidate in allowed:
        if candidate.lower() == str(value).strip().lower():
            return candidate
    raise NodepatchError(f"{option}={value!r} is not a valid value", target=option,
                         hint=f"allowed: {_allowed(allowed)}")


def normalise_upgrade_channel(value: str | None, option: str = "upgrade_channel") -> str | None:
    return None if value is None else _pick(value, UPGRADE_CHANNELS, option)


def normalise_node_os_upgrade_channel(value: str | None, option: str = "node_os_upgrade_channel") -> str | None:
    return None if value is None else _pick(value, NODE_OS_UPGRADE_CHANNELS, option)


# ------------------------------------------------------------------------------------------------- channels


@dataclass(frozen=True)
class Channels:
    """The two auto-upgrade channels of a cluster; ``None`` where the cluster's profile does not say."""

    upgrade_channel: str | None = None
    node_os_upgrade_channel: str | None = None

    @classmethod
    def from_rest(cls, profile: t.Mapping[str, t.Any] | None) -> Channels:
        """From ``properties.autoUpgradeProfile`` as GET returns it (absent, empty or with odd casing)."""
        profile = profile or {}
        return cls(
            upgrade_channel=normalise_upgrade_channel(profile.get("upgradeChannel"), "autoUpgradeProfile.upgradeChannel"),
            node_os_upgrade_channel=normalise_node_os_upgrade_channel(
                profile.get("nodeOSUpgradeChannel"), "autoUpgradeProfile.nodeOSUpgradeChannel"),
        )

    def as_dict(self) -> dict[str, str | None]:
        return {"upgrade_channel": self.upgrade_channel, "node_os_upgrade_channel": self.node_os_upgrade_channel}

    def apply_to(self, profile: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
        """``profile`` with our two fields set; any other field AKS adds to the profile is kept as it was."""
        result = copy.deepcopy(dict(profile or {}))
        if self.upgrade_channel is not None:
            result["upgradeChannel"] = self.upgrade_channel
        if self.node_os_upgrade_channel is not None:
            result["nodeOSUpgradeChannel"] = self.node_os_upgrade_channel
        return result


@dataclass
class ChannelPlan:
    before: Channels
    after: Channels
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def node_os_changed(self) -> bool:
        return self.before.node_os_upgrade_channel != self.after.node_os_upgrade_channel


def plan_channels(current: Channels, upgrade_channel: str | None, node_os_upgrade_channel: str | None,
                  windows_pools: t.Sequence[str] = (), target: str = "cluster") -> ChannelPlan:
    """Decide the channels to write, enforcing the AKS rules; raises NodepatchError before any write.

    - ``upgrade_channel=node-image`` forces the node OS channel ``NodeImage``: asking for another is an error;
      leaving it unset adopts ``NodeImage`` (with a warning when that changes it).
    - While the cluster channel stays ``node-image`` the node OS channel cannot move away from ``NodeImage``.
    - Windows pools do not support ``SecurityPatch``; ``Unmanaged`` behaves as ``None`` on them (warning).
    """
    wanted_upgrade = normalise_upgrade_channel(upgrade_channel)
    wanted_os = normalise_node_os_upgrade_channel(node_os_upgrade_channel)
    if wanted_upgrade is None and wanted_os is None:
        raise NodepatchError("nothing to set: neither upgrade_channel nor node_os_upgrade_channel was given",
                             target=target, hint="set at least one of upgrade_channel, node_os_upgrade_channel")

    warnings: list[str] = []
    new_upgrade = wanted_upgrade if wanted_upgrade is not None else current.upgrade_channel
    new_os = wanted_os if wanted_os is not None else current.node_os_upgrade_channel

    if new_upgrade == "node-image":
        if wanted_os is not None and wanted_os != "NodeImage":
            if wanted_upgrade is None:
                raise NodepatchError(
                    f"node_os_upgrade_channel={wanted_os} cannot be set while the cluster's upgrade_channel is "
                    "node-image, which forces the node OS channel NodeImage", target=target,
                    hint="set upgrade_channel to none, patch, stable or rapid in the same task, or use NodeImage")
            raise NodepatchError(
                f"upgrade_channel=node-image requires node_os_upgrade_channel=NodeImage, not {wanted_os}",
                target=target, hint="use node_os_upgrade_channel=NodeImage (or leave it unset), or pick another "
                "upgrade_channel: none, patch, stable, rapid")
        if new_os != "NodeImage":
            warnings.append(f"upgrade_channel=node-image forces the node OS channel NodeImage; it changes from "
                            f"{new_os or 'unset'} to NodeImage")
            new_os = "NodeImage"

    if new_os == "SecurityPatch" and windows_pools:
        raise NodepatchError(
            f"node_os_upgrade_channel=SecurityPatch is not supported on Windows node pools "
            f"({', '.join(sorted(windows_pools))})", target=target,
            hint="use NodeImage, Unmanaged or None on a cluster with Windows pools")
    if new_os == "Unmanaged" and windows_pools:
        warnings.append(f"node_os_upgrade_channel=Unmanaged behaves as None on the Windows node pools "
                        f"{', '.join(sorted(windows_pools))}: they get no OS updates until their node image is upgraded")

    plan = ChannelPlan(before=current, after=Channels(new_upgrade, new_os), warnings=warnings)
    if plan.changed:
        if plan.node_os_changed and plan.before.node_os_upgrade_channel is not None:
            warnings.append(f"changing the node OS channel from {plan.before.node_os_upgrade_channel} to {new_os} "
                            "reimages (rolls) the nodes of every pool as AKS applies it")
        elif plan.node_os_changed:
            warnings.append(f"setting the node OS channel to {new_os} can reimage (roll) the nodes of every pool")
        warnings.append("AKS can take up to 24 hours to apply a channel change")
    if new_os == "Unmanaged":
        warnings.append(REBOOT_MANAGER_HINT)
    return plan


# ------------------------------------------------------------------------------------------------- windows

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_OFFSET = re.compile(r"^([+-])(\d{1,2}):(\d{2})$")


def normalise_start_time(value: str, option: str = "start_time") -> str:
    match = _HHMM.match(str(value).strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise NodepatchError(f"{option}={value!r} is not a time of day", target=option,
                             hint="use HH:MM in 24-hour form, for example 01:00 or 22:30")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def normalise_utc_offset(value: str, option: str = "utc_offset") -> str:
    text = str(value).strip()
    if text in ("Z", "0", "00:00", "+0", "-0"):
        text = "+00:00"
    match = _OFFSET.match(text)
    if not match:
        raise NodepatchError(f"{option}={value!r} is not a UTC offset", target=option,
                             hint="use +HH:MM or -HH:MM, for example +00:00, -08:00, +05:30")
    hours, minutes = int(match.group(2)), int(match.group(3))
    total = hours * 60 + minutes
    if minutes > 59 or (match.group(1) == "+" and total > 14 * 60) or (match.group(1) == "-" and total > 12 * 60):
        raise NodepatchError(f"{option}={value!r} is outside the range of UTC offsets", target=option,
                             hint="use an offset between -12:00 and +14:00")
    sign = "-" if match.group(1) == "-" and total else "+"
    return f"{sign}{hours:02d}:{minutes:02d}"


def normalise_date(value: t.Any, option: str) -> str:
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = str(value).strip()
    candidate = text[:10] if len(text) > 10 and text[10] in "T " else text
    try:
        return datetime.date.fromisoformat(candidate).isoformat()
    except ValueError:
        raise NodepatchError(f"{option}={value!r} is not a date", target=option,
                             hint="use YYYY-MM-DD, for example 2026-12-24") from None


def _int_in(value: t.Any, bounds: tuple[int, int], option: str) -> int:
    try:
        number = int(value)
        if isinstance(value, bool) or str(number) != str(value).strip():
            raise ValueError(value)
    except (TypeError, ValueError):
        raise NodepatchError(f"{option}={value!r} is not a whole number", target=option,
                             hint=f"use a number from {bounds[0]} to {bounds[1]}") from None
    if not bounds[0] <= number <= bounds[1]:
        raise NodepatchError(f"{option}={number} is out of range", target=option,
                             hint=f"use a number from {bounds[0]} to {bounds[1]}")
    return number


def _required(value: t.Any, option: str, what: str) -> t.Any:
    if value is None:
        raise NodepatchError(f"{option} is required for {what}", target=option)
    return value


def schedule_to_rest(schedule: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """``schedule`` option (exactly one kind) → REST ``maintenanceWindow.schedule``."""
    given = {kind: value for kind, value in (schedule or {}).items() if value is not None}
    unknown = sorted(set(given) - set(SCHEDULE_KINDS))
    if unknown:
        raise NodepatchError(f"schedule has unknown keys: {', '.join(unknown)}", target="schedule",
                             hint=f"use exactly one of {_allowed(SCHEDULE_KINDS)}")
    if len(given) != 1:
        raise NodepatchError(
            f"schedule needs exactly one of {_allowed(SCHEDULE_KINDS)}, got "
            f"{', '.join(sorted(given)) if given else 'none'}", target="schedule")
    kind, spec = next(iter(given.items()))
    spec = dict(spec or {})
    opt = f"schedule.{kind}"
    allowed_keys = {"weekly": {"day_of_week", "interval_weeks"}, "absolute_monthly": {"day_of_month", "interval_months"},
                    "relative_monthly": {"day_of_week", "week_index", "interval_months"},
                    "daily": {"interval_days"}}[kind]
    extra = sorted(k for k, v in spec.items() if v is not None and k not in allowed_keys)
    if extra:
        raise NodepatchError(f"{opt} does not take {', '.join(extra)}", target=opt,
                             hint=f"{opt} takes {', '.join(sorted(allowed_keys))}")
    if kind == "weekly":
        body = {"dayOfWeek": _pick(_required(spec.get("day_of_week"), f"{opt}.day_of_week", "a weekly schedule"),
                                   WEEKDAYS, f"{opt}.day_of_week"),
                "intervalWeeks": _int_in(spec.get("interval_weeks", 1) if spec.get("interval_weeks") is not None else 1,
                                         INTERVAL_WEEKS, f"{opt}.interval_weeks")}
    elif kind == "absolute_monthly":
        body = {"dayOfMonth": _int_in(_required(spec.get("day_of_month"), f"{opt}.day_of_month",
                                                "an absolute monthly schedule"), DAY_OF_MONTH, f"{opt}.day_of_month"),
                "intervalMonths": _int_in(spec["interval_months"] if spec.get("interval_months") is not None else 1,
                                          INTERVAL_MONTHS, f"{opt}.interval_months")}
    elif kind == "relative_monthly":
        body = {"dayOfWeek": _pick(_required(spec.get("day_of_week"), f"{opt}.day_of_week",
                                             "a relative monthly schedule"), WEEKDAYS, f"{opt}.day_of_week"),
                "weekIndex": _pick(_required(spec.get("week_index"), f"{opt}.week_index", "a relative monthly schedule"),
                                   WEEK_INDEXES, f"{opt}.week_index"),
                "intervalMonths": _int_in(spec["interval_months"] if spec.get("interval_months") is not None else 1,
                                          INTERVAL_MONTHS, f"{opt}.interval_months")}
    else:
        body = {"intervalDays": _int_in(spec["interval_days"] if spec.get("interval_days") is not None else 1,
                                        INTERVAL_DAYS, f"{opt}.interval_days")}
    return {_SCHEDULE_REST_KEYS[kind]: body}


def schedule_from_rest(schedule: t.Mapping[str, t.Any] | None) -> dict[str, t.Any] | None:
    """REST ``schedule`` → the module's ``schedule`` option shape (the one kind that is set)."""
    for kind, rest_key in _SCHEDULE_REST_KEYS.items():
        spec = (schedule or {}).get(rest_key)
        if spec:
            if kind == "weekly":
                return {kind: {"day_of_week": spec.get("dayOfWeek"), "interval_weeks": spec.get("intervalWeeks")}}
            if kind == "absolute_monthly":
                return {kind: {"day_of_month": spec.get("dayOfMonth"), "interval_months": spec.get("intervalMonths")}}
            if kind == "relative_monthly":
                return {kind: {"day_of_week": spec.get("dayOfWeek"), "week_index": spec.get("weekIndex"),
                               "interval_months": spec.get("intervalMonths")}}
            return {kind: {"interval_days": spec.get("intervalDays")}}
    return None


def _date_spans(spans: t.Sequence[t.Mapping[str, t.Any]] | None, option: str) -> list[dict[str, str]]:
    result = []
    for index, span in enumerate(spans or []):
        where = f"{option}[{index}]"
        if not isinstance(span, t.Mapping) or span.get("start") is None or span.get("end") is None:
            raise NodepatchError(f"{where} needs both start and end", target=where,
                                 hint="give each entry as {start: YYYY-MM-DD, end: YYYY-MM-DD}")
        start = normalise_date(span["start"], f"{where}.start")
        end = normalise_date(span["end"], f"{where}.end")
        if end < start:
            raise NodepatchError(f"{where} ends ({end}) before it starts ({start})", target=where,
                                 hint="swap start and end")
        result.append({"start": start, "end": end})
    return result


@dataclass(frozen=True)
class WindowSpec:
    """A maintenance window as the module options give it, validated and normalised."""

    config_name: str
    schedule: dict[str, t.Any]
    duration_hours: int
    start_time: str
    utc_offset: str | None
    start_date: str | None
    not_allowed_dates: tuple[tuple[str, str], ...] | None

    @classmethod
    def from_options(cls, config_name: str, schedule: t.Mapping[str, t.Any] | None, duration_hours: t.Any,
                     start_time: t.Any, utc_offset: t.Any = None, start_date: t.Any = None,
                     not_allowed_dates: t.Sequence[t.Mapping[str, t.Any]] | None = None) -> WindowSpec:
        name = _pick(config_name, CONFIG_NAMES, "config_name")
        rest_schedule = schedule_to_rest(schedule)
        hours = _int_in(_required(duration_hours, "duration_hours", "state=present"), DURATION_HOURS, "duration_hours")
        start = normalise_start_time(_required(start_time, "start_time", "state=present"))
        offset = None if utc_offset is None else normalise_utc_offset(utc_offset)
        first = None if start_date is None else normalise_date(start_date, "start_date")
        spans = None if not_allowed_dates is None else tuple(
            (s["start"], s["end"]) for s in _date_spans(not_allowed_dates, "not_allowed_dates"))
        if name == "default":
            cls._check_default(rest_schedule, hours, start, offset, first)
        return cls(name, rest_schedule, hours, start, offset, first, spans)

    @staticmethod
    def _check_default(schedule: dict[str, t.Any], hours: int, start: str, offset: str | None,
                       first: str | None) -> None:
        # The legacy `default` configuration has no maintenanceWindow: it is timeInWeek (UTC hour slots per day).
        hint = ("the default configuration is a weekly list of whole UTC hours; use "
                "aksManagedAutoUpgradeSchedule or aksManagedNodeOSUpgradeSchedule for other schedules")
        weekly = schedule.get("weekly")
        if not weekly or weekly.get("intervalWeeks") != 1:
            raise NodepatchError("config_name=default supports only schedule.weekly with interval_weeks 1",
                                 target="schedule", hint=hint)
        if not start.endswith(":00"):
            raise NodepatchError(f"config_name=default needs start_time on a whole hour, not {start}",
                                 target="start_time", hint=hint)
        if offset not in (None, "+00:00"):
            raise NodepatchError(f"config_name=default is in UTC; utc_offset {offset} is not supported",
                                 target="utc_offset", hint=hint)
        if first is not None:
            raise NodepatchError("config_name=default does not support start_date", target="start_date", hint=hint)
        if int(start[:2]) + hours > 24:
            raise NodepatchError(f"config_name=default cannot run past midnight: start_time {start} plus "
                                 f"duration_hours {hours} ends after 24:00", target="duration_hours", hint=hint)

    def to_rest(self) -> dict[str, t.Any]:
        """The ``properties`` of the maintenanceConfigurations resource to PUT."""
        if self.config_name == "default":
            start_hour = int(self.start_time[:2])
            props: dict[str, t.Any] = {"timeInWeek": [{
                "day": self.schedule["weekly"]["dayOfWeek"],
                "hourSlots": list(range(start_hour, start_hour + self.duration_hours))}]}
            if self.not_allowed_dates:
                props["notAllowedTime"] = [{"start": f"{start}T00:00:00Z", "end": f"{end}T23:59:59Z"}
                                           for start, end in self.not_allowed_dates]
            return props
        window: dict[str, t.Any] = {"schedule": copy.deepcopy(self.schedule), "durationHours": self.duration_hours,
                                    "startTime": self.start_time, "utcOffset": self.utc_offset or "+00:00"}
        if self.start_date is not None:
            window["startDate"] = self.start_date
        if self.not_allowed_dates:
            window["notAllowedDates"] = [{"start": start, "end": end} for start, end in self.not_allowed_dates]
        return {"maintenanceWindow": window}

    def matches(self, properties: t.Mapping[str, t.Any] | None) -> bool:
        """Whether the configuration's current ``properties`` already say what this spec says.

        Fields the user left unset and AKS fills in (``startDate`` defaults to the day of creation) do not count.
        """
        if not properties:
            return False
        current = normalise_properties(properties)
        wanted = normalise_properties(self.to_rest())
        if self.config_name != "default":
            current_window = current.get("maintenanceWindow") or {}
            if self.start_date is None:
                current_window.pop("startDate", None)
            if self.not_allowed_dates is None:
                current_window.pop("notAllowedDates", None)
                wanted.get("maintenanceWindow", {}).pop("notAllowedDates", None)
        elif self.not_allowed_dates is None:
            current.pop("notAllowedTime", None)
        return current == wanted


def normalise_properties(properties: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """A maintenance configuration's ``properties`` in one canonical form, for comparison and reporting."""
    props = properties or {}
    result: dict[str, t.Any] = {}
    window = props.get("maintenanceWindow")
    if window:
        norm: dict[str, t.Any] = {}
        schedule = window.get("schedule") or {}
        norm_schedule: dict[str, t.Any] = {}
        for rest_key in _SCHEDULE_REST_KEYS.values():
            spec = schedule.get(rest_key)
            if spec:
                spec = dict(spec)
                if "dayOfWeek" in spec and spec["dayOfWeek"]:
                    spec["dayOfWeek"] = str(spec["dayOfWeek"]).capitalize()
                if "weekIndex" in spec and spec["weekIndex"]:
                    spec["weekIndex"] = str(spec["weekIndex"]).capitalize()
                norm_schedule[rest_key] = {k: v for k, v in spec.items() if v is not None}
        norm["schedule"] = norm_schedule
        if window.get("durationHours") is not None:
            norm["durationHours"] = int(window["durationHours"])
        if window.get("startTime"):
            norm["startTime"] = normalise_start_time(window["startTime"], "startTime")
        norm["utcOffset"] = normalise_utc_offset(window["utcOffset"], "utcOffset") if window.get("utcOffset") \
            else "+00:00"
        if window.get("startDate"):
            norm["startDate"] = normalise_date(window["startDate"], "startDate")
        if window.get("notAllowedDates"):
            norm["notAllowedDates"] = sorted(
                ({"start": normalise_date(s["start"], "notAllowedDates.start"),
                  "end": normalise_date(s["end"], "notAllowedDates.end")} for s in window["notAllowedDates"]),
                key=lambda s: (s["start"], s["end"]))
        result["maintenanceWindow"] = norm
    if props.get("timeInWeek"):
        result["timeInWeek"] = sorted(
            ({"day": str(entry.get("day", "")).capitalize(), "hourSlots": sorted(entry.get("hourSlots") or [])}
             for entry in props["timeInWeek"]), key=lambda e: e["day"])
    if props.get("notAllowedTime"):
        result["notAllowedTime"] = sorted(
            ({"start": str(s.get("start")), "end": str(s.get("end"))} for s in props["notAllowedTime"]),
            key=lambda s: (s["start"], s["end"]))
    return result


def window_to_options(config_name: str, properties: t.Mapping[str, t.Any] | None) -> dict[str, t.Any] | None:
    """A configuration's REST ``properties`` in the module's option names (for diff and return values)."""
    if not properties:
        return None
    props = normalise_properties(properties)
    window = props.get("maintenanceWindow")
    if window:
        return {
            "config_name": config_name,
            "schedule": schedule_from_rest(window.get("schedule")),
            "duration_hours": window.get("durationHours"),
            "start_time": window.get("startTime"),
            "utc_offset": window.get("utcOffset"),
            "start_date": window.get("startDate"),
            "not_allowed_dates": window.get("notAllowedDates", []),
        }
    result: dict[str, t.Any] = {"config_name": config_name, "time_in_week": props.get("timeInWeek", []),
                                "not_allowed_time": props.get("notAllowedTime", [])}
    slots = props.get("timeInWeek") or []
    if len(slots) == 1 and slots[0]["hourSlots"] and slots[0]["hourSlots"] == list(
            range(slots[0]["hourSlots"][0], slots[0]["hourSlots"][-1] + 1)):
        result.update({"schedule": {"weekly": {"day_of_week": slots[0]["day"], "interval_weeks": 1}},
                       "duration_hours": len(slots[0]["hourSlots"]),
                       "start_time": f"{slots[0]['hourSlots'][0]:02d}:00", "utc_offset": "+00:00"})
    return result


def window_channel_warning(config_name: str, channels: Channels) -> str | None:
    """A warning when the window governs a channel that is off, so the window changes nothing yet."""
    if config_name == "aksManagedAutoUpgradeSchedule" and channels.upgrade_channel in (None, "none"):
        return ("the cluster's upgrade_channel is " + (channels.upgrade_channel or "unset") + ": the "
                "aksManagedAutoUpgradeSchedule window has no effect until an upgrade channel is set "
                "(nodepatch.kube.aks_upgrade_channel)")
    if config_name == "aksManagedNodeOSUpgradeSchedule" and channels.node_os_upgrade_channel in (None, "None"):
        return ("the cluster's node_os_upgrade_channel is " + (channels.node_os_upgrade_channel or "unset") + ": the "
                "aksManagedNodeOSUpgradeSchedule window has no effect until a node OS channel is set "
                "(nodepatch.kube.aks_upgrade_channel)")
    return None


# ------------------------------------------------------------------------------------------------- pools


def pool_summary(pool: t.Mapping[str, t.Any], upgrade_profile: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """One agent pool's upgrade facts from its REST body and its ``upgradeProfiles/default``."""
    props = pool.get("properties") or {}
    profile_props = (upgrade_profile or {}).get("properties") or {}
    current = props.get("nodeImageVersion")
    latest = profile_props.get("latestNodeImageVersion")
    return {
        "name": pool.get("name"),
        "mode": props.get("mode"),
        "os_type": props.get("osType"),
        "os_sku": props.get("osSKU"),
        "count": props.get("count"),
        "vm_size": props.get("vmSize"),
        "orchestrator_version": props.get("currentOrchestratorVersion") or props.get("orchestratorVersion"),
        "provisioning_state": props.get("provisioningState"),
        "node_image_version": current,
        "latest_node_image_version": latest,
        "node_image_upgrade_available": bool(latest and current and latest != current),
        "kubernetes_upgrades": sorted(u.get("kubernetesVersion") for u in profile_props.get("upgrades") or []
                                      if u.get("kubernetesVersion")),
    }


def windows_pool_names(pools: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
    """Names of the Windows pools among agent pools in REST shape (``properties.osType``) or the cluster's profiles."""
    names = []
    for pool in pools:
        os_type = (pool.get("properties") or pool).get("osType")
        if str(os_type or "").lower() == "windows":
            names.append(str(pool.get("name")))
    return names
