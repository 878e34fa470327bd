#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_report
short_description: Summarise a roll-out as a table, JSON and a self-contained HTML timeline
version_added: 0.1.0
description:
  - Takes the per-node records the C(safe_reboot) role keeps (C(safe_reboot_record)) and computes, per node, the
    lock wait, drain and down time, and for the roll-out the counts per result, the wall time and the most nodes
    rebooting, cordoned and holding the lock at once.
  - Returns the table as text (node, needed, why, pods evicted, lock wait, drain, down time, kernel before and
    after, result) and optionally writes the JSON and a self-contained HTML page (inline CSS and SVG, nothing
    fetched, no script) with a timeline bar per node on a shared UTC time axis.
  - Runs on the controller. The output depends on the records only, so the same records give the same files.
  - See C(docs/report.md) for what the HTML report shows.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.attributes
options:
  records:
    description:
      - One record per node - node, host, needed, reasons, blocked, blocked_reasons, result (rebooted, not-needed,
        blocked, failed, skipped), error, pods_evicted, kernel_before, kernel_after, boot_id_before, boot_id_after,
        was_unschedulable, resumed (the node carried the marks of an earlier run that did not finish it), and a
        timeline of epoch seconds in UTC (started, lock_requested, lock_acquired, drain_started, drain_finished,
        reboot_started, node_ready, uncordoned, lock_released, finished).
      - Any key may be missing - a node that was not needed has only started and finished, a failed node stops
        where it failed. Timeline values may also be numeric strings or ISO 8601 timestamps; others are left out
        with a warning.
    type: list
    elements: dict
    required: true
  title:
    description: Title of the report.
    type: str
    default: Roll-out
  html_path:
    description: Where to write the HTML report; not written when not set.
    type: path
  json_path:
    description: Where to write the JSON report; not written when not set.
    type: path
attributes:
  check_mode:
    support: full
    details: Computes everything and writes no file.
  diff_mode:
    support: full
    details: Shows which report files would change, as a content hash and size before and after.
  idempotent:
    support: full
    details: A file whose content is already the same is not rewritten, so the same records give C(changed=false).
"""

EXAMPLES = r"""
- name: Write the roll-out report
  nodepatch.kube.rollout_report:
    title: Nightly patching
    records: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('safe_reboot_record', 'defined')
                 | map(attribute='safe_reboot_record') | list }}"
    html_path: /var/www/reports/rollout.html
    json_path: /var/www/reports/rollout.json
  delegate_to: localhost
  run_once: true
  register: report

- name: Print it
  ansible.builtin.debug:
    msg: "{{ report.lines }}"
"""

RETURN = r"""
table:
  description: The summary table as text.
  returned: always
  type: str
lines:
  description: The table, one line per item, then a one-line summary; for ansible.builtin.debug.
  returned: always
  type: list
  elements: str
summary:
  description:
    - Counts per result (V(other) counts results the report does not know), nodes that needed a reboot, first
      and last recorded moment (epoch seconds) and the wall time between them, pods evicted, the failed and
      blocked nodes.
    - C(max_concurrent_reboots) is the most nodes between reboot started and Ready at one instant,
      C(max_concurrent_disrupted) the most between drain started and uncordoned, C(max_concurrent_lock_holders)
      the most between lock acquired and released.
    - C(resumed_nodes) are the nodes an earlier run had started to reboot and left (a cancelled or killed job);
      the summary line and the HTML status name them.
    - C(stopped_by) is the node whose failure stopped the roll-out (null when none failed) - the one the records
      of the nodes left out name (lock-paced mode), else the failed node that started first.
  returned: always
  type: dict
  sample: {nodes: 5, rebooted: 3, failed: 0, blocked: 1, not_needed: 1, skipped: 0, other: 0, needed: 4,
           started: 1732320000.0, finished: 1732320181.5, wall_seconds: 181.5, max_concurrent_reboots: 1,
           max_concurrent_disrupted: 1, max_concurrent_lock_holders: 1, pods_evicted: 12, failed_nodes: [],
           blocked_nodes: [worker-4], resumed_nodes: [], stopped_by: null}
nodes:
  description:
    - One row per node in the order the nodes started - the record's fields, the timeline as epoch seconds, and
      C(lock_wait_seconds), C(drain_seconds), C(down_seconds), C(total_seconds) (null where the phase did not
      happen), C(failed_during) (the phase a failed node stopped in), C(stopped_by) (for a node left out because
      another node failed, that node).
  returned: always
  type: list
  elements: dict
html_path:
  description: The HTML report written (or that would be).
  returned: when O(html_path) is set
  type: str
json_path:
  description: The JSON report written (or that would be).
  returned: when O(json_path) is set
  type: str
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.base_module import NodepatchModule
from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.files import ensure_content
from ansible_collections.nodepatch.kube.plugins.module_utils.report import (
    build,
    render_html,
    render_json,
    render_table,
    summary_line,
)


def main() -> None:
    module = NodepatchModule(
        argument_spec=dict(
            records=dict(type="list", elements="dict", required=True),
            title=dict(type="str", default="Roll-out"),
            html_path=dict(type="path"),
            json_path=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        rows, summary = build(params["records"])
    except (TypeError, ValueError) as error:
        module.fail_json(msg=f"records: a record is malformed ({error}); pass the safe_reboot_record dictionaries "
                             "the safe_reboot role keeps")
    for row in rows:
        if row["ignored_timeline_keys"]:
            module.warn(f"node {row['node']}: timeline entries {', '.join(row['ignored_timeline_keys'])} are not "
                        "times (epoch seconds or ISO 8601) and were left out of the report")
    table = render_table(rows)
    result = {"changed": False, "table": table, "lines": table.splitlines() + [summary_line(summary)],
              "summary": summary, "nodes": rows}
    renderers = {"html_path": lambda: render_html(params["title"], rows, summary),
                 "json_path": lambda: render_json(params["title"], rows, summary)}
    diff = DiffRecorder(header="report files")
    try:
        for key, render in renderers.items():
            path = params[key]
            if path:
                result[key] = path
                if ensure_content(path, render().encode("utf-8"), module.check_mode, diff):
                    result["changed"] = True
    except NodepatchError as error:
        error.message = f"{key}: {error.message}"
        module.fail_from(error)
    module.exit_json(diff=diff, **result)


if __name__ == "__main__":
    main()
