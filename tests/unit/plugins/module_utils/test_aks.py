# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.aks import (
    REBOOT_MANAGER_HINT,
    Channels,
    WindowSpec,
    normalise_date,
    normalise_node_os_upgrade_channel,
    normalise_properties,
    normalise_start_time,
    normalise_upgrade_channel,
    normalise_utc_offset,
    plan_channels,
    pool_summary,
    schedule_from_rest,
    schedule_to_rest,
    window_channel_warning,
    window_to_options,
    windows_pool_names,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

# ------------------------------------------------------------------------------------------------- channels


def test_channel_values_match_case_insensitively_and_come_back_canonical() -> None:
    assert normalise_upgrade_channel("Stable") == "stable"
    assert normalise_upgrade_channel("NODE-IMAGE") == "node-image"
    assert normalise_node_os_upgrade_channel("securitypatch") == "SecurityPatch"
    assert normalise_node_os_upgrade_channel(None) is None


def test_unknown_channel_names_the_option_and_the_allowed_values() -> None:
    with pytest.raises(NodepatchError) as err:
        normalise_upgrade_channel("weekly")
    assert "upgrade_channel='weekly'" in str(err.value)
    assert "none, patch, stable, rapid, node-image" in str(err.value)
    with pytest.raises(NodepatchError, match="None, Unmanaged, SecurityPatch, NodeImage"):
        normalise_node_os_upgrade_channel("Patch")


def test_channels_from_a_cluster_without_auto_upgrade_profile_are_none() -> None:
    assert Channels.from_rest(None) == Channels(None, None)
    assert Channels.from_rest({}) == Channels(None, None)
    assert Channels.from_rest({"upgradeChannel": "Rapid", "nodeOSUpgradeChannel": "nodeimage"}) == \
        Channels("rapid", "NodeImage")


def test_apply_to_keeps_unknown_fields_of_the_profile() -> None:
    profile = {"upgradeChannel": "stable", "futureKnob": {"x": 1}}
    assert Channels("patch", "Unmanaged").apply_to(profile) == {
        "upgradeChannel": "patch", "nodeOSUpgradeChannel": "Unmanaged", "futureKnob": {"x": 1}}
    assert profile == {"upgradeChannel": "stable", "futureKnob": {"x": 1}}  # not mutated


def test_same_channels_plan_no_change_and_no_rollout_warning() -> None:
    plan = plan_channels(Channels("stable", "NodeImage"), "stable", "NodeImage")
    assert not plan.changed
    assert plan.warnings == []


def test_node_os_change_warns_about_reimage_and_24_hours() -> None:
    plan = plan_channels(Channels("stable", "NodeImage"), None, "SecurityPatch")
    assert plan.changed and plan.after == Channels("stable", "SecurityPatch")
    text = " ".join(plan.warnings)
    assert "reimages" in text and "24 hours" in text


def test_cluster_channel_change_alone_does_not_claim_a_reimage() -> None:
    plan = plan_channels(Channels("stable", "NodeImage"), "rapid", None)
    assert plan.after == Channels("rapid", "NodeImage")
    assert not any("reimage" in w for w in plan.warnings)
    assert any("24 hours" in w for w in plan.warnings)


def test_unmanaged_warns_that_a_reboot_manager_is_needed() -> None:
    plan = plan_channels(Channels("patch", "NodeImage"), None, "Unmanaged")
    assert REBOOT_MANAGER_HINT in plan.warnings
    assert "safe_reboot" in REBOOT_MANAGER_HINT


def test_node_image_with_another_node_os_channel_is_refused() -> None:
    with pytest.raises(NodepatchError) as err:
        plan_channels(Channels("stable", "NodeImage"), "node-image", "Unmanaged", target="managedCluster rg/c")
    assert "upgrade_channel=node-image requires node_os_upgrade_channel=NodeImage, not Unmanaged" in str(err.value)
    assert err.value.target == "managedCluster rg/c"


