#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: aks_maintenance_window
short_description: Manage a planned maintenance window of an AKS cluster
version_added: 0.1.0
description:
  - Makes a planned maintenance configuration of an Azure Kubernetes Service cluster present or absent.
  - V(aksManagedAutoUpgradeSchedule) says when the cluster auto-upgrade channel may upgrade,
    V(aksManagedNodeOSUpgradeSchedule) when the node OS channel may patch or reimage nodes. Both take a
    C(maintenanceWindow) with one schedule of four kinds.
  - V(default) is AKS's legacy weekly configuration (C(timeInWeek), whole UTC hours); the module writes it from a
    O(schedule.weekly) schedule with O(schedule.weekly.interval_weeks=1), O(start_time) on a whole hour, O(utc_offset)
    V(+00:00) and a window that ends by midnight.
  - Every option is validated before anything is written. Comparison is on normalised values (weekday spelling,
    V(1:00) and V(01:00), a missing O(utc_offset) and V(+00:00)); the C(startDate) AKS fills in when none was
    given does not count as a difference.
  - Warns when the channel the window governs is off (V(none) or V(None)), because the window changes nothing until a
    channel is set with M(nodepatch.kube.aks_upgrade_channel).
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.azure
  - nodepatch.kube.azure.cluster
  - nodepatch.kube.attributes
options:
  config_name:
    description: The maintenance configuration.
    type: str
    choices: [default, aksManagedAutoUpgradeSchedule, aksManagedNodeOSUpgradeSchedule]
    required: true
  state:
    description: V(present) writes the window, V(absent) deletes the configuration.
    type: str
    choices: [present, absent]
    default: present
  schedule:
    description: How often the window recurs; exactly one of the four kinds. Required with O(state=present).
    type: dict
    suboptions:
      weekly:
        description: Every O(schedule.weekly.interval_weeks) weeks on O(schedule.weekly.day_of_week).
        type: dict
        suboptions:
          day_of_week:
            description: Day of the week (any capitalisation).
            type: str
            required: true
          interval_weeks:
            description: Weeks between windows, 1 to 4.
            type: int
            default: 1
      absolute_monthly:
        description: Every O(schedule.absolute_monthly.interval_months) months on a day of the month.
        type: dict
        suboptions:
          day_of_month:
            description: Day of the month, 1 to 31.
            type: int
            required: true
          interval_months:
            description: Months between windows, 1 to 6.
            type: int
            default: 1
      relative_monthly:
        description: Every O(schedule.relative_monthly.interval_months) months on, for example, the last Sunday.
        type: dict
        suboptions:
          day_of_week:
            description: Day of the week (any capitalisation).
            type: str
            required: true
          week_index:
            description: Which occurrence of that day in the month.
            type: str
            required: true
            choices: [First, Second, Third, Fourth, Last]
          interval_months:
            description: Months between windows, 1 to 6.
            type: int
            default: 1
      daily:
        description: Every O(schedule.daily.interval_days) days.
        type: dict
        suboptions:
          interval_days:
            description: Days between windows, 1 to 7.
            type: int
            default: 1
  duration_hours:
    description: Length of the window in hours, 4 to 24. Required with O(state=present).
    type: int
  start_time:
    description: When the window opens, V(HH:MM) in 24-hour form, in O(utc_offset). Required with O(state=present).
    type: str
  utc_offset:
    description: Offset of O(start_time) from UTC, V(+HH:MM) or V(-HH:MM). AKS assumes V(+00:00) when not set.
    type: str
  start_date:
    description:
      - First day the window is in effect, V(YYYY-MM-DD). AKS uses the day of creation when not set (and that
        date is not compared).
    type: str
  not_allowed_dates:
    description: Date ranges (inclusive) in which no maintenance happens, for example a release freeze.
    type: list
    elements: dict
    suboptions:
      start:
        description: First day, V(YYYY-MM-DD).
        type: str
        required: true
      end:
        description: Last day, V(YYYY-MM-DD).
        type: str
        required: true
attributes:
  check_mode:
    support: full
    details: Reads and validates; writes nothing.
  diff_mode:
    support: full
    details: Before and after of the window in the module's option names.
  idempotent:
    support: full
seealso:
  - module: nodepatch.kube.aks_upgrade_channel
  - name: Planned maintenance for AKS
    description: The configurations and schedule kinds.
    link: https://learn.microsoft.com/azure/aks/planned-maintenance
