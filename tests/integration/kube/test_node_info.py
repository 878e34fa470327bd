# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_info against the real API server with the least-privilege kubeconfig: the facts as the API has them, the
lock holders, and the wait for a node that comes back Ready with a new boot id (on the test bed's simulated reboot,
done to private nodes so that no other suite sees a shared node go NotReady)."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import ModuleRunner, Testbed

TEST_KEY = "nodepatch.test/node-info"


def node_manifest(name: str, key: str, boot_id: str) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    resources = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "type": "kwok", TEST_KEY: key, "agentpool": "infopool",
                                                  "topology.kubernetes.io/zone": "testzone-2",
                                                  "kubernetes.azure.com/node-image-version": "AKSUbuntu-test.1"},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake",
                                         "weave.works/kured-most-recent-reboot-needed": "2026-11-23T00:00:00Z",
                                         "nodepatch.kube/was-unschedulable": "false"}},
            "spec": {"taints": [{"key": TEST_KEY, "value": key, "effect": "NoSchedule"}]},
            "status": {"capacity": resources, "allocatable": resources,
                       "addresses": [{"type": "InternalIP", "address": "10.99.0.7"}],
                       "nodeInfo": {"bootID": boot_id, "kernelVersion": "5.15.0-1051-azure",
                                    "osImage": "Ubuntu 22.04.3 LTS", "kubeletVersion": "v1.36.3",
                                    "containerRuntimeVersion": "containerd://1.7.5-1", "operatingSystem": "linux",
                                    "architecture": "amd64", "machineID": "m", "systemUUID": "s",
                                    "kubeProxyVersion": "", "kernelVersionX": ""},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "created Ready by test_node_info",
                                       "lastHeartbeatTime": now, "lastTransitionTime": now}]}}


@pytest.fixture
def private_nodes(testbed: Testbed) -> Iterator[list[str]]:
    key = uuid.uuid4().hex[:6]
    names = [f"np-info-{key}-{index}" for index in range(2)]
    core = testbed.core_v1()
    try:
        for name in names:
            manifest = node_manifest(name, key, str(uuid.uuid4()))
            manifest["status"]["nodeInfo"].pop("kernelVersionX")
            core.create_node(manifest)
        testbed.wait_until(lambda: all(testbed.node_ready(name) for name in names), 60, "private nodes Ready")
        yield names
    finally:
        testbed.delete_nodes(names)


def info(run_module: ModuleRunner, testbed: Testbed, **args: Any) -> dict[str, Any]:
    return run_module("node_info", {"kubeconfig": testbed.kubeconfig, **args})


def test_facts_match_the_api_for_every_test_bed_node(testbed: Testbed, run_module: ModuleRunner) -> None:
    result = info(run_module, testbed, names=testbed.nodes)
    assert not result.get("failed"), result
    assert [node["name"] for node in result["nodes"]] == testbed.nodes
    assert set(result["nodes_by_name"]) == set(testbed.nodes)
    for facts in result["nodes"]:
        node = testbed.node(facts["name"])
        addresses = {address.type: address.address for address in node.status.addresses}
        assert facts["internal_ip"] == addresses["InternalIP"]
        assert facts["boot_id"] == node.status.node_info.boot_id
        assert facts["kernel_version"] == node.status.node_info.kernel_version
        assert facts["kubelet_version"] == node.status.node_info.kubelet_version
        assert facts["container_runtime"] == node.status.node_info.container_runtime_version
        assert facts["node_image_version"] == node.metadata.labels.get("kubernetes.azure.com/node-image-version")
        assert facts["agent_pool"] == "nodepool1" and facts["os"] == "linux"
        assert facts["unschedulable"] is bool(node.spec.unschedulable)


def test_private_node_facts_annotations_and_selector(testbed: Testbed, run_module: ModuleRunner,
                                                     private_nodes: list[str]) -> None:
    key = private_nodes[0].split("-")[2]
    result = info(run_module, testbed, label_selector=f"{TEST_KEY}={key}", lock_backend="none")
    assert [node["name"] for node in result["nodes"]] == sorted(private_nodes)
    facts = result["nodes_by_name"][private_nodes[0]]
    assert facts["agent_pool"] == "infopool" and facts["zone"] == "testzone-2"
    assert facts["node_image_version"] == "AKSUbuntu-test.1" and facts["internal_ip"] == "10.99.0.7"
    assert facts["taints"] == [{"key": TEST_KEY, "value": key, "effect": "NoSchedule"}]
    assert facts["annotations"] == {"weave.works/kured-most-recent-reboot-needed": "2026-11-23T00:00:00Z",
                                    "nodepatch.kube/was-unschedulable": "false"}
    assert result["lock_holders"] == []


