# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""No secret in what a roll-out shows: one node rebooted by playbooks/patch_and_reboot.yml at -vvv, with the
token-based least-privilege kubeconfig and a webhook whose path and query are its credential. Its whole output
(set_stats shown), the JSON and HTML reports, and what the webhook received go through secrets_scan.find_leaks:
no bearer token, no webhook URL (or its path or query), no client key or certificate of any kubeconfig."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from secrets_scan import find_leaks, kubeconfig_secrets, url_secrets

PLAYBOOK = "playbooks/patch_and_reboot.yml"
LOCK_ANNOTATION = "weave.works/kured-node-lock"


@pytest.fixture
def one_node(testbed: Any) -> Any:
    testbed.require_simulated("a roll-out reboots a node")
    node = testbed.nodes[0]
    testbed.sentinel(node, on=True)
    yield node
    testbed.sentinel(node, on=False)
    testbed.core_v1().patch_node(node, {"spec": {"unschedulable": None}})
    testbed.apps_v1().patch_namespaced_daemon_set("kured", "kube-system",
                                                  {"metadata": {"annotations": {LOCK_ANNOTATION: None}}})


def test_a_rollout_at_vvv_shows_no_token_webhook_url_or_key(testbed: Any, one_node: str, run_playbook: Any,
                                                            receiver: Any, tmp_path: Path) -> None:
    webhook = receiver.url("/hooks/T0SECRET42/B0SECRET42/xoxb-np-webhook-credential?sig=np-query-credential-77")
    extra = {
        "patch_and_reboot_hosts": one_node,
        "patch_and_reboot_patch": False,
        "safe_reboot_method": "command",
        "safe_reboot_command": "{{ nodepatch_testbed_reboot_command | split }}",
        "safe_reboot_kubeconfig": testbed.kubeconfig,
        "safe_reboot_drain_timeout": 60,
        "safe_reboot_ready_timeout": 120,
        "safe_reboot_lock_wait_timeout": 60,
        "safe_reboot_lock_wait_sleep": 1,
        "safe_reboot_notify_webhooks": [{"url": webhook}],
    }
    proc = run_playbook(PLAYBOOK, extra, inventory=testbed.inventory, args=("-vvv",),
                        env={"PWD": str(tmp_path), "ANSIBLE_SHOW_CUSTOM_STATS": "true"})
    assert proc.returncode == 0, f"the roll-out failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    assert "rollout_summary" in proc.stdout, "set_stats are not in the output (ANSIBLE_SHOW_CUSTOM_STATS)"
    reports = tmp_path / "nodepatch-reports"
    outputs = {
        "playbook output (-vvv)": proc.stdout,
        "playbook stderr": proc.stderr,
        "rollout.json": (reports / "rollout.json").read_text(),
        "rollout.html": (reports / "rollout.html").read_text(),
    }
    rows = json.loads(outputs["rollout.json"])["nodes"]
    assert [row["node"] for row in rows] == [one_node] and rows[0]["result"], rows
    assert receiver.requests, "the webhook was never called: the URL was not exercised"
    outputs["webhook payloads"] = [request.body for request in receiver.requests]
    secrets = {**kubeconfig_secrets(testbed.kubeconfig), **kubeconfig_secrets(testbed.admin_kubeconfig),
               **url_secrets("webhook", webhook)}
    assert any(label.startswith("token") for label in secrets), "the kubeconfig has no token: nothing is checked"
    leaks = find_leaks(secrets, outputs)
    print(f"\nscanned {len(outputs)} outputs ({sum(len(str(o)) for o in outputs.values())} characters) for "
          f"{len(secrets)} secrets: {len(leaks)} found")
    assert not leaks, "secrets in the roll-out's outputs:\n" + "\n".join(leaks)
