# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster autoscaler's `cluster-autoscaler.kubernetes.io/scale-down-disabled` on a node while the role has it
(from the mark to the unmark, safe_reboot_disable_scale_down), in one-node roll-outs of
playbooks/patch_and_reboot.yml on the test bed: "true" while the node is down, gone afterwards or back to what an
administrator had — after a roll-out, after a failed drain, and after a re-run finishing a crashed one.

A watch on the node sees every version the API server stores, so "while it is down" is each version whose Ready
condition is not True, and "never set" is no version carrying it; nothing is sampled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from node_versions import NodeVersions

if TYPE_CHECKING:
    from tests.integration.conftest import PlaybookRunner, Testbed

PLAYBOOK = "playbooks/patch_and_reboot.yml"
SCALE_DOWN = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
RECORD = "nodepatch.kube/scale-down-disabled-before"
IN_PROGRESS = "weave.works/kured-reboot-in-progress"
BOOT_ID_BEFORE = "nodepatch.kube/boot-id-before"
WAS_UNSCHEDULABLE = "nodepatch.kube/was-unschedulable"
LOCK = "nodepatch.test/scale-down-lock"
OURS = (SCALE_DOWN, RECORD, IN_PROGRESS, BOOT_ID_BEFORE, WAS_UNSCHEDULABLE)


@pytest.fixture
def bed(testbed: Testbed) -> Iterator[Testbed]:
    testbed.require_simulated("these roll-outs reboot nodes")
    reset(testbed, node_of(testbed))
    yield testbed
    reset(testbed, node_of(testbed))


def node_of(bed: Testbed) -> str:
    return bed.nodes[min(2, len(bed.nodes) - 1)]


def reset(bed: Testbed, node: str) -> None:
    bed.sentinel(node, on=False)
    bed.core_v1().patch_node(node, {"spec": {"unschedulable": None},
                                    "metadata": {"annotations": dict.fromkeys(OURS)}})
    bed.apps_v1().patch_namespaced_daemon_set("kured", "kube-system", {"metadata": {"annotations": {LOCK: None}}})
    bed.wait_until(lambda: bed.node_ready(node), 60, f"{node} Ready")


def rollout(run_playbook: PlaybookRunner, bed: Testbed, node: str, tmp_path: Path, **extra: Any) -> Any:
    return run_playbook(PLAYBOOK, {
        "patch_and_reboot_hosts": node, "patch_and_reboot_patch": False, "safe_reboot_method": "command",
        "safe_reboot_command": [*bed.reboot_command.split(), node, "--delay", "2"],
        "safe_reboot_kubeconfig": bed.kubeconfig, "safe_reboot_lock_annotation": LOCK,
        "safe_reboot_drain_timeout": 30, "safe_reboot_ready_timeout": 60, "safe_reboot_lock_wait_timeout": 10,
        "safe_reboot_lock_wait_sleep": 1, **extra}, inventory=bed.inventory, env={"PWD": str(tmp_path)})


def annotations(bed: Testbed, node: str) -> dict[str, str]:
    return dict(bed.node(node).metadata.annotations or {})


def result_of(tmp_path: Path, node: str) -> str:
    rows = json.loads((tmp_path / "nodepatch-reports" / "rollout.json").read_text())["nodes"]
    return str(next(row for row in rows if row["node"] == node)["result"])


