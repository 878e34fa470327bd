# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Nodes that misbehave during a roll-out of playbooks/patch_and_reboot.yml: one that never comes back, one whose
boot id does not change (the reboot did not happen), one deleted while it reboots (a VM scale set or the cluster
autoscaler removed it). The roll-out stops at that node, no second node goes down, the node keeps the lock (and its
cordon) so nobody else takes its place by mistake, and the report says what happened. A deleted holder's entry is
reported stale by the next run, and taken over only when asked (safe_reboot_lock_break_stale).

Module-level checks of the same faults live in tests/integration/kube/ (test_node_info: the wait that times out;
test_node_lock and kured/test_kured_mixed_rollout: stale holders); here the whole role and its report are judged.
"""

from __future__ import annotations

import datetime
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from tests.integration.conftest import PlaybookRunner, Testbed

PLAYBOOK = "playbooks/patch_and_reboot.yml"
IN_PROGRESS = "weave.works/kured-reboot-in-progress"
LOCK = "nodepatch.test/misbehaving-lock"
SCALE_DOWN = "cluster-autoscaler.kubernetes.io/scale-down-disabled"


@pytest.fixture
def bed(testbed: Testbed) -> Iterator[Testbed]:
    testbed.require_simulated("these roll-outs reboot nodes")
    reset(testbed)
    yield testbed
    reset(testbed)


def reset(bed: Testbed) -> None:
    for name in bed.nodes[:2]:
        bed.sentinel(name, on=False)
        if not bed.node_ready(name):
            bed.reboot(name, delay=0.2, wait=True)  # supersedes a reboot that would never end
        bed.core_v1().patch_node(name, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
            IN_PROGRESS: None, "nodepatch.kube/boot-id-before": None, "nodepatch.kube/reboot-requested": None, "nodepatch.kube/was-unschedulable": None,
            SCALE_DOWN: None, "nodepatch.kube/scale-down-disabled-before": None}}})
    bed.apps_v1().patch_namespaced_daemon_set("kured", "kube-system", {"metadata": {"annotations": {LOCK: None}}})


def inventory(bed: Testbed, tmp_path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    """Hosts on the local connection, each with its own reboot command, in the order given (the roll-out's)."""
    entries = {}
    for node, host_vars in hosts.items():
        sentinel = str(bed.sentinel_path(node)) if node in bed.nodes else str(tmp_path / f"{node}.reboot-required")
        entries[node] = {"ansible_connection": "local", "nodepatch_node_name": node,
                         "nodepatch_sentinel_file": sentinel, **host_vars}
    path = tmp_path / f"inventory-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(yaml.safe_dump({"all": {"vars": {"ansible_python_interpreter": sys.executable},
                                            "hosts": entries}}, sort_keys=False))
    return path


def rollout(run_playbook: PlaybookRunner, bed: Testbed, tmp_path: Path, hosts: Path, **extra: Any) -> Any:
    return run_playbook(PLAYBOOK, {
        "patch_and_reboot_patch": False, "safe_reboot_method": "command", "safe_reboot_kubeconfig": bed.kubeconfig,
        "safe_reboot_lock_annotation": LOCK, "safe_reboot_drain_timeout": 30, "safe_reboot_ready_timeout": 5,
        "safe_reboot_lock_wait_timeout": 5, "safe_reboot_lock_wait_sleep": 1, **extra},
        inventory=hosts, env={"PWD": str(tmp_path)})


def report_rows(tmp_path: Path) -> dict[str, dict[str, Any]]:
    report = json.loads((tmp_path / "nodepatch-reports" / "rollout.json").read_text())
    return {row["node"]: row for row in report["nodes"]}


def reboot_command(bed: Testbed, node: str, delay: float) -> list[str]:
    return [*bed.reboot_command.split(), node, "--delay", str(delay)]


