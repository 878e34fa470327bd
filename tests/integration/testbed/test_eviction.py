# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The API server, not the test, enforces PodDisruptionBudgets: evictions are real."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

APP = "web"

NAMESPACE_PREFIX = "np-evict"


def deploy_with_pdb(testbed: Testbed, namespace: str, min_available: int) -> None:
    labels = {"app": APP}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name=APP),
        spec=client.V1DeploymentSpec(
            replicas=3,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="registry.k8s.io/pause:3.10")]),
            ),
        ),
    )
    testbed.apps_v1().create_namespaced_deployment(namespace, deployment)
    pdb = client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name=f"{APP}-pdb"),
        spec=client.V1PodDisruptionBudgetSpec(min_available=min_available,
                                              selector=client.V1LabelSelector(match_labels=labels)),
    )
    testbed.policy_v1().create_namespaced_pod_disruption_budget(namespace, pdb)
    testbed.wait_until(lambda: len(running_pods(testbed, namespace)) == 3, 60, "3 running pods")

    def pdb_settled() -> bool:
        status = testbed.policy_v1().read_namespaced_pod_disruption_budget(f"{APP}-pdb", namespace).status
        return bool(status and status.current_healthy == 3 and status.disruptions_allowed == 3 - min_available)

    # The disruption controller must have counted the pods, or the API server refuses for a different reason.
    testbed.wait_until(pdb_settled, 60, f"the disruption controller to allow {3 - min_available} disruption(s)")


def running_pods(testbed: Testbed, namespace: str) -> list[Any]:
    pods = testbed.core_v1().list_namespaced_pod(namespace, label_selector=f"app={APP}").items
    return [p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]


def evict(testbed: Testbed, pod: Any) -> None:
    # The least-privilege identity evicts, as the collection's node_drain will.
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=pod.metadata.namespace))
    testbed.core_v1(admin=False).create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body)


def test_eviction_is_refused_with_429_when_the_pdb_allows_no_disruption(testbed: Testbed, namespace: str) -> None:
    deploy_with_pdb(testbed, namespace, min_available=3)
    pod = running_pods(testbed, namespace)[0]

    with pytest.raises(ApiException) as refused:
        evict(testbed, pod)

    assert refused.value.status == 429
    assert "disruption budget" in str(refused.value.body)
    assert pod.metadata.name in {p.metadata.name for p in running_pods(testbed, namespace)}


def test_eviction_succeeds_and_the_replacement_runs_on_another_node(testbed: Testbed, namespace: str) -> None:
    deploy_with_pdb(testbed, namespace, min_available=2)
    before = running_pods(testbed, namespace)
    pod = before[0]
    node = pod.spec.node_name
    core = testbed.core_v1(admin=False)
    # Cordon first, as a drain does, so the scheduler must place the replacement elsewhere.
    core.patch_node(node, {"spec": {"unschedulable": True}})
    try:
        evict(testbed, pod)

        def replaced() -> bool:
            pods = running_pods(testbed, namespace)
            return len(pods) == 3 and pod.metadata.name not in {p.metadata.name for p in pods}

        testbed.wait_until(replaced, 60, "a replacement pod to be Running")
        old_names = {p.metadata.name for p in before}
        replacement = next(p for p in running_pods(testbed, namespace) if p.metadata.name not in old_names)
        assert replacement.spec.node_name != node
        assert replacement.spec.node_name in testbed.nodes
    finally:
        core.patch_node(node, {"spec": {"unschedulable": None}})