@pytest.mark.parametrize("admin_value", [None, "false"], ids=["no annotation before", "administrator's false"])
def test_a_rebooting_node_is_kept_from_scale_down_and_given_back_as_it_was(
        bed: Testbed, run_playbook: PlaybookRunner, tmp_path: Path, admin_value: str | None) -> None:
    node = node_of(bed)
    if admin_value is not None:
        bed.core_v1().patch_node(node, {"metadata": {"annotations": {SCALE_DOWN: admin_value}}})
    bed.sentinel(node)
    boot = bed.boot_id(node)
    with NodeVersions(bed, node) as seen:
        proc = rollout(run_playbook, bed, node, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert bed.boot_id(node) != boot and result_of(tmp_path, node) == "rebooted"
    down = seen.values(SCALE_DOWN, ready=False)
    assert down and set(down) == {"true"}, f"while the node was down: {down}"
    after = annotations(bed, node)
    assert after.get(SCALE_DOWN) == admin_value and RECORD not in after, after
    assert not bed.node(node).spec.unschedulable and bed.lock_holders(annotation=LOCK) == []


def deploy_guarded_pod(bed: Testbed, node: str) -> str:
    """One pod on the node that its PodDisruptionBudget (minAvailable 1) never lets go."""
    namespace = bed.create_namespace("np-scale-down")
    labels = {"app": "guarded"}
    bed.apps_v1().create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "guarded"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "app", "image": "registry.local/app:1"}]}}}})
    bed.policy_v1().create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guarded-pdb"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}})

    def counted() -> bool:
        pdb = bed.policy_v1().read_namespaced_pod_disruption_budget("guarded-pdb", namespace)
        return bool(pdb.status) and (pdb.status.current_healthy or 0) >= 1
    bed.wait_until(counted, 60, "the guarded pod Running and counted by its PodDisruptionBudget")
    return namespace


@pytest.mark.parametrize("disable_scale_down", [True, False], ids=["held", "switched off"])
def test_a_failed_drain_leaves_no_scale_down_annotation_of_ours(
        bed: Testbed, run_playbook: PlaybookRunner, tmp_path: Path, disable_scale_down: bool) -> None:
    node = node_of(bed)
    bed.sentinel(node)
    namespace = deploy_guarded_pod(bed, node)
    boot = bed.boot_id(node)
    try:
        with NodeVersions(bed, node) as seen:
            proc = rollout(run_playbook, bed, node, tmp_path, safe_reboot_drain_timeout=2,
                           safe_reboot_disable_scale_down=disable_scale_down)
    finally:
        bed.delete_namespace(namespace)
    assert proc.returncode != 0 and "guarded-pdb" in proc.stdout, proc.stdout[-4000:]
    assert bed.boot_id(node) == boot and result_of(tmp_path, node) == "failed"
    held = [value for value in seen.values(SCALE_DOWN) if value is not None]
    if disable_scale_down:
        assert held and set(held) == {"true"}, held
    else:
        assert held == [], "switched off, the role set the annotation anyway"
    after = annotations(bed, node)
    assert SCALE_DOWN not in after and RECORD not in after, after
    assert not bed.node(node).spec.unschedulable and bed.lock_holders(annotation=LOCK) == []


def test_a_rerun_after_a_crash_between_mark_and_unmark_gives_the_annotation_back(
        bed: Testbed, run_playbook: PlaybookRunner, tmp_path: Path) -> None:
    """The scene a run killed after the reboot command leaves (the node back since): the lock, the cordon and
    every mark of ours, an administrator's "false" under our "true". The re-run resumes without a second reboot."""
    node = node_of(bed)
    boot = bed.boot_id(node)
    bed.core_v1().patch_node(node, {"spec": {"unschedulable": True}, "metadata": {"annotations": {
        BOOT_ID_BEFORE: "boot-id-of-the-crashed-run", WAS_UNSCHEDULABLE: "false",
        IN_PROGRESS: "2026-12-01T08:00:00Z", SCALE_DOWN: "true", RECORD: json.dumps("false")}}})
    bed.apps_v1().patch_namespaced_daemon_set("kured", "kube-system", {"metadata": {"annotations": {
        LOCK: json.dumps({"nodeID": node, "metadata": {"unschedulable": False},
                          "created": "2026-12-01T08:00:00.000000001Z", "TTL": 0})}}})
    proc = rollout(run_playbook, bed, node, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert bed.boot_id(node) == boot, "the re-run rebooted the node again"
    assert result_of(tmp_path, node) == "rebooted"
    after = annotations(bed, node)
    assert after.get(SCALE_DOWN) == "false" and not set(OURS[1:]) & set(after), after
    assert not bed.node(node).spec.unschedulable and bed.lock_holders(annotation=LOCK) == []