def test_node_image_without_node_os_channel_adopts_node_image_with_warning() -> None:
    plan = plan_channels(Channels("stable", "Unmanaged"), "node-image", None)
    assert plan.after == Channels("node-image", "NodeImage")
    assert any("forces the node OS channel NodeImage" in w for w in plan.warnings)


def test_node_os_channel_cannot_move_while_cluster_channel_is_node_image() -> None:
    with pytest.raises(NodepatchError, match="cannot be set while the cluster's upgrade_channel is node-image"):
        plan_channels(Channels("node-image", "NodeImage"), None, "SecurityPatch")


def test_leaving_node_image_and_changing_node_os_together_is_allowed() -> None:
    plan = plan_channels(Channels("node-image", "NodeImage"), "patch", "Unmanaged")
    assert plan.after == Channels("patch", "Unmanaged")


def test_security_patch_is_refused_with_windows_pools_named() -> None:
    with pytest.raises(NodepatchError) as err:
        plan_channels(Channels("patch", "Unmanaged"), None, "SecurityPatch", windows_pools=["win22", "win19"])
    assert "not supported on Windows node pools (win19, win22)" in str(err.value)


def test_unmanaged_with_windows_pools_warns_it_behaves_as_none() -> None:
    plan = plan_channels(Channels("patch", "NodeImage"), None, "Unmanaged", windows_pools=["win22"])
    assert any("behaves as None on the Windows node pools win22" in w for w in plan.warnings)


def test_nothing_requested_is_an_error() -> None:
    with pytest.raises(NodepatchError, match="nothing to set"):
        plan_channels(Channels(), None, None)


def test_cluster_without_profile_gets_both_channels() -> None:
    plan = plan_channels(Channels(None, None), "patch", "NodeImage")
    assert plan.changed and plan.after == Channels("patch", "NodeImage")
    assert any("can reimage" in w for w in plan.warnings)


def test_windows_pool_names_reads_rest_pools_and_cluster_profiles() -> None:
    pools = [{"name": "a", "properties": {"osType": "Linux"}}, {"name": "w", "properties": {"osType": "Windows"}},
             {"name": "p", "osType": "windows"}]
    assert windows_pool_names(pools) == ["w", "p"]


# ------------------------------------------------------------------------------------------------- times


@pytest.mark.parametrize(("value", "expected"), [("1:00", "01:00"), ("23:59", "23:59"), (" 07:30 ", "07:30")])
def test_start_time_is_normalised_to_hh_mm(value: str, expected: str) -> None:
    assert normalise_start_time(value) == expected


@pytest.mark.parametrize("value", ["24:00", "12:60", "noon", "1200", "12:5"])
def test_bad_start_time_says_what_form_is_allowed(value: str) -> None:
    with pytest.raises(NodepatchError, match="HH:MM"):
        normalise_start_time(value)


@pytest.mark.parametrize(("value", "expected"), [("+5:30", "+05:30"), ("-08:00", "-08:00"), ("Z", "+00:00"),
                                                 ("-00:00", "+00:00"), ("+14:00", "+14:00")])
def test_utc_offset_is_normalised(value: str, expected: str) -> None:
    assert normalise_utc_offset(value) == expected


@pytest.mark.parametrize("value", ["+15:00", "-13:00", "05:30", "+5", "+01:75"])
def test_bad_utc_offset_is_refused(value: str) -> None:
    with pytest.raises(NodepatchError, match="utc_offset"):
        normalise_utc_offset(value)


def test_dates_accept_date_or_datetime_text_and_refuse_nonsense() -> None:
    assert normalise_date("2026-12-24", "start_date") == "2026-12-24"
    assert normalise_date("2026-12-24T00:00:00Z", "start_date") == "2026-12-24"
    with pytest.raises(NodepatchError, match="start_date='24/12/2026' is not a date"):
        normalise_date("24/12/2026", "start_date")