def test_a_missing_node_is_named(testbed: Testbed, run_module: ModuleRunner) -> None:
    result = info(run_module, testbed, names=[testbed.nodes[0], "no-such-node"])
    assert result.get("failed") and "no node named no-such-node" in result["msg"]


def test_lock_holders_come_from_the_lock(testbed: Testbed, run_module: ModuleRunner) -> None:
    namespace = testbed.create_namespace("np-info-lock")
    try:
        labels = {"name": "kured"}
        testbed.apps_v1().create_namespaced_daemon_set(namespace, {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kured", "annotations": {"weave.works/kured-node-lock": json.dumps(
                {"nodeID": testbed.nodes[1], "metadata": {"unschedulable": False},
                 "created": "2026-11-23T00:00:00.123456789Z", "TTL": 0}, separators=(",", ":"))}},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "nodeSelector": {"nodepatch.test/no-such-label": "none"},
                "containers": [{"name": "kured", "image": "ghcr.io/kubereboot/kured:1.17.1"}]}}}})
        result = info(run_module, testbed, names=testbed.nodes[:2], lock_namespace=namespace)
        assert [holder["holder"] for holder in result["lock_holders"]] == [testbed.nodes[1]]
        assert result["lock_holders"][0]["created"] == "2026-11-23T00:00:00.123456789Z"
        assert [node["lock_holder"] for node in result["nodes"]] == [False, True]
        missing = info(run_module, testbed, names=testbed.nodes[:1], lock_namespace=namespace,
                       lock_daemonset="absent")
        assert not missing.get("failed") and missing["lock_holders"] == []
        assert "no lock holders read" in json.dumps(missing.get("warnings", []))  # 2.19 warnings are structured
    finally:
        testbed.delete_namespace(namespace)


def test_wait_until_ready_with_a_new_boot_id(testbed: Testbed, run_module: ModuleRunner,
                                             private_nodes: list[str]) -> None:
    node = private_nodes[0]
    old = testbed.boot_id(node)
    testbed.reboot(node, delay=20)
    started = time.monotonic()
    result = info(run_module, testbed, names=[node], wait_ready=True, changed_boot_id_from=old, wait_timeout=60,
                  lock_backend="none")
    elapsed = time.monotonic() - started
    assert not result.get("failed"), result
    facts = result["nodes"][0]
    assert facts["ready"] and facts["boot_id"] != old and facts["boot_id"] == testbed.boot_id(node)
    assert result["waited_seconds"] >= 3, "it returned before the node came back"
    assert elapsed < 35, "a watch returns as soon as the node is back"


def test_wait_for_several_nodes_with_a_dict_of_boot_ids(testbed: Testbed, run_module: ModuleRunner,
                                                        private_nodes: list[str]) -> None:
    old = {name: testbed.boot_id(name) for name in private_nodes}
    for name in private_nodes:
        testbed.reboot(name, delay=3)
    result = info(run_module, testbed, names=private_nodes, wait_ready=True, changed_boot_id_from=old,
                  wait_timeout=60, lock_backend="none")
    assert not result.get("failed"), result
    assert all(node["ready"] and node["boot_id"] != old[node["name"]] for node in result["nodes"])


def test_wait_times_out_when_the_boot_id_does_not_change(testbed: Testbed, run_module: ModuleRunner,
                                                         private_nodes: list[str]) -> None:
    node = private_nodes[1]
    old = testbed.boot_id(node)
    started = time.monotonic()
    result = info(run_module, testbed, names=[node], wait_ready=True, changed_boot_id_from=old, wait_timeout=3,
                  lock_backend="none")
    assert result.get("failed")
    assert f"not back within 3 s: {node}: ready=True, boot id {old} (unchanged)" in result["msg"]
    assert time.monotonic() - started < 15


def test_a_single_boot_id_needs_a_single_name(testbed: Testbed, run_module: ModuleRunner) -> None:
    result = info(run_module, testbed, names=testbed.nodes[:2], wait_ready=True, changed_boot_id_from="x")
    assert result.get("failed") and "exactly one name" in result["msg"]
