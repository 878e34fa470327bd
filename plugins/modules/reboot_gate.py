#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: reboot_gate
short_description: Decide whether a node may reboot now - reboot window, blocking pods, Prometheus alerts
version_added: 0.1.0
description:
  - Answers RV(blocked) with the RV(reasons), from the checks kured offers, with kured's semantics.
  - The window - O(reboot_days), O(start_time) to O(end_time) (inclusive) in O(time_zone); a start later than the
    end wraps past midnight. The day is the local day of the current moment, as in kured.
  - Blocking pods - unfinished pods on the node matching any of O(blocking_pod_selectors).
  - Prometheus - active alerts at O(prometheus_url), filtered like kured's C(--alert-filter-regexp),
    C(--alert-filter-match-only) and C(--alert-firing-only).
  - A check that cannot answer (Prometheus unreachable, an API error) blocks, and says why.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube
options:
  name:
    description: The node; needed for O(blocking_pod_selectors).
    type: str
  reboot_days:
    description: Days a reboot may happen - V(su), V(mo), ... V(sa), full names, or 0-6 with 0 for Sunday.
    type: list
    elements: str
    default: [su, mo, tu, we, th, fr, sa]
  start_time:
    description: Start of the window, V(HH:MM), V(HH:MM:SS) or 12-hour forms like V(10pm).
    type: str
    default: "0:00"
  end_time:
    description: End of the window, inclusive.
    type: str
    default: "23:59:59"
  time_zone:
    description: IANA time zone of the window, for example V(Europe/Berlin).
    type: str
    default: UTC
  blocking_pod_selectors:
    description: Label selectors; an unfinished pod on the node matching one blocks.
    type: list
    elements: str
    default: []
  prometheus_url:
    description: Base URL of Prometheus; active alerts block. Not set skips the check.
    type: str
  alert_filter_regexp:
    description: Alerts whose name matches are ignored (or, with O(alert_filter_match_only), the only ones that count).
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
    description: Only alerts carrying all these label values count, for example C({severity: critical}).
    type: dict
  prometheus_validate_certs:
    description: Verify Prometheus' TLS certificate.
    type: bool
    default: true
  prometheus_timeout:
    description: Seconds to wait for Prometheus.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: Read-only; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
  idempotent:
    support: full
    description: Never changes anything.
"""

EXAMPLES = r"""
- name: Reboot only on weekday nights in Berlin, without pending backups or critical alerts
  nodepatch.kube.reboot_gate:
    name: aks-nodepool1-12345678-vmss000000
    reboot_days: [mo, tu, we, th]
    start_time: "22:00"
    end_time: "04:00"
    time_zone: Europe/Berlin
    blocking_pod_selectors: [app=backup]
    prometheus_url: http://prometheus.monitoring:9090
    alert_filter_regexp: ^(Watchdog|InfoInhibitor)$
  register: gate
"""

RETURN = r"""
blocked:
  description: Whether the node must not reboot now.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why, one sentence per blocker.
  returned: always
  type: list
  elements: str
  sample: ["outside the reboot window mo,tu,we,th 22:00:00-04:00:00 Europe/Berlin"]
window_open:
  description: Whether the current moment is inside the window.
  returned: always
  type: bool
blocking_pods:
  description: Pods that block (namespace/name and the selector).
  returned: always
  type: list
  elements: str
blocking_alerts:
  description: Names of the alerts that block.
  returned: always
  type: list
  elements: str
"""

import datetime

from ansible.module_utils.urls import open_url

from ansible_collections.nodepatch.kube.plugins.module_utils.blockers import (
    AlertFilter,
    RebootWindow,
    blocking_pods,
    prometheus_alerts,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube_module import KubeModule


def main() -> None:
    module = KubeModule(
        argument_spec=dict(
            name=dict(type="str"),
            reboot_days=dict(type="list", elements="str", default=["su", "mo", "tu", "we", "th", "fr", "sa"]),
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
        ),
        supports_check_mode=True,
        required_by={"blocking_pod_selectors": ["name"]},
    )
    params = module.params
    if params["blocking_pod_selectors"] and not params["name"]:
        module.fail_json(msg="blocking_pod_selectors needs name: the node whose pods to check")
    try:
        window = RebootWindow.parse(params["reboot_days"], params["start_time"], params["end_time"],
                                    params["time_zone"])
        alert_filter = AlertFilter(params["alert_filter_regexp"], params["alert_filter_match_only"],
                                   params["alert_firing_only"], params["alert_label_matchers"])
        if alert_filter.ignore_regexp:
            alert_filter.blocking([])  # an invalid regexp fails here, before anything is asked
    except ValueError as error:
        module.fail_json(msg=str(error))
    except Exception as error:  # pylint: disable=broad-exception-caught
        module.fail_json(msg=f"alert_filter_regexp: {error}")

    reasons: list[str] = []
    window_open = window.contains(datetime.datetime.now(datetime.timezone.utc))
    if not window_open:
        reasons.append(f"outside the reboot window {window.describe()}")
    pods: list[str] = []
    if params["blocking_pod_selectors"]:
        try:
            pods = blocking_pods(module.client, params["name"], params["blocking_pod_selectors"])
        except NodepatchError as error:
            reasons.append(f"cannot check blocking pods: {error}")
        if pods:
            reasons.append(f"blocking pods on the node: {', '.join(pods)}")
    alerts: list[str] = []
    if params["prometheus_url"]:
        def fetch(url: str) -> bytes:
            return open_url(url, validate_certs=params["prometheus_validate_certs"],
                            timeout=params["prometheus_timeout"]).read()
        try:
            alerts = alert_filter.blocking(prometheus_alerts(fetch, params["prometheus_url"]))
        except NodepatchError as error:
            reasons.append(f"{error} (a Prometheus that cannot answer blocks)")
        if alerts:
            reasons.append(f"active Prometheus alerts: {', '.join(alerts)}")
    module.exit_json(changed=False, blocked=bool(reasons), reasons=reasons, window_open=window_open,
                     blocking_pods=pods, blocking_alerts=alerts)


if __name__ == "__main__":
    main()