# ------------------------------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(("option", "rest"), [
    ({"weekly": {"day_of_week": "sunday", "interval_weeks": 2}}, {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 2}}),
    ({"absolute_monthly": {"day_of_month": 15, "interval_months": 3}},
     {"absoluteMonthly": {"dayOfMonth": 15, "intervalMonths": 3}}),
    ({"relative_monthly": {"day_of_week": "Saturday", "week_index": "last", "interval_months": 1}},
     {"relativeMonthly": {"dayOfWeek": "Saturday", "weekIndex": "Last", "intervalMonths": 1}}),
    ({"daily": {"interval_days": 7}}, {"daily": {"intervalDays": 7}}),
])
def test_each_schedule_kind_maps_to_the_rest_shape_and_back(option: dict, rest: dict) -> None:
    assert schedule_to_rest(option) == rest
    back = schedule_from_rest(rest)
    assert schedule_to_rest(back) == rest


def test_intervals_default_to_one() -> None:
    expected = {"weekly": {"dayOfWeek": "Monday", "intervalWeeks": 1}}
    assert schedule_to_rest({"weekly": {"day_of_week": "Monday"}}) == expected
    assert schedule_to_rest({"daily": {}}) == {"daily": {"intervalDays": 1}}


def test_schedule_needs_exactly_one_kind() -> None:
    with pytest.raises(NodepatchError, match="exactly one of weekly, absolute_monthly, relative_monthly, daily, got none"):
        schedule_to_rest({})
    with pytest.raises(NodepatchError, match="got daily, weekly"):
        schedule_to_rest({"weekly": {"day_of_week": "Monday"}, "daily": {"interval_days": 1}})
    with pytest.raises(NodepatchError, match="unknown keys: hourly"):
        schedule_to_rest({"hourly": {}})


@pytest.mark.parametrize(("option", "message"), [
    ({"weekly": {"day_of_week": "Funday"}}, "schedule.weekly.day_of_week='Funday' is not a valid value"),
    ({"weekly": {"day_of_week": "Monday", "interval_weeks": 5}}, "schedule.weekly.interval_weeks=5 is out of range"),
    ({"daily": {"interval_days": 0}}, "schedule.daily.interval_days=0 is out of range"),
    ({"daily": {"interval_days": 8}}, "use a number from 1 to 7"),
    ({"absolute_monthly": {"day_of_month": 32}}, "schedule.absolute_monthly.day_of_month=32 is out of range"),
    ({"absolute_monthly": {"day_of_month": 1, "interval_months": 7}}, "interval_months=7 is out of range"),
    ({"relative_monthly": {"day_of_week": "Monday", "week_index": "Fifth"}}, "First, Second, Third, Fourth, Last"),
    ({"relative_monthly": {"day_of_week": "Monday"}}, "schedule.relative_monthly.week_index is required"),
    ({"weekly": {"day_of_week": "Monday", "day_of_month": 3}}, "schedule.weekly does not take day_of_month"),
])
def test_schedule_errors_name_the_option_and_the_allowed_values(option: dict, message: str) -> None:
    with pytest.raises(NodepatchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        schedule_to_rest(option)


# ------------------------------------------------------------------------------------------------- windows


def weekly_spec(**overrides: object) -> WindowSpec:
    options = {"config_name": "aksManagedAutoUpgradeSchedule", "schedule": {"weekly": {"day_of_week": "Sunday"}},
               "duration_hours": 4, "start_time": "1:00"}
    options.update(overrides)
    return WindowSpec.from_options(**options)  # type: ignore[arg-type]


def test_window_to_rest_fills_utc_offset_and_omits_unset_fields() -> None:
    assert weekly_spec().to_rest() == {"maintenanceWindow": {
        "schedule": {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 1}}, "durationHours": 4,
        "startTime": "01:00", "utcOffset": "+00:00"}}