@pytest.mark.parametrize("fault", ["never back", "boot id unchanged"])
def test_a_node_that_does_not_come_back_keeps_the_lock_and_its_cordon_and_stops_the_rollout(
        bed: Testbed, run_playbook: PlaybookRunner, tmp_path: Path, fault: str) -> None:
    stuck, next_node = bed.nodes[:2]
    for name in (stuck, next_node):
        bed.sentinel(name)
    # "never back": down for an hour (the test brings it back); "boot id unchanged": the command did nothing.
    command = reboot_command(bed, stuck, 3600) if fault == "never back" else ["true"]
    hosts = inventory(bed, tmp_path, {stuck: {"safe_reboot_command": command},
                                      next_node: {"safe_reboot_command": reboot_command(bed, next_node, 1)}})
    boots = {name: bed.boot_id(name) for name in (stuck, next_node)}
    proc = rollout(run_playbook, bed, tmp_path, hosts)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-4000:]
    assert "it keeps the reboot lock and its cordon so that no other node goes down" in output, output[-4000:]
    node = bed.node(stuck)
    assert node.spec.unschedulable, "the node that did not come back must stay cordoned"
    assert IN_PROGRESS in (node.metadata.annotations or {}) and "nodepatch.kube/boot-id-before" in node.metadata.annotations
    assert node.metadata.annotations.get(SCALE_DOWN) == "true", "the autoscaler may remove the node we wait for"
    assert bed.lock_holders(annotation=LOCK) == [stuck]
    assert bed.boot_id(next_node) == boots[next_node] and not bed.node(next_node).spec.unschedulable, \
        "a second node went down"
    rows = report_rows(tmp_path)
    row = rows[stuck]
    assert row["result"] == "failed" and row["failed_during"], row
    if fault == "never back":
        assert f"not back within 5 s: {stuck}: ready=False" in row["error"], row["error"]
    else:
        assert f"ready=True, boot id {boots[stuck]} (unchanged)" in row["error"], row["error"]
    assert row["was_unschedulable"] is False and row["boot_id_after"] is None
    assert rows.get(next_node, {}).get("result") != "rebooted"


@pytest.fixture
def doomed_node(bed: Testbed) -> Iterator[str]:
    """A node of its own, managed by kwok like the test bed's, that the test deletes."""
    name = f"np-doomed-{uuid.uuid4().hex[:6]}"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    resources = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    bed.core_v1().create_node({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                              "type": "kwok"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"}},
        "status": {"capacity": resources, "allocatable": resources,
                   "nodeInfo": {"bootID": str(uuid.uuid4()), "kernelVersion": "5.15.0-1051-azure",
                                "osImage": "Ubuntu 22.04.3 LTS", "kubeletVersion": "v1.36.3", "machineID": "m",
                                "systemUUID": "s", "containerRuntimeVersion": "containerd://1.7.5-1",
                                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok",
                                   "lastHeartbeatTime": now, "lastTransitionTime": now}]}})
    try:
        bed.wait_until(lambda: bed.node_ready(name), 60, f"{name} Ready")
        yield name
    finally:
        bed.delete_nodes([name])


def test_a_node_deleted_while_it_reboots_stops_the_rollout_and_its_lock_entry_is_reported_stale(
        bed: Testbed, run_playbook: PlaybookRunner, tmp_path: Path, doomed_node: str) -> None:
    other = bed.nodes[0]
    (tmp_path / f"{doomed_node}.reboot-required").touch()
    bed.sentinel(other)
    boot = bed.boot_id(other)
    # Its "reboot" deletes the Node, as a scale set that replaces the machine would.
    delete = [str(Path(bed.info["bin_dir"]) / "kubectl"), f"--kubeconfig={bed.admin_kubeconfig}", "delete", "node",
              doomed_node, "--wait=false"]
    hosts = inventory(bed, tmp_path, {doomed_node: {"safe_reboot_command": delete},
                                      other: {"safe_reboot_command": reboot_command(bed, other, 1)}})
    proc = rollout(run_playbook, bed, tmp_path, hosts)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-4000:]
    assert bed.lock_holders(annotation=LOCK) == [doomed_node]
    assert bed.boot_id(other) == boot and not bed.node(other).spec.unschedulable, "a second node went down"
    row = report_rows(tmp_path)[doomed_node]
    assert row["result"] == "failed" and doomed_node in row["error"], row

    # The next run finds the entry of a node that no longer exists: reported stale, and it still counts ...
    alone = inventory(bed, tmp_path, {other: {"safe_reboot_command": reboot_command(bed, other, 1)}})
    blocked = rollout(run_playbook, bed, tmp_path, alone)
    assert blocked.returncode != 0
    assert f"held by {doomed_node} (no Node of that name: stale" in blocked.stdout, blocked.stdout[-4000:]
    assert "safe_reboot_lock_break_stale" in blocked.stdout
    assert bed.boot_id(other) == boot and bed.lock_holders(annotation=LOCK) == [doomed_node]
    assert report_rows(tmp_path)[other]["result"] == "failed"
    # ... until the operator, having looked, says to take it over.
    taken = rollout(run_playbook, bed, tmp_path, alone, safe_reboot_lock_break_stale=True,
                    safe_reboot_ready_timeout=60)
    assert taken.returncode == 0, taken.stdout[-4000:]
    assert bed.boot_id(other) != boot and bed.lock_holders(annotation=LOCK) == []
    assert report_rows(tmp_path)[other]["result"] == "rebooted"
