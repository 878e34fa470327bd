# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Simulated reboots: NotReady, a new boot id, the sentinel cleared, Ready again; DaemonSet pods stay put."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kubernetes import client

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

NAMESPACE_PREFIX = "np-ds"


def ready_status(testbed: Testbed, node: str) -> str:
    conditions = testbed.node(node).status.conditions or []
    return next((c.status for c in conditions if c.type == "Ready"), "Unknown")


def test_nodes_look_like_aks_nodes(testbed: Testbed) -> None:
    for name in testbed.nodes:
        node = testbed.node(name)
        labels = node.metadata.labels
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["agentpool"] == labels["kubernetes.azure.com/agentpool"] == "nodepool1"
        assert labels["kubernetes.azure.com/node-image-version"].startswith("AKSUbuntu-")
        assert labels["topology.kubernetes.io/zone"].startswith("eastus-")
        assert node.status.node_info.kernel_version.endswith("-azure")
        assert len(node.status.node_info.boot_id) == 36
        assert testbed.node_ready(name)


def test_reboot_changes_the_boot_id_clears_the_sentinel_and_the_node_returns_ready(testbed: Testbed) -> None:
    node = testbed.nodes[1]
    sentinel = testbed.sentinel(node, on=True)
    assert sentinel.exists()
    before = testbed.boot_id(node)

    started = time.monotonic()
    testbed.reboot(node, delay=3)
    # Usable as a role's reboot command: it returns at once, the node comes back in the background.
    assert time.monotonic() - started < 3

    assert ready_status(testbed, node) == "False"
    assert not sentinel.exists()
    # kwok must not flip the node back to Ready while it is "down".
    time.sleep(1.5)
    assert ready_status(testbed, node) == "False"

    testbed.wait_until(lambda: testbed.node_ready(node), 30, f"{node} to be Ready again")
    assert testbed.boot_id(node) != before
    assert time.monotonic() - started >= 3
    # And it stays Ready: kwok manages it again, nothing overwrites the new boot id.
    after = testbed.boot_id(node)
    time.sleep(2)
    assert testbed.node_ready(node)
    assert testbed.boot_id(node) == after


def test_reboot_with_wait_returns_once_the_node_is_back(testbed: Testbed) -> None:
    node = testbed.nodes[2]
    before = testbed.boot_id(node)
    testbed.reboot(node, delay=1, wait=True)
    assert testbed.node_ready(node)
    assert testbed.boot_id(node) != before


def test_daemonset_pods_stay_on_their_node_through_cordon_and_reboot(testbed: Testbed,
                                                                     namespace: str) -> None:
    labels = {"app": "agent"}
    testbed.apps_v1().create_namespaced_daemon_set(namespace, client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name="agent"),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="agent", image="registry.k8s.io/pause:3.10")]),
            ),
        ),
    ))

    def pods_by_node() -> dict[str, str]:
        pods = testbed.core_v1().list_namespaced_pod(namespace, label_selector="app=agent").items
        return {p.spec.node_name: p.metadata.name for p in pods if p.status.phase == "Running"}

    testbed.wait_until(lambda: set(pods_by_node()) == set(testbed.nodes), 60, "one agent pod Running per node")
    placement = pods_by_node()
    node = testbed.nodes[3]
    core = testbed.core_v1()
    core.patch_node(node, {"spec": {"unschedulable": True}})
    try:
        testbed.reboot(node, delay=1)
        testbed.wait_until(lambda: ready_status(testbed, node) == "True", 30, f"{node} to be Ready again")
        assert pods_by_node() == placement
    finally:
        core.patch_node(node, {"spec": {"unschedulable": None}})
