#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: reboot_gate
short_description: Decide whether a node may reboot now - reboot window, blocking pods, Prometheus alerts
version_added: 0.1.0
description:
  - Answers RV(blocked) with the RV(reasons), from the checks kured offers, with kured's semantics. Every check
    runs, so all reasons are reported at once. Nothing is written.
  - The window - O(reboot_days), O(start_time) to O(end_time) in O(time_zone). Times are wall-clock times in
    O(time_zone), so daylight saving time moves nothing. The end is inclusive to the end of its second, as in
    kured (V(04:00) includes 04:00:00 but not 04:00:01). A start later than the end wraps past midnight.
  - Which day O(reboot_days) refers to in a window that wraps past midnight is set by O(reboot_days_match) - by
    default the local day of the current moment, exactly as kured (a window V(22:00)-V(04:00) on V(mo) covers
    Monday 00:00-04:00 and Monday 22:00-24:00); with V(window_start), the day the window starts (Monday 22:00 to
    Tuesday 04:00).
  - Blocking pods - pods on the node O(name) that match any of O(blocking_pod_selectors) and are not finished
    (phase C(Succeeded), C(Failed) or C(Unknown) do not block), like kured's C(--blocking-pod-selector).
  - Prometheus - the active alerts from O(prometheus_url) (C(/api/v1/alerts)), filtered like kured's
    C(--alert-filter-regexp), C(--alert-filter-match-only) and C(--alert-firing-only), and optionally narrowed by
    O(alert_label_matchers).
  - A check that cannot answer (Prometheus unreachable or answering an error, an API error while listing pods)
    blocks, and the reason says why. Not knowing is not a yes.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube
  - nodepatch.kube.attributes
  - nodepatch.kube.attributes.info_module
