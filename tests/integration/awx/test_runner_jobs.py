# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The playbooks as AWX job templates run them: through ansible-runner, the nodes from the nodepatch.kube.nodes
inventory plugin, the kubeconfig and the Azure service principal as the credential injectors pass them
(environment variables), and the results read from runner's status, rc, events and artifacts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

LOCK_ANNOTATION = "weave.works/kured-node-lock"
IN_PROGRESS = "weave.works/kured-reboot-in-progress"
NAMESPACE_PREFIX = "np-awx"


@pytest.fixture
def cluster(testbed: Any) -> Any:
    """Every node schedulable, unmarked and Ready, no sentinel, the lock free: before and after each job."""
    testbed.require_simulated("the roll-out jobs reboot nodes")

    def reset() -> None:
        for name in testbed.nodes:
            testbed.sentinel(name, on=False)
            testbed.core_v1().patch_node(name, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
                IN_PROGRESS: None, "nodepatch.kube/boot-id-before": None, "nodepatch.kube/reboot-requested": None, "nodepatch.kube/was-unschedulable": None}}})
        testbed.apps_v1().patch_namespaced_daemon_set("kured", "kube-system",
                                                      {"metadata": {"annotations": {LOCK_ANNOTATION: None}}})
        testbed.wait_until(lambda: all(testbed.node_ready(name) for name in testbed.nodes), 60, "all nodes Ready")

    reset()
    yield testbed
    reset()


def kubeconfig_token(path: str) -> str:
    users = yaml.safe_load(Path(path).read_text())["users"]
    return str(users[0]["user"]["token"])


@pytest.fixture
def rollout_job(job: Any, survey_answers: Any, inject_credential: Any) -> Any:
    """rollout_job(cluster, limit, answers=None, **extravars) -> Job: patch_and_reboot.yml as a job template
    launches it (see launch_rollout)."""
    def make(cluster: Any, limit: list[str], answers: dict[str, Any] | None = None, **extravars: Any) -> Any:
        return launch_rollout(job, survey_answers, inject_credential, cluster, limit, answers, **extravars)
    return make


def launch_rollout(job: Any, survey_answers: Any, inject_credential: Any, cluster: Any, limit: list[str],
                   answers: dict[str, Any] | None = None, **extravars: Any) -> Any:
    """The plugin's inventory, the documented kubeconfig credential type injected as AWX does, the template's extra
    vars plus the survey's answers, the template's limit and forks; host variables stand in for the test bed's
    machines."""
    return job(
        "patch_and_reboot.yml",
        {"patch_and_reboot_patch": False, "patch_and_reboot_report_dir": "{{ playbook_dir }}/nodepatch-reports",
         "safe_reboot_method": "command", "safe_reboot_command": "{{ nodepatch_testbed_reboot_command | split }}",
         "safe_reboot_ready_timeout": 120, "safe_reboot_lock_wait_timeout": 120, "safe_reboot_lock_wait_sleep": 1,
         **extravars,
         **survey_answers("patch_and_reboot", **{"safe_reboot_drain_timeout": 60, **(answers or {})})},
        envvars=inject_credential("kubeconfig-credential-type.yml",
                                  {"kubeconfig": Path(cluster.kubeconfig).read_text()}),
        inventory={"cluster.nodes.yml": {"plugin": "nodepatch.kube.nodes", "ansible_host_from_internal_ip": False}},
        host_vars={name: {"ansible_connection": "local", "nodepatch_sentinel_file": str(cluster.sentinel_path(name)),
                          "nodepatch_testbed_reboot_command": f"{cluster.reboot_command} {name}"}
                   for name in cluster.nodes},
        limit=",".join(limit), forks=5)


def summary_lines(job: Any) -> list[str]:
    results = job.task_results("Show the roll-out summary")
    assert len(results) == 1, "one summary for the whole roll-out"
    return list(results[0]["msg"])


