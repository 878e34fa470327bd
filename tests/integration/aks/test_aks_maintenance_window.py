# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nodepatch.kube.aks_maintenance_window through the real Azure SDK against the ARM emulator."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

RG, CLUSTER = "rg-linux", "aks-linux"
NODE_OS = "aksManagedNodeOSUpgradeSchedule"

SCHEDULES = {
    "weekly": ({"weekly": {"day_of_week": "friday", "interval_weeks": 2}},
               {"weekly": {"dayOfWeek": "Friday", "intervalWeeks": 2}}),
    "absolute_monthly": ({"absolute_monthly": {"day_of_month": 15, "interval_months": 3}},
                         {"absoluteMonthly": {"dayOfMonth": 15, "intervalMonths": 3}}),
    "relative_monthly": ({"relative_monthly": {"day_of_week": "Saturday", "week_index": "Last", "interval_months": 2}},
                         {"relativeMonthly": {"dayOfWeek": "Saturday", "weekIndex": "Last", "intervalMonths": 2}}),
    "daily": ({"daily": {"interval_days": 3}}, {"daily": {"intervalDays": 3}}),
}


def config_writes(emulator: Any) -> list[dict[str, Any]]:
    return emulator.writes("/maintenanceConfigurations/")


def warnings_text(result: dict[str, Any]) -> str:
    return "\n".join(w["event"]["msg"] if isinstance(w, dict) else str(w) for w in result.get("warnings", []))


@pytest.mark.parametrize("kind", sorted(SCHEDULES))
def test_present_then_idempotent_then_absent_for_each_schedule_kind(aks: Any, emulator: Any, kind: str) -> None:
    option, rest = SCHEDULES[kind]
    args = {"resource_group": RG, "cluster_name": CLUSTER, "config_name": NODE_OS, "schedule": option,
            "duration_hours": 6, "start_time": "2:00", "utc_offset": "+1:00"}
    created = aks("aks_maintenance_window", diff=True, **args)
    assert created["changed"] is True, created
    assert created["previous"] is None and created["diff"]["before"] == {}
    writes = config_writes(emulator)
    assert len(writes) == 1 and writes[0]["method"] == "PUT" and writes[0]["path"].endswith(f"/{NODE_OS}")
    assert writes[0]["body"] == {"properties": {"maintenanceWindow": {
        "schedule": rest, "durationHours": 6, "startTime": "02:00", "utcOffset": "+01:00"}}}
    # AKS filled in startDate; the module reports it and does not count it as a difference.
    assert created["window"]["start_date"] == datetime.date.today().isoformat()

    emulator.requests.clear()
    again = aks("aks_maintenance_window", **args)
    assert again["changed"] is False
    assert config_writes(emulator) == []

    gone = aks("aks_maintenance_window", diff=True, resource_group=RG, cluster_name=CLUSTER, config_name=NODE_OS,
               state="absent")
    assert gone["changed"] is True and gone["window"] is None and gone["diff"]["after"] == {}
    assert gone["previous"]["schedule"] == {k: {kk: (vv.capitalize() if isinstance(vv, str) else vv)
                                                for kk, vv in v.items()} for k, v in option.items()}
    assert [w["method"] for w in config_writes(emulator)] == ["DELETE"]
    emulator.requests.clear()
    assert aks("aks_maintenance_window", resource_group=RG, cluster_name=CLUSTER, config_name=NODE_OS,
               state="absent")["changed"] is False
    assert config_writes(emulator) == []


def test_every_option_reaches_the_rest_body(aks: Any, emulator: Any) -> None:
    result = aks("aks_maintenance_window", resource_group=RG, name=CLUSTER,
                 config_name="aksManagedAutoUpgradeSchedule",
                 schedule={"weekly": {"day_of_week": "Sunday"}}, duration_hours=8, start_time="22:30",
                 utc_offset="-05:00", start_date="2026-12-06",
                 not_allowed_dates=[{"start": "2026-12-20", "end": "2027-01-03"}])
    assert result["changed"] is True
    body = config_writes(emulator)[0]["body"]["properties"]["maintenanceWindow"]
    assert body == {"schedule": {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 1}}, "durationHours": 8,
                    "startTime": "22:30", "utcOffset": "-05:00", "startDate": "2026-12-06",
                    "notAllowedDates": [{"start": "2026-12-20", "end": "2027-01-03"}]}
    assert result["window"]["not_allowed_dates"] == [{"start": "2026-12-20", "end": "2027-01-03"}]


def test_changing_one_field_updates_and_diffs_it(aks: Any, emulator: Any) -> None:
    base = {"resource_group": RG, "cluster_name": CLUSTER, "config_name": "aksManagedAutoUpgradeSchedule",
            "schedule": {"weekly": {"day_of_week": "Sunday"}}, "duration_hours": 4, "start_time": "02:00"}
    assert aks("aks_maintenance_window", **base)["changed"] is False  # the seeded window, start date ignored
    result = aks("aks_maintenance_window", diff=True, **{**base, "duration_hours": 5})
    assert result["changed"] is True
    assert result["diff"]["before"]["duration_hours"] == 4 and result["diff"]["after"]["duration_hours"] == 5
    # The seeded start date was kept by AKS only because we did not send one: a new window starts anew.
    assert config_writes(emulator)[0]["body"]["properties"]["maintenanceWindow"]["durationHours"] == 5