"""

EXAMPLES = r"""
- name: Node OS updates on Sunday nights, never over the year-end freeze
  nodepatch.kube.aks_maintenance_window:
    resource_group: rg-prod
    cluster_name: aks-prod
    config_name: aksManagedNodeOSUpgradeSchedule
    schedule:
      weekly:
        day_of_week: Sunday
    duration_hours: 4
    start_time: "01:00"
    utc_offset: "+01:00"
    not_allowed_dates:
      - start: "2026-12-20"
        end: "2027-01-03"

- name: Kubernetes upgrades on the last Saturday of every second month
  nodepatch.kube.aks_maintenance_window:
    resource_group: rg-prod
    cluster_name: aks-prod
    config_name: aksManagedAutoUpgradeSchedule
    schedule:
      relative_monthly:
        day_of_week: Saturday
        week_index: Last
        interval_months: 2
    duration_hours: 8
    start_time: "22:00"

- name: Drop the legacy default configuration
  nodepatch.kube.aks_maintenance_window:
    resource_group: rg-prod
    cluster_name: aks-prod
    config_name: default
    state: absent
"""

RETURN = r"""
window:
  description:
    - The configuration after the task in the module's option names; null when absent.
    - For V(default) it also holds C(time_in_week) and C(not_allowed_time) as AKS stores them.
  returned: always
  type: dict
  sample:
    config_name: aksManagedNodeOSUpgradeSchedule
    schedule: {weekly: {day_of_week: Sunday, interval_weeks: 1}}
    duration_hours: 4
    start_time: "01:00"
    utc_offset: "+01:00"
    start_date: "2026-11-23"
    not_allowed_dates: [{start: "2026-12-20", end: "2027-01-03"}]
previous:
  description: The configuration before the task, in the same form; null when it did not exist.
  returned: always
  type: dict
properties:
  description: The REST C(properties) written (or that would be written), normalised; null for O(state=absent).
  returned: always
  type: dict
  sample: {maintenanceWindow: {schedule: {weekly: {dayOfWeek: Sunday, intervalWeeks: 1}}, durationHours: 4,
           startTime: "01:00", utcOffset: "+01:00"}}
channels:
  description: The cluster's auto-upgrade channels, which decide whether the window has any effect.
  returned: always
  type: dict
  sample: {upgrade_channel: stable, node_os_upgrade_channel: NodeImage}
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.aks import CONFIG_NAMES, WEEK_INDEXES, WindowSpec
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_api import apply_window
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_module import AzureModule
from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError


def main() -> None:
    module = AzureModule(
        argument_spec={
            "config_name": {"type": "str", "required": True, "choices": list(CONFIG_NAMES)},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "schedule": {"type": "dict", "options": {
                "weekly": {"type": "dict", "options": {
                    "day_of_week": {"type": "str", "required": True},
                    "interval_weeks": {"type": "int", "default": 1}}},
                "absolute_monthly": {"type": "dict", "options": {
                    "day_of_month": {"type": "int", "required": True},
                    "interval_months": {"type": "int", "default": 1}}},
                "relative_monthly": {"type": "dict", "options": {
                    "day_of_week": {"type": "str", "required": True},
                    "week_index": {"type": "str", "required": True, "choices": list(WEEK_INDEXES)},
                    "interval_months": {"type": "int", "default": 1}}},
                "daily": {"type": "dict", "options": {
                    "interval_days": {"type": "int", "default": 1}}},
            }, "mutually_exclusive": [("weekly", "absolute_monthly", "relative_monthly", "daily")],
                "required_one_of": [("weekly", "absolute_monthly", "relative_monthly", "daily")]},
            "duration_hours": {"type": "int"},
            "start_time": {"type": "str"},
            "utc_offset": {"type": "str"},
            "start_date": {"type": "str"},
            "not_allowed_dates": {"type": "list", "elements": "dict", "options": {
                "start": {"type": "str", "required": True},
                "end": {"type": "str", "required": True}}},
        },
        required_if=[("state", "present", ("schedule", "duration_hours", "start_time"))],
        supports_check_mode=True,
    )
    p = module.params
    try:
        spec = None
        if p["state"] == "present":
            spec = WindowSpec.from_options(p["config_name"], p["schedule"], p["duration_hours"], p["start_time"],
                                           p["utc_offset"], p["start_date"], p["not_allowed_dates"])
        outcome = apply_window(module.api, p["resource_group"], p["cluster_name"], p["config_name"], p["state"], spec,
                               module.check_mode)
    except NodepatchError as error:
        module.fail_from(error)
    for warning in outcome["warnings"]:
        module.warn(warning)
    result = {"changed": outcome["changed"], "window": outcome["after"], "previous": outcome["before"],
              "properties": outcome["properties"], "channels": outcome["channels"]}
    module.exit_json(diff=DiffRecorder.between(outcome["before"], outcome["after"]), **result)


if __name__ == "__main__":
    main()