options:
  name:
    description: The node; required with O(blocking_pod_selectors) and O(read_node).
    type: str
  read_node:
    description:
      - Also read the node O(name) (one GET) and return it as RV(node), the facts M(nodepatch.kube.node_info)
        returns for a node but its lock holding, so a play that needs both makes one task of them.
      - A node that cannot be read fails the task; it does not block.
    type: bool
    default: false
  reboot_days:
    description:
      - Days a reboot may happen - V(su), V(mo), V(tu), V(we), V(th), V(fr), V(sa), three-letter or full names (any
        case), or V(0)-V(6) with V(0) for Sunday. A comma-separated string works too.
    type: list
    elements: str
    default: [su, mo, tu, we, th, fr, sa]
  reboot_days_match:
    description:
      - For a window that wraps past midnight, which day must be in O(reboot_days).
      - V(current_day) - the local day of the current moment (kured's behaviour).
      - V(window_start) - the day on which the window started, so the early-morning part belongs to the evening
        before.
      - Windows that do not wrap behave the same either way.
    type: str
    choices: [current_day, window_start]
    default: current_day
  start_time:
    description: Start of the window - V(HH:MM), V(HH:MM:SS), V(HH), or 12-hour forms like V(3pm), V(10:30pm).
    type: str
    default: "0:00"
  end_time:
    description: End of the window, inclusive to the end of its second; same forms as O(start_time).
    type: str
    default: "23:59:59"
  time_zone:
    description: IANA time zone of the window, for example V(Europe/Berlin), or V(UTC).
    type: str
    default: UTC
  blocking_pod_selectors:
    description: Label selectors; an unfinished pod on the node matching one of them blocks.
    type: list
    elements: str
    default: []
  prometheus_url:
    description: Base URL of Prometheus, for example V(http://prometheus.monitoring:9090). Not set skips the check.
    type: str
  alert_filter_regexp:
    description:
      - Alerts whose name matches this regular expression (searched, not anchored) are ignored.
      - With O(alert_filter_match_only), only the alerts that match block.
    type: str
  alert_filter_match_only:
    description: Only alerts matching O(alert_filter_regexp) block.
    type: bool
    default: false
  alert_firing_only:
    description: Only firing alerts block; pending ones do not.
    type: bool
    default: false
  alert_label_matchers:
    description:
      - Only alerts carrying all these labels, each with exactly the value given, count.
      - For example, with C(severity) set to C(critical), warnings do not block.
    type: dict
  prometheus_validate_certs:
    description: Verify Prometheus' TLS certificate.
    type: bool
    default: true
  prometheus_timeout:
    description: Seconds to wait for Prometheus' answer.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Reboot only on weekday nights in Berlin, without running backups or critical alerts
  nodepatch.kube.reboot_gate:
    name: aks-nodepool1-12345678-vmss000000
    reboot_days: [mo, tu, we, th]
    reboot_days_match: window_start
    start_time: "22:00"
    end_time: "04:00"
    time_zone: Europe/Berlin
    blocking_pod_selectors: [app=backup]
    prometheus_url: http://prometheus.monitoring:9090
    alert_filter_regexp: ^(Watchdog|InfoInhibitor)$
    alert_firing_only: true
    alert_label_matchers:
      severity: critical
  register: gate

- name: Stop here when the node may not reboot
  ansible.builtin.debug:
    msg: "Not rebooting: {{ gate.reasons | join('; ') }}"
  when: gate.blocked
"""

RETURN = r"""
blocked:
  description: Whether the node must not reboot now.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why, one sentence per blocker; empty when not blocked.
  returned: always
  type: list
  elements: str
  sample: ["outside the reboot window mo,tu,we,th 22:00:00-04:00:00 Europe/Berlin; it opens 2026-11-23T22:00:00+01:00"]
window_open:
  description: Whether the current moment is inside the window.
  returned: always
  type: bool
next_window_start:
  description: When the window opens next, ISO 8601 in O(time_zone); null when it is open now.
  returned: always
  type: str
  sample: "2026-11-23T22:00:00+01:00"
blocking_pods:
  description: Pods that block, as namespace/name and the selector that matched.
  returned: always
  type: list
  elements: str
  sample: ["backup/nightly-28374 (app=backup)"]
blocking_alerts:
  description: Names of the alerts that block.
  returned: always
  type: list
  elements: str
  sample: [KubeNodeNotReady]
node:
  description: The node's facts, as one element of M(nodepatch.kube.node_info)'s RV(nodepatch.kube.node_info#module:nodes), without C(lock_holder).
  returned: with O(read_node=true)
  type: dict
  sample: {name: aks-nodepool1-12345678-vmss000000, ready: true, unschedulable: false, was_unschedulable: false,
           boot_id: 0e2f6c1a-5b7d-4c3e-9f1a-2b3c4d5e6f70, kernel_version: 5.15.0-1068-azure, annotations: {}}
"""

import datetime

from ansible.module_utils.urls import open_url

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.gate import AlertFilter, blocking_pods, evaluate_gate, prometheus_alerts
from ansible_collections.nodepatch.kube.plugins.module_utils.http_url import check_http_url
from ansible_collections.nodepatch.kube.plugins.module_utils.kube_module import KubeModule
from ansible_collections.nodepatch.kube.plugins.module_utils.nodes import read_node
from ansible_collections.nodepatch.kube.plugins.module_utils.selectors import check_selector
from ansible_collections.nodepatch.kube.plugins.module_utils.window import ALL_DAYS, DAYS_MATCH, RebootWindow


def main() -> None:
    module = KubeModule(
        argument_spec=dict(
            name=dict(type="str"),
            reboot_days=dict(type="list", elements="str", default=list(ALL_DAYS)),
            reboot_days_match=dict(type="str", choices=list(DAYS_MATCH), default="current_day"),
            start_time=dict(type="str", default="0:00"),
            end_time=dict(type="str", default="23:59:59"),
            time_zone=dict(type="str", default="UTC"),
            blocking_pod_selectors=dict(type="list", elements="str", default=[]),
            prometheus_url=dict(type="str"),
            alert_filter_regexp=dict(type="str"),
            alert_filter_match_only=dict(type="bool", default=False),
            alert_firing_only=dict(type="bool", default=False),
            alert_label_matchers=dict(type="dict"),
            prometheus_validate_certs=dict(type="bool", default=True),
            prometheus_timeout=dict(type="int", default=10),
            read_node=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.require_at_least(prometheus_timeout=1)
    params = module.params
    for option in ("blocking_pod_selectors", "read_node"):
        if params[option] and not params["name"]:
            module.fail_json(msg=f"{option} needs name: the node whose pods to check, or to read")
    try:
        window = RebootWindow.parse(params["reboot_days"], params["start_time"], params["end_time"],
                                    params["time_zone"], params["reboot_days_match"])
        alert_filter = AlertFilter(params["alert_filter_regexp"], params["alert_filter_match_only"],
                                   params["alert_firing_only"], params["alert_label_matchers"])
        for selector in params["blocking_pod_selectors"]:
            check_selector("blocking_pod_selectors", selector)
        if params["prometheus_url"]:
            check_http_url("prometheus_url", params["prometheus_url"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    client = None
    node = {}
    if params["blocking_pod_selectors"] or params["read_node"]:
        # A connection that cannot be set up (kubeconfig, context, files) is bad input, not a blocker: fail now.
        try:
            client = module.client
            if params["read_node"]:
                node = {"node": read_node(client, params["name"])}
        except NodepatchError as error:
            module.fail_from(error)

    def pods_check() -> list[str]:
        return blocking_pods(client, params["name"], params["blocking_pod_selectors"])

    def fetch(url: str) -> bytes:
        return open_url(url, validate_certs=params["prometheus_validate_certs"], timeout=params["prometheus_timeout"],
                        headers={"Accept": "application/json"}).read()

    def alerts_check() -> list[str]:
        return alert_filter.blocking(prometheus_alerts(fetch, params["prometheus_url"]))

    result = evaluate_gate(datetime.datetime.now(datetime.timezone.utc), window,
                           pods_check if params["blocking_pod_selectors"] else None,
                           alerts_check if params["prometheus_url"] else None)
    module.exit_json(changed=False, **result.as_dict(), **node)


if __name__ == "__main__":
    main()
