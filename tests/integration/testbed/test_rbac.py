# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The least-privilege kubeconfig (deploy/rbac.yml) can do what the collection needs, and nothing like secrets."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

KURED_LOCK = "weave.works/kured-node-lock"


def test_listing_secrets_is_forbidden(testbed: Testbed) -> None:
    core = testbed.core_v1(admin=False)
    with pytest.raises(ApiException) as cluster_wide:
        core.list_secret_for_all_namespaces()
    with pytest.raises(ApiException) as namespaced:
        core.list_namespaced_secret("kube-system")
    assert cluster_wide.value.status == 403
    assert namespaced.value.status == 403


@pytest.mark.parametrize(("group", "resource", "subresource", "verb", "allowed"), [
    ("", "nodes", "", "patch", True),
    ("", "nodes", "", "list", True),
    ("", "pods", "", "list", True),
    ("", "pods", "eviction", "create", True),
    ("apps", "daemonsets", "", "patch", True),
    ("coordination.k8s.io", "leases", "", "create", True),
    ("policy", "poddisruptionbudgets", "", "list", True),
    ("", "nodes", "", "update", False),
    ("apps", "daemonsets", "", "update", False),
    ("coordination.k8s.io", "leases", "", "delete", False),
    ("", "secrets", "", "get", False),
    ("", "nodes", "", "delete", False),
    ("", "pods", "", "create", False),
    ("apps", "deployments", "", "patch", False),
])
def test_access_review_matches_the_rbac_manifest(testbed: Testbed, group: str, resource: str, subresource: str,
                                                 verb: str, allowed: bool) -> None:
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(group=group, resource=resource, subresource=subresource,
                                                        verb=verb)))
    answer = client.AuthorizationV1Api(testbed.api_client(admin=False)).create_self_subject_access_review(review)
    assert answer.status.allowed is allowed


@pytest.mark.parametrize(("namespace", "resource", "subresource", "verb", "allowed"), [
    ("nodepatch-system", "pods", "", "create", True),
    ("nodepatch-system", "pods", "", "delete", True),
    ("nodepatch-system", "pods", "", "watch", True),
    ("nodepatch-system", "pods", "exec", "create", True),
    ("nodepatch-system", "pods", "exec", "get", True),
    ("nodepatch-system", "events", "", "list", True),
    ("default", "pods", "", "create", False),
    ("kube-system", "pods", "exec", "create", False),
    ("nodepatch-system", "secrets", "", "get", False),
])
def test_node_pods_may_be_created_and_entered_only_in_the_agent_namespace(
        testbed: Testbed, namespace: str, resource: str, subresource: str, verb: str, allowed: bool) -> None:
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(namespace=namespace, resource=resource,
                                                        subresource=subresource, verb=verb)))
    answer = client.AuthorizationV1Api(testbed.api_client(admin=False)).create_self_subject_access_review(review)
    assert answer.status.allowed is allowed


def test_patching_a_node_annotation_is_allowed(testbed: Testbed) -> None:
    core = testbed.core_v1(admin=False)
    node = testbed.nodes[-1]
    core.patch_node(node, {"metadata": {"annotations": {"nodepatch.test/probe": "1"}}})
    try:
        assert core.read_node(node).metadata.annotations["nodepatch.test/probe"] == "1"
    finally:
        core.patch_node(node, {"metadata": {"annotations": {"nodepatch.test/probe": None}}})


def test_the_kured_lock_annotation_can_be_written_and_removed(testbed: Testbed) -> None:
    apps = testbed.apps_v1(admin=False)
    lock = {"nodeID": testbed.nodes[0], "metadata": {"unschedulable": False},
            "created": "2024-05-31T06:31:37.441623522Z", "TTL": 0}
    apps.patch_namespaced_daemon_set("kured", "kube-system",
                                     {"metadata": {"annotations": {KURED_LOCK: json.dumps(lock)}}})
    try:
        stored = apps.read_namespaced_daemon_set("kured", "kube-system").metadata.annotations[KURED_LOCK]
        assert json.loads(stored) == lock
    finally:
        apps.patch_namespaced_daemon_set("kured", "kube-system", {"metadata": {"annotations": {KURED_LOCK: None}}})


def test_a_lease_can_be_created_and_renewed_but_not_deleted(testbed: Testbed) -> None:
    coordination = testbed.coordination_v1(admin=False)
    name = f"nodepatch-probe-{uuid.uuid4().hex[:6]}"
    lease = client.V1Lease(metadata=client.V1ObjectMeta(name=name),
                           spec=client.V1LeaseSpec(holder_identity=testbed.nodes[0], lease_duration_seconds=60))
    coordination.create_namespaced_lease("nodepatch-system", lease)
    try:
        coordination.patch_namespaced_lease(name, "nodepatch-system", {"spec": {"holderIdentity": testbed.nodes[1]}})
        # The lock lists its Leases and releases a slot by writing it empty: no get, no delete.
        with pytest.raises(ApiException) as deleting:
            coordination.delete_namespaced_lease(name, "nodepatch-system")
        assert deleting.value.status == 403
        admin = testbed.coordination_v1()
        assert admin.read_namespaced_lease(name, "nodepatch-system").spec.holder_identity == testbed.nodes[1]
    finally:
        testbed.coordination_v1().delete_namespaced_lease(name, "nodepatch-system")
