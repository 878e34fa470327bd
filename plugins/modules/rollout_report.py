#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_report
short_description: Summarise a roll-out as a table, JSON and a self-contained HTML timeline
version_added: 0.1.0
description:
  - Takes the per-node records the C(safe_reboot) role keeps (C(safe_reboot_record)) and computes, per node, the
    lock wait, drain and down time, and for the roll-out the counts, the wall time and the most nodes rebooting at
    once.
  - Writes the JSON and an HTML page (inline CSS and SVG, nothing fetched) with a timeline bar per node, and
    returns the table as text.
author:
  - nodepatch maintainers (@nodepatch)
options:
  records:
    description:
      - One record per node - node, host, needed, reasons, blocked, blocked_reasons, result (rebooted, not-needed,
        blocked, failed, skipped), error, pods_evicted, kernel_before, kernel_after, and a timeline of epoch
        seconds (started, lock_requested, lock_acquired, drain_started, drain_finished, reboot_started,
        node_ready, uncordoned, lock_released, finished; any may be missing).
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
    description: Computes everything and writes no file.
  diff_mode:
    support: partial
    description: Shows which files would change.
  idempotent:
    support: full
    description: Files whose content is already the same are not rewritten.
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
  description: The table, one line per item, for ansible.builtin.debug.
  returned: always
  type: list
  elements: str
summary:
  description: Counts per result, wall time, pods evicted, most nodes rebooting at once.
  returned: always
  type: dict
  sample: {nodes: 5, rebooted: 3, failed: 0, blocked: 0, not_needed: 2, skipped: 0, wall_seconds: 41.2,
           max_concurrent_reboots: 1, pods_evicted: 12}
nodes:
  description: One row per node with its durations in seconds (null where the phase did not happen).
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

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodepatch.kube.plugins.module_utils.report import (
    node_row,
    render_html,
    render_json,
    render_table,
    summarise,
)


def write_if_changed(module: AnsibleModule, path: str, content: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == content:
                return False
    except FileNotFoundError:
        pass
    except OSError as error:
        module.fail_json(msg=f"cannot read {path}: {error.strerror}")
    if module.check_mode:
        return True
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        temporary = f"{path}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except OSError as error:
        module.fail_json(msg=f"cannot write {path}: {error.strerror}")
    return True


def main() -> None:
    module = AnsibleModule(
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
        rows = sorted((node_row(record) for record in params["records"]), key=lambda row: str(row["node"]))
    except (TypeError, ValueError) as error:
        module.fail_json(msg=f"records: a record is malformed ({error}); pass safe_reboot_record dictionaries")
    summary = summarise(rows)
    table = render_table(rows)
    result = {"table": table, "lines": table.splitlines(), "summary": summary, "nodes": rows}
    outputs = {"html_path": (params["html_path"], lambda: render_html(params["title"], rows, summary)),
               "json_path": (params["json_path"], lambda: render_json(params["title"], rows, summary))}
    changed_files = []
    for key, (path, render) in outputs.items():
        if path:
            result[key] = path
            if write_if_changed(module, path, render()):
                changed_files.append(path)
    module.exit_json(changed=bool(changed_files), diff={"before": {"changed_files": []},
                                                        "after": {"changed_files": changed_files}}, **result)


if __name__ == "__main__":
    main()