def test_check_mode_writes_nothing_for_present_and_absent(aks: Any, emulator: Any) -> None:
    present = aks("aks_maintenance_window", check=True, diff=True, resource_group=RG, cluster_name=CLUSTER,
                  config_name=NODE_OS, schedule={"daily": {}}, duration_hours=4, start_time="01:00")
    assert present["changed"] is True
    assert present["diff"]["after"]["schedule"] == {"daily": {"interval_days": 1}}
    absent = aks("aks_maintenance_window", check=True, resource_group=RG, cluster_name=CLUSTER,
                 config_name="aksManagedAutoUpgradeSchedule", state="absent")
    assert absent["changed"] is True
    assert config_writes(emulator) == []
    assert "aksManagedAutoUpgradeSchedule" in emulator.maintenance[(RG, CLUSTER)]


def test_default_configuration_is_written_as_time_in_week(aks: Any, emulator: Any) -> None:
    args = {"resource_group": "rg-legacy", "cluster_name": "aks-legacy", "config_name": "default",
            "schedule": {"weekly": {"day_of_week": "Saturday"}}, "duration_hours": 5, "start_time": "01:00"}
    result = aks("aks_maintenance_window", diff=True, **args)
    assert result["changed"] is True
    assert result["diff"]["before"]["duration_hours"] == 4
    assert config_writes(emulator)[0]["body"] == {"properties": {"timeInWeek": [
        {"day": "Saturday", "hourSlots": [1, 2, 3, 4, 5]}]}}
    emulator.requests.clear()
    assert aks("aks_maintenance_window", **args)["changed"] is False
    assert config_writes(emulator) == []


@pytest.mark.parametrize(("options", "message"), [
    ({"duration_hours": 3}, "duration_hours=3 is out of range (use a number from 4 to 24)"),
    ({"duration_hours": 25}, "duration_hours=25 is out of range"),
    ({"start_time": "25:00"}, "start_time='25:00' is not a time of day"),
    ({"utc_offset": "+15:00"}, "utc_offset='+15:00' is outside the range of UTC offsets"),
    ({"utc_offset": "0100"}, "utc_offset='0100' is not a UTC offset"),
    ({"start_date": "next monday"}, "start_date='next monday' is not a date"),
    ({"schedule": {"weekly": {"day_of_week": "Caturday"}}}, "schedule.weekly.day_of_week='Caturday' is not a valid value"),
    ({"schedule": {"weekly": {"day_of_week": "Monday", "interval_weeks": 5}}}, "schedule.weekly.interval_weeks=5"),
    ({"schedule": {"daily": {"interval_days": 8}}}, "schedule.daily.interval_days=8 is out of range"),
    ({"schedule": {"absolute_monthly": {"day_of_month": 0}}}, "schedule.absolute_monthly.day_of_month=0"),
    ({"schedule": {"relative_monthly": {"day_of_week": "Monday", "week_index": "Fifth"}}},
     "week_index must be one of: First, Second, Third, Fourth, Last"),
    ({"schedule": {"daily": {}, "weekly": {"day_of_week": "Monday"}}}, "mutually exclusive"),
    ({"schedule": {}}, "one of the following is required: weekly, absolute_monthly, relative_monthly, daily"),
    ({"not_allowed_dates": [{"start": "2026-12-31", "end": "2026-12-01"}]},
     "not_allowed_dates[0] ends (2026-12-01) before it starts (2026-12-31)"),
    ({"config_name": "default"}, "config_name=default supports only schedule.weekly"),
    ({"config_name": "nightly"}, "value of config_name must be one of: default, aksManagedAutoUpgradeSchedule"),
    ({"start_time": None}, "state is present but all of the following are missing: start_time"),
])
def test_validation_errors_write_nothing(aks: Any, emulator: Any, options: dict[str, Any], message: str) -> None:
    args = {"resource_group": RG, "cluster_name": CLUSTER, "config_name": NODE_OS,
            "schedule": {"daily": {"interval_days": 1}}, "duration_hours": 4, "start_time": "01:00", **options}
    args = {k: v for k, v in args.items() if v is not None}
    result = aks("aks_maintenance_window", **args)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert emulator.writes() == []


def test_warns_when_the_governed_channel_is_off(aks: Any, emulator: Any) -> None:
    aks("aks_upgrade_channel", resource_group=RG, cluster_name=CLUSTER, upgrade_channel="none")
    result = aks("aks_maintenance_window", resource_group=RG, cluster_name=CLUSTER,
                 config_name="aksManagedAutoUpgradeSchedule", schedule={"weekly": {"day_of_week": "Sunday"}},
                 duration_hours=4, start_time="02:00")
    assert "has no effect until an upgrade channel is set" in warnings_text(result)
    legacy = aks("aks_maintenance_window", resource_group="rg-legacy", cluster_name="aks-legacy", config_name=NODE_OS,
                 schedule={"daily": {}}, duration_hours=4, start_time="02:00")
    assert "node_os_upgrade_channel is unset" in warnings_text(legacy)
    quiet = aks("aks_maintenance_window", resource_group="rg-mixed", cluster_name="aks-windows", config_name=NODE_OS,
                schedule={"daily": {}}, duration_hours=4, start_time="02:00")
    assert warnings_text(quiet) == ""


def test_missing_cluster_fails_before_any_write(aks: Any, emulator: Any) -> None:
    result = aks("aks_maintenance_window", resource_group=RG, cluster_name="ghost", config_name=NODE_OS,
                 schedule={"daily": {}}, duration_hours=4, start_time="02:00")
    assert result["failed"] is True and "managedCluster rg-linux/ghost" in result["msg"]
    assert emulator.writes() == []