def test_window_with_every_field() -> None:
    spec = weekly_spec(utc_offset="+1:00", start_date="2026-12-01",
                       not_allowed_dates=[{"start": "2026-12-20", "end": "2027-01-03"}])
    window = spec.to_rest()["maintenanceWindow"]
    assert window["utcOffset"] == "+01:00"
    assert window["startDate"] == "2026-12-01"
    assert window["notAllowedDates"] == [{"start": "2026-12-20", "end": "2027-01-03"}]


@pytest.mark.parametrize(("hours", "ok"), [(3, False), (4, True), (24, True), (25, False)])
def test_duration_hours_is_4_to_24(hours: int, ok: bool) -> None:
    if ok:
        assert weekly_spec(duration_hours=hours).duration_hours == hours
    else:
        with pytest.raises(NodepatchError, match=f"duration_hours={hours} is out of range"):
            weekly_spec(duration_hours=hours)


def test_not_allowed_dates_need_start_before_end() -> None:
    with pytest.raises(NodepatchError, match=r"not_allowed_dates\[0\] ends \(2026-12-01\) before it starts"):
        weekly_spec(not_allowed_dates=[{"start": "2026-12-20", "end": "2026-12-01"}])
    with pytest.raises(NodepatchError, match=r"not_allowed_dates\[1\] needs both start and end"):
        weekly_spec(not_allowed_dates=[{"start": "2026-12-20", "end": "2026-12-21"}, {"start": "2026-12-24"}])


def test_unknown_config_name_is_refused() -> None:
    with pytest.raises(NodepatchError, match="config_name='weekly' is not a valid value"):
        weekly_spec(config_name="weekly")


def test_matches_ignores_the_start_date_aks_filled_in_and_spelling() -> None:
    current = {"maintenanceWindow": {"schedule": {"weekly": {"dayOfWeek": "sunday", "intervalWeeks": 1}},
                                     "durationHours": 4, "startTime": "01:00", "startDate": "2026-11-23"}}
    assert weekly_spec().matches(current)
    assert not weekly_spec(start_date="2026-12-01").matches(current)
    assert not weekly_spec(duration_hours=5).matches(current)
    assert not weekly_spec(utc_offset="+01:00").matches(current)
    assert not weekly_spec().matches(None)


def test_matches_compares_not_allowed_dates_only_when_given() -> None:
    current = {"maintenanceWindow": {"schedule": {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 1}},
                                     "durationHours": 4, "startTime": "01:00", "utcOffset": "+00:00",
                                     "notAllowedDates": [{"start": "2026-12-20", "end": "2027-01-03"}]}}
    assert weekly_spec().matches(current)
    assert weekly_spec(not_allowed_dates=[{"start": "2026-12-20", "end": "2027-01-03"}]).matches(current)
    assert not weekly_spec(not_allowed_dates=[]).matches(current)


def test_default_config_cannot_run_past_midnight() -> None:
    assert weekly_spec(config_name="default", start_time="20:00", duration_hours=4).to_rest()["timeInWeek"] == [
        {"day": "Sunday", "hourSlots": [20, 21, 22, 23]}]
    with pytest.raises(NodepatchError, match="cannot run past midnight"):
        weekly_spec(config_name="default", start_time="22:00", duration_hours=4)