def test_a_rollout_job_succeeds_and_hands_its_summary_to_the_workflow_without_secrets(
        cluster: Any, rollout_job: Any, receiver: Any) -> None:
    needy, spare = cluster.nodes[1:3]
    cluster.sentinel(needy)
    before = cluster.boot_id(needy)
    # The survey's "no" arrives as the string "false": it must not force a reboot of the spare node.
    rollout = rollout_job(cluster, [needy, spare],
                          answers={"safe_reboot_concurrency": 2, "safe_reboot_force_reboot": "false"},
                          safe_reboot_notify_webhooks=[{"url": receiver.url("/hooks/awx-s3cret-hook")}])
    result = rollout.run()
    assert (result.status, result.rc) == ("successful", 0), rollout.stdout()[-4000:]
    assert cluster.boot_id(needy) != before
    artifact = rollout.stats_artifact()
    assert artifact["rollout_summary"]["rebooted"] == 1 and artifact["rollout_summary"]["nodes"] == 2
    assert artifact["rollout_summary"]["resumed_nodes"] == []
    assert {row["node"]: row["result"] for row in artifact["rollout_nodes"]} == {needy: "rebooted",
                                                                                 spare: "not-needed"}
    lines = summary_lines(rollout)
    for name, result in ((needy, "rebooted"), (spare, "not-needed")):
        row = next(line for line in lines if line.startswith(name))
        assert row.rstrip().endswith(result), row
    assert lines[-2].startswith("2 nodes: 1 rebooted, 0 blocked, 0 failed, 1 not needed")
    assert [request.body["event"] for request in receiver.requests] == ["reboot_started", "reboot_finished"]
    rollout.assert_no_secret(kubeconfig_token(cluster.kubeconfig), "awx-s3cret-hook")
    assert rollout.leftover_pids() == []


def deploy_unevictable(testbed: Any, node: str) -> str:
    """Two pods on `node` under a PodDisruptionBudget that allows no disruption: a drain waits on them."""
    namespace = testbed.create_namespace(NAMESPACE_PREFIX)
    labels = {"app": "pinned"}
    testbed.apps_v1().create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pinned"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "app", "image": "registry.local/app:1"}]}}}})
    testbed.policy_v1().create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pinned-pdb"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": labels}}})

    def counted() -> bool:
        pdb = testbed.policy_v1().read_namespaced_pod_disruption_budget("pinned-pdb", namespace)
        return bool(pdb.status) and (pdb.status.current_healthy or 0) >= 2
    testbed.wait_until(counted, 60, "the pinned pods Running and counted by their PodDisruptionBudget")
    return namespace


def test_a_job_cancelled_mid_drain_is_finished_by_the_next_job_whose_report_says_so(
        cluster: Any, rollout_job: Any) -> None:
    node = cluster.nodes[0]
    cluster.sentinel(node)
    before = cluster.boot_id(node)
    namespace = deploy_unevictable(cluster, node)
    first = rollout_job(cluster, [node], answers={"safe_reboot_drain_timeout": 120})
    drain_seen: list[float] = []

    def cancel() -> bool:
        """AWX's Cancel button: true once the roll-out has cordoned the node and sits in the drain."""
        if not drain_seen and cluster.core_v1().read_node(node).spec.unschedulable:
            drain_seen.append(time.monotonic())
        return bool(drain_seen) and time.monotonic() - drain_seen[0] > 2

    try:
        first.start(cancel)
        first.thread.join(timeout=180)
        assert not first.thread.is_alive(), "runner did not stop the cancelled job"
        assert (first.runner.status, first.runner.rc) == ("canceled", 254)
        # Runner SIGKILLs ansible-playbook's process group; Ansible's workers run in sessions of their own, so the
        # running task outlives it here. In AWX the execution environment's container ends with the job: so here.
        leftovers = first.end_leftovers()
        print(f"processes of the cancelled job still running after runner returned: {len(leftovers)}")
        assert cluster.core_v1().read_node(node).spec.unschedulable, "the cancel left the node cordoned, as expected"
        assert cluster.lock_holders() == [node]
    finally:
        cluster.delete_namespace(namespace)

    second = rollout_job(cluster, [node])
    result = second.run()
    assert (result.status, result.rc) == ("successful", 0), second.stdout()[-4000:]
    assert not cluster.core_v1().read_node(node).spec.unschedulable
    assert IN_PROGRESS not in (cluster.core_v1().read_node(node).metadata.annotations or {})
    assert cluster.lock_holders() == []
    assert cluster.boot_id(node) != before
    summary = second.stats_artifact()["rollout_summary"]
    assert summary["resumed_nodes"] == [node] and summary["rebooted"] == 1
    assert summary_lines(second)[-2].endswith(
        f"an earlier run was interrupted (cancelled or killed) while rebooting {node}: finished here")