def test_default_config_rest_shape_and_round_trip() -> None:
    spec = weekly_spec(config_name="default", start_time="01:00", duration_hours=4,
                       not_allowed_dates=[{"start": "2026-12-24", "end": "2026-12-26"}])
    rest = spec.to_rest()
    assert rest == {"timeInWeek": [{"day": "Sunday", "hourSlots": [1, 2, 3, 4]}],
                    "notAllowedTime": [{"start": "2026-12-24T00:00:00Z", "end": "2026-12-26T23:59:59Z"}]}
    assert spec.matches(rest)
    options = window_to_options("default", rest)
    assert options is not None
    assert options["schedule"] == {"weekly": {"day_of_week": "Sunday", "interval_weeks": 1}}
    assert options["duration_hours"] == 4 and options["start_time"] == "01:00"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"schedule": {"daily": {"interval_days": 1}}}, "supports only schedule.weekly"),
    ({"schedule": {"weekly": {"day_of_week": "Sunday", "interval_weeks": 2}}}, "supports only schedule.weekly"),
    ({"start_time": "01:30"}, "whole hour"),
    ({"utc_offset": "+02:00"}, "utc_offset"),
    ({"start_date": "2026-12-01"}, "does not support start_date"),
])
def test_default_config_refuses_what_time_in_week_cannot_say(overrides: dict, message: str) -> None:
    with pytest.raises(NodepatchError, match=message):
        weekly_spec(config_name="default", **overrides)


def test_window_to_options_speaks_module_option_names() -> None:
    rest = {"maintenanceWindow": {"schedule": {"relativeMonthly": {"dayOfWeek": "Monday", "weekIndex": "First",
                                                                   "intervalMonths": 2}},
                                  "durationHours": 6, "startTime": "03:00", "utcOffset": "-05:00",
                                  "startDate": "2026-01-01"}}
    assert window_to_options("aksManagedNodeOSUpgradeSchedule", rest) == {
        "config_name": "aksManagedNodeOSUpgradeSchedule",
        "schedule": {"relative_monthly": {"day_of_week": "Monday", "week_index": "First", "interval_months": 2}},
        "duration_hours": 6, "start_time": "03:00", "utc_offset": "-05:00", "start_date": "2026-01-01",
        "not_allowed_dates": []}
    assert window_to_options("x", None) is None


def test_normalise_properties_sorts_and_defaults() -> None:
    props = {"maintenanceWindow": {"schedule": {"daily": {"intervalDays": 1}}, "durationHours": "6",
                                   "startTime": "1:00",
                                   "notAllowedDates": [{"start": "2026-12-30", "end": "2026-12-31"},
                                                       {"start": "2026-01-01", "end": "2026-01-02"}]}}
    norm = normalise_properties(props)["maintenanceWindow"]
    assert norm["utcOffset"] == "+00:00" and norm["startTime"] == "01:00" and norm["durationHours"] == 6
    assert [d["start"] for d in norm["notAllowedDates"]] == ["2026-01-01", "2026-12-30"]


def test_window_channel_warning_only_when_the_governed_channel_is_off() -> None:
    assert window_channel_warning("aksManagedAutoUpgradeSchedule", Channels("none", "NodeImage"))
    assert window_channel_warning("aksManagedAutoUpgradeSchedule", Channels(None, None))
    assert window_channel_warning("aksManagedAutoUpgradeSchedule", Channels("stable", "None")) is None
    assert window_channel_warning("aksManagedNodeOSUpgradeSchedule", Channels("stable", "None"))
    assert window_channel_warning("aksManagedNodeOSUpgradeSchedule", Channels("none", "Unmanaged")) is None
    assert window_channel_warning("default", Channels(None, None)) is None


# ------------------------------------------------------------------------------------------------- pools


def test_pool_summary_reports_an_available_node_image_upgrade() -> None:
    pool = {"name": "system", "properties": {"mode": "System", "osType": "Linux", "osSKU": "Ubuntu", "count": 3,
                                             "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202509.10.0",
                                             "provisioningState": "Succeeded"}}
    profile = {"properties": {"latestNodeImageVersion": "AKSUbuntu-2204gen2containerd-202511.07.0",
                              "upgrades": [{"kubernetesVersion": "1.34.1"}, {"kubernetesVersion": "1.33.5"}]}}
    summary = pool_summary(pool, profile)
    assert summary["node_image_upgrade_available"] is True
    assert summary["kubernetes_upgrades"] == ["1.33.5", "1.34.1"]
    assert pool_summary(pool, None)["node_image_upgrade_available"] is False