AKS_PLAYBOOK = "aks_auto_upgrade.yml"


def aks_job(job: Any, survey_answers: Any, emulator: Any, clusters: list[dict[str, Any]]) -> Any:
    """aks_auto_upgrade.yml with AWX's Azure Resource Manager credential: the service principal in AZURE_*."""
    return job(
        AKS_PLAYBOOK,
        {"aks_auto_upgrade_clusters": clusters,
         "aks_auto_upgrade_auth": {"resource_manager_url": emulator.url, "authority_host": emulator.url},
         **survey_answers("aks_auto_upgrade")},
        envvars={"AZURE_SUBSCRIPTION_ID": emulator.subscription, "AZURE_CLIENT_ID": emulator.client_id,
                 "AZURE_SECRET": emulator.client_secret, "AZURE_TENANT": emulator.tenant,
                 "REQUESTS_CA_BUNDLE": str(emulator.ca_path), "NO_PROXY": "127.0.0.1,localhost"})


def test_an_aks_job_publishes_one_row_per_cluster_and_never_the_client_secret(
        job: Any, survey_answers: Any, emulator: Any) -> None:
    run = aks_job(job, survey_answers, emulator, [
        {"resource_group": "rg-linux", "name": "aks-linux", "upgrade_channel": "patch",
         "node_os_upgrade_channel": "Unmanaged"}])
    result = run.run()
    assert (result.status, result.rc) == ("successful", 0), run.stdout()[-4000:]
    rows = run.stats_artifact()["aks_auto_upgrade"]
    assert [(row["cluster"], row["upgrade_channel"], row["status"]) for row in rows] == [
        ("rg-linux/aks-linux", "patch", "changed")]
    assert emulator.cluster_body("rg-linux", "aks-linux")["properties"]["autoUpgradeProfile"] == {
        "upgradeChannel": "patch", "nodeOSUpgradeChannel": "Unmanaged"}
    run.assert_no_secret(emulator.client_secret)
    # Runner's own record of the command line holds the job's environment, the injected secret with it.
    assert emulator.client_secret in (Path(result.config.artifact_dir) / "command").read_text()


def test_an_aks_job_with_a_refused_cluster_fails_and_still_hands_over_every_row(
        job: Any, survey_answers: Any, emulator: Any) -> None:
    run = aks_job(job, survey_answers, emulator, [
        {"resource_group": "rg-mixed", "name": "aks-windows", "node_os_upgrade_channel": "SecurityPatch"},
        {"resource_group": "rg-linux", "name": "aks-linux", "upgrade_channel": "rapid"}])
    result = run.run()
    assert (result.status, result.rc) == ("failed", 2), run.stdout()[-4000:]
    rows = {row["cluster"]: row for row in run.stats_artifact()["aks_auto_upgrade"]}
    assert rows["rg-mixed/aks-windows"]["status"] == "failed"
    assert "Windows" in rows["rg-mixed/aks-windows"]["error"]
    assert rows["rg-linux/aks-linux"]["status"] == "changed"
    run.assert_no_secret(emulator.client_secret)
