# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_drain against the real API server, scheduler and controllers, with the least-privilege kubeconfig.

Every test gets its own three nodes (kwok-simulated, tainted so that nothing else lands on them) and its own
namespace, so it never cordons a node another suite uses. The first node is drained; the other two take the
evicted pods."""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from node_versions import NodeVersions

if TYPE_CHECKING:
    from tests.integration.conftest import ModuleRunner, Testbed

WAS_UNSCHEDULABLE = "nodepatch.kube/was-unschedulable"
POOL_KEY = "nodepatch.test/pool"
PAUSE = "registry.k8s.io/pause:3.10"


@dataclass
class Pool:
    """Three private nodes and a namespace; ``target`` is the node the test drains."""

    testbed: Testbed
    key: str
    nodes: list[str]
    namespace: str

    @property
    def target(self) -> str:
        return self.nodes[0]

    def placement(self) -> dict[str, Any]:
        return {"nodeSelector": {POOL_KEY: self.key},
                "tolerations": [{"key": POOL_KEY, "operator": "Equal", "value": self.key, "effect": "NoSchedule"}],
                "terminationGracePeriodSeconds": 1}

    def set_cordon(self, node: str, on: bool) -> None:
        self.testbed.core_v1().patch_node(node, {"spec": {"unschedulable": True if on else None}})

    def pods(self, node: str | None = None, label: str | None = None) -> list[Any]:
        pods = self.testbed.core_v1().list_namespaced_pod(self.namespace, label_selector=label).items
        return [p for p in pods if p.metadata.deletion_timestamp is None and (node is None or p.spec.node_name == node)]

    def running(self, label: str) -> list[Any]:
        return [p for p in self.pods(label=label) if p.status.phase == "Running" and any(
            c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]

    def on_target(self, build: Any) -> None:
        """Creates pods so that they all land on the target: the other nodes are cordoned meanwhile."""
        for node in self.nodes[1:]:
            self.set_cordon(node, True)
        try:
            build()
        finally:
            for node in self.nodes[1:]:
                self.set_cordon(node, False)

    def deployment(self, name: str, replicas: int, volumes: list[dict[str, Any]] | None = None) -> None:
        labels = {"app": name}
        spec = {**self.placement(), "containers": [{"name": "c", "image": PAUSE}], "volumes": volumes or []}
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": spec}}}
        self.on_target(lambda: (
            self.testbed.apps_v1().create_namespaced_deployment(self.namespace, body),
            self.testbed.wait_until(lambda: len(self.running(f"app={name}")) == replicas, 60,
                                    f"{replicas} running pods of {name}")))
        assert {p.spec.node_name for p in self.pods(label=f"app={name}")} == {self.target}

    def statefulset(self, name: str, replicas: int) -> None:
        labels = {"app": name}
        body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
                "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels},
                         "podManagementPolicy": "Parallel",
                         "template": {"metadata": {"labels": labels},
                                      "spec": {**self.placement(), "containers": [{"name": "c", "image": PAUSE}]}}}}
        self.on_target(lambda: (
            self.testbed.apps_v1().create_namespaced_stateful_set(self.namespace, body),
            self.testbed.wait_until(lambda: len(self.running(f"app={name}")) == replicas, 60,
                                    f"{replicas} running pods of {name}")))

    def daemonset(self, name: str) -> None:
        labels = {"app": name}
        body = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {**self.placement(), "containers": [{"name": "c", "image": PAUSE}]}}}}
        self.testbed.apps_v1().create_namespaced_daemon_set(self.namespace, body)
        self.testbed.wait_until(lambda: len(self.running(f"app={name}")) == len(self.nodes), 60,
                                f"a pod of DaemonSet {name} on each node")

    def bare_pod(self, name: str, volumes: list[dict[str, Any]] | None = None) -> None:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
                "spec": {**self.placement(), "nodeName": self.target, "volumes": volumes or [],
                         "containers": [{"name": "c", "image": PAUSE}]}}
        self.testbed.core_v1().create_namespaced_pod(self.namespace, body)
        self.testbed.wait_until(lambda: len(self.running(f"app={name}")) == 1, 60, f"pod {name} running")

    def pdb(self, name: str, app: str, min_available: int | None = None, max_unavailable: int | None = None,
            expect_allowed: int = 0) -> None:
        spec: dict[str, Any] = {"selector": {"matchLabels": {"app": app}}}
        if min_available is not None:
            spec["minAvailable"] = min_available
        if max_unavailable is not None:
            spec["maxUnavailable"] = max_unavailable
        self.testbed.policy_v1().create_namespaced_pod_disruption_budget(
            self.namespace, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
                             "spec": spec})

        def settled() -> bool:
            status = self.testbed.policy_v1().read_namespaced_pod_disruption_budget(name, self.namespace).status
            return bool(status and status.observed_generation and status.disruptions_allowed == expect_allowed
                        and status.current_healthy)

        # Until the disruption controller has counted the pods, the API server refuses every eviction.
        self.testbed.wait_until(settled, 60, f"PodDisruptionBudget {name} to allow {expect_allowed} disruption(s)")

    def node(self, name: str | None = None) -> Any:
        return self.testbed.core_v1().read_node(name or self.target)


def node_manifest(name: str, key: str) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    resources = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "type": "kwok", POOL_KEY: key},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"}},
            "spec": {"taints": [{"key": POOL_KEY, "value": key, "effect": "NoSchedule"}]},
            # Ready from the start (kwok keeps it so), so that no watcher of another suite sees a node NotReady.
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "created Ready by test_node_drain",
                                       "lastHeartbeatTime": now, "lastTransitionTime": now}]}}


@pytest.fixture
def pool(testbed: Testbed) -> Iterator[Pool]:
    key = uuid.uuid4().hex[:6]
    names = [f"np-drain-{key}-{index}" for index in range(3)]
    core = testbed.core_v1()
    namespace = testbed.create_namespace("np-drain")
    try:
        for name in names:
            core.create_node(node_manifest(name, key))
        testbed.wait_until(lambda: all(testbed.node_ready(name) for name in names), 60, "the pool's nodes Ready")
        yield Pool(testbed, key, names, namespace)
    finally:
        testbed.delete_namespace(namespace)
        testbed.delete_nodes(names)


def drain(run_module: ModuleRunner, testbed: Testbed, node: str, check: bool = False, diff: bool = False,
          **args: Any) -> dict[str, Any]:
    return run_module("node_drain", {"kubeconfig": testbed.kubeconfig, "name": node, **args}, check=check, diff=diff)


class HealthyWatcher:
    """Samples the ready, non-terminating pods of an app until stopped; ``minimum`` is the lowest count seen."""

    def __init__(self, pool: Pool, label: str) -> None:
        self.pool, self.label = pool, label
        self.minimum: int | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            count = len(self.pool.running(self.label))
            self.minimum = count if self.minimum is None else min(self.minimum, count)
            time.sleep(0.05)

    def __enter__(self) -> HealthyWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


# --------------------------------------------------------------------------------------------------- budgets


def test_a_budget_allowing_no_disruption_blocks_the_drain_until_the_timeout_and_is_named(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    pool.deployment("web", 2)
    pool.pdb("web-pdb", "web", min_available=2, expect_allowed=0)
    before = {p.metadata.uid for p in pool.pods(label="app=web")}

    started = time.monotonic()
    result = drain(run_module, testbed, pool.target, state="drained", timeout=6, eviction_retry_delay=1)
    took = time.monotonic() - started

    assert result.get("failed"), result
    assert took >= 6, "the drain gave up before its timeout"
    message = result["msg"]
    assert f"PodDisruptionBudget {pool.namespace}/web-pdb allows 0 disruption(s) (minAvailable 2" in message
    assert "timed out after 6 s" in message
    for uid_pod in pool.pods(label="app=web"):
        assert f"{pool.namespace}/{uid_pod.metadata.name}" in message  # refused, and still on the node
    assert [b["name"] for b in result["blocking_pdbs"]] == ["web-pdb"]
    assert result["evicted"] == []
    # Nothing was evicted past the budget: the same two pods still run on the node.
    assert {p.metadata.uid for p in pool.running("app=web")} == before
    assert pool.node().spec.unschedulable is True
    assert drain(run_module, testbed, pool.target, state="uncordoned")["changed"] is True


def test_a_satisfiable_budget_lets_the_drain_finish_without_going_below_it(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    pool.daemonset("agent")
    pool.deployment("web", 4)
    pool.pdb("web-pdb", "web", min_available=3, expect_allowed=1)

    # The budget allows one eviction at a time. With a retry delay far past the timeout, only the watch on the
    # budgets can ask the refused evictions again in time (without it, one last try at the timeout evicts one).
    with HealthyWatcher(pool, "app=web") as watcher:
        result = drain(run_module, testbed, pool.target, state="drained", timeout=90, eviction_retry_delay=3600)

    assert not result.get("failed"), result
    assert result["changed"] is True
    assert len(result["evicted"]) == 4
    assert watcher.minimum is not None and watcher.minimum >= 3, f"fell to {watcher.minimum} ready pods"
    # Rescheduled on the other nodes; the DaemonSet pod stays and is reported as skipped.
    testbed.wait_until(lambda: len(pool.running("app=web")) == 4, 60, "4 web pods running again")
    assert {p.spec.node_name for p in pool.pods(label="app=web")} <= set(pool.nodes[1:])
    assert [p.spec.node_name for p in pool.pods(label="app=agent") if p.spec.node_name == pool.target]
    assert any(s["pod"].startswith(f"{pool.namespace}/agent-") and "DaemonSet agent" in s["reason"]
               for s in result["left_on_node"])
    assert result["was_unschedulable"] is False
    assert pool.node().metadata.annotations[WAS_UNSCHEDULABLE] == "false"

    again = drain(run_module, testbed, pool.target, state="drained", timeout=30)
    assert (again["changed"], again["evicted"], again["message"]) == (False, [], "already drained")

    back = drain(run_module, testbed, pool.target, state="uncordoned")
    assert back["changed"] is True and back["unschedulable"] is False
    assert WAS_UNSCHEDULABLE not in (pool.node().metadata.annotations or {})


def test_a_statefulset_pod_recreated_under_the_same_name_counts_as_gone(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    pool.statefulset("db", 2)
    old = {p.metadata.name: p.metadata.uid for p in pool.pods(label="app=db")}

    result = drain(run_module, testbed, pool.target, state="drained", timeout=60)

    assert not result.get("failed"), result
    assert sorted(result["evicted"]) == sorted(f"{pool.namespace}/{name}" for name in old)
    testbed.wait_until(lambda: len(pool.running("app=db")) == 2, 60, "the StatefulSet's pods back")
    new = {p.metadata.name: (p.metadata.uid, p.spec.node_name) for p in pool.pods(label="app=db")}
    assert set(new) == set(old)
    assert all(uid != old[name] and node != pool.target for name, (uid, node) in new.items())
    drain(run_module, testbed, pool.target, state="uncordoned")


# --------------------------------------------------------------------------------------------------- pod rules


def test_an_unmanaged_pod_fails_the_drain_before_anything_changes_and_force_removes_it(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    pool.deployment("web", 1)
    pool.bare_pod("debug")
    web = {p.metadata.uid for p in pool.pods(label="app=web")}

    refused = drain(run_module, testbed, pool.target, state="drained", timeout=30)

    assert refused.get("failed")
    assert f"{pool.namespace}/debug has no controller" in refused["msg"] and "set force" in refused["msg"]
    assert "nothing was cordoned or evicted" in refused["msg"]
    assert refused["refused"] == [{"pod": f"{pool.namespace}/debug",
                                   "reason": "has no controller, so nothing would recreate it (set force to "
                                             "remove it)"}]
    assert not pool.node().spec.unschedulable
    assert {p.metadata.uid for p in pool.pods(label="app=web")} == web

    forced = drain(run_module, testbed, pool.target, state="drained", timeout=60, force=True)
    assert not forced.get("failed"), forced
    assert f"{pool.namespace}/debug" in forced["evicted"]
    assert "will not be recreated" in str(forced.get("warnings"))  # Ansible shows it as a warning
    assert pool.pods(label="app=debug") == []
    drain(run_module, testbed, pool.target, state="uncordoned")


def test_emptydir_pods_need_delete_emptydir_data(pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    pool.deployment("cache", 1, volumes=[{"name": "scratch", "emptyDir": {}}])

    refused = drain(run_module, testbed, pool.target, state="drained", timeout=30)
    assert refused.get("failed")
    assert "uses emptyDir" in refused["msg"] and "delete_emptydir_data" in refused["msg"]
    assert not pool.node().spec.unschedulable

    done = drain(run_module, testbed, pool.target, state="drained", timeout=60, delete_emptydir_data=True)
    assert not done.get("failed"), done
    assert len(done["evicted"]) == 1
    drain(run_module, testbed, pool.target, state="uncordoned")


def test_check_mode_lists_what_would_be_evicted_and_changes_nothing(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    pool.deployment("web", 2)
    pool.pdb("web-pdb", "web", min_available=2, expect_allowed=0)
    names = sorted(f"{pool.namespace}/{p.metadata.name}" for p in pool.pods(label="app=web"))
    version = pool.node().metadata.resource_version

    result = drain(run_module, testbed, pool.target, check=True, diff=True, state="drained")

    assert not result.get("failed"), result
    assert result["changed"] is True
    assert sorted(result["evicted"]) == names
    assert [b["name"] for b in result["blocking_pdbs"]] == ["web-pdb"]
    assert result["diff"]["before"]["unschedulable"] is False and result["diff"]["after"]["unschedulable"] is True
    assert pool.node().metadata.resource_version == version
    assert sorted(f"{pool.namespace}/{p.metadata.name}" for p in pool.running("app=web")) == names


# --------------------------------------------------------------------------------------------------- cordon


def test_cordon_and_uncordon_are_idempotent_and_show_the_diff(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    first = drain(run_module, testbed, pool.target, diff=True, state="cordoned")
    assert (first["changed"], first["was_unschedulable"]) == (True, False)
    assert first["diff"]["before"]["unschedulable"] is False and first["diff"]["after"]["unschedulable"] is True
    assert pool.node().spec.unschedulable is True
    assert drain(run_module, testbed, pool.target, state="cordoned")["changed"] is False

    back = drain(run_module, testbed, pool.target, diff=True, state="uncordoned")
    assert back["changed"] is True
    assert back["diff"]["after"]["unschedulable"] is False
    assert not pool.node().spec.unschedulable
    assert drain(run_module, testbed, pool.target, state="uncordoned")["changed"] is False


def test_an_administrators_cordon_survives_drain_and_uncordon(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    pool.deployment("web", 1)
    pool.set_cordon(pool.target, True)  # the administrator, before nodepatch comes

    drained = drain(run_module, testbed, pool.target, state="drained", timeout=60)
    assert not drained.get("failed"), drained
    assert drained["was_unschedulable"] is True
    assert pool.node().metadata.annotations[WAS_UNSCHEDULABLE] == "true"

    # A second cordon (a re-run after a crash) keeps the first record.
    assert drain(run_module, testbed, pool.target, state="cordoned")["was_unschedulable"] is True

    left = drain(run_module, testbed, pool.target, state="uncordoned")
    assert not left.get("failed"), left
    assert left["unschedulable"] is True and "left cordoned" in left["message"]
    assert pool.node().spec.unschedulable is True
    # The record is gone, and the cordon alone still reads as an administrator's.
    assert WAS_UNSCHEDULABLE not in (pool.node().metadata.annotations or {})
    assert drain(run_module, testbed, pool.target, state="uncordoned")["unschedulable"] is True

    forced = drain(run_module, testbed, pool.target, state="uncordoned", force_uncordon=True)
    assert forced["changed"] is True and forced["unschedulable"] is False
    assert not pool.node().spec.unschedulable


SCALE_DOWN = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
MARKS = {"nodepatch.kube/boot-id-before": "boot-before", "weave.works/kured-reboot-in-progress": "2026-12-02T08:00:00Z"}


def test_marks_go_in_the_cordons_patch_and_the_uncordon_clears_them_in_its_own(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    """What the role sends with the cordon and the uncordon: never a version of the node cordoned without the marks
    (or marked and schedulable again), check mode writing nothing, the diff, a second run unchanged."""
    pool.deployment("web", 1)
    testbed.core_v1().patch_node(pool.target, {"metadata": {"annotations": {SCALE_DOWN: "false"}}})  # the admin's
    mark = dict(annotations=MARKS, held_annotations={SCALE_DOWN: "true"}, labels={"nodepatch.test/rebooting": "yes"})
    before = pool.node()

    planned = drain(run_module, testbed, pool.target, check=True, diff=True, state="drained", **mark)
    assert planned["changed"] is True and planned["diff"]["after"]["metadata"]["annotations"][SCALE_DOWN] == "true"
    after_check = pool.node()
    assert not after_check.spec.unschedulable, "check mode cordoned the node"
    assert (after_check.metadata.annotations, after_check.metadata.labels) == (before.metadata.annotations,
                                                                               before.metadata.labels)

    with NodeVersions(testbed, pool.target) as seen:
        drained = drain(run_module, testbed, pool.target, diff=True, state="drained", timeout=60, **mark)
        assert not drained.get("failed"), drained
        assert drained["diff"]["before"]["metadata"]["annotations"][SCALE_DOWN] == "false"
        again = drain(run_module, testbed, pool.target, state="drained", timeout=60, **mark)
        assert again["changed"] is False, again
        unmark = dict(annotations=dict.fromkeys(MARKS), restored_annotations=[SCALE_DOWN],
                      labels={"nodepatch.test/rebooting": None})
        back = drain(run_module, testbed, pool.target, diff=True, state="uncordoned", **unmark)
        assert back["changed"] is True and back["unschedulable"] is False, back
        assert drain(run_module, testbed, pool.target, state="uncordoned", **unmark)["changed"] is False
    cordoned = [v for v in seen.versions if v.unschedulable]
    assert cordoned, "the watch saw no cordoned version"
    for version_seen in seen.versions:
        marked = version_seen.annotations.get("nodepatch.kube/boot-id-before") == "boot-before"
        assert marked == version_seen.unschedulable, f"cordon and marks apart in one version: {version_seen}"
        assert (version_seen.annotations.get(SCALE_DOWN) == "true") == marked, version_seen
        assert (version_seen.labels.get("nodepatch.test/rebooting") == "yes") == marked, version_seen
    after = pool.node().metadata.annotations or {}
    assert after.get(SCALE_DOWN) == "false" and not set(MARKS) & set(after), after
    assert not [key for key in after if key.startswith("nodepatch.kube/")], after


def test_an_administrators_cordon_is_kept_while_the_uncordon_clears_the_marks(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    pool.set_cordon(pool.target, True)
    assert not drain(run_module, testbed, pool.target, state="cordoned", annotations=MARKS).get("failed")
    left = drain(run_module, testbed, pool.target, state="uncordoned", annotations=dict.fromkeys(MARKS))
    assert left["unschedulable"] is True and "left cordoned" in left["message"], left
    assert pool.node().spec.unschedulable is True
    assert not set(MARKS) & set(pool.node().metadata.annotations or {})


def test_metadata_options_are_refused_before_anything_is_written(
        pool: Pool, run_module: ModuleRunner, testbed: Testbed) -> None:
    own = drain(run_module, testbed, pool.target, state="drained", annotations={WAS_UNSCHEDULABLE: "false"})
    assert own.get("failed") and "nodepatch.kube/was-unschedulable is written by this module itself" in own["msg"]
    both = drain(run_module, testbed, pool.target, state="cordoned", held_annotations={SCALE_DOWN: "true"},
                 restored_annotations=[SCALE_DOWN])
    assert both.get("failed") and "held_annotations and restored_annotations both name" in both["msg"], both
    bad = drain(run_module, testbed, pool.target, state="cordoned", labels={"nodepatch.test/x": "not valid!"})
    assert bad.get("failed") and "labels" in bad["msg"], bad
    node = pool.node()
    assert not node.spec.unschedulable and WAS_UNSCHEDULABLE not in (node.metadata.annotations or {})


def test_a_missing_node_fails_with_its_name(run_module: ModuleRunner, testbed: Testbed) -> None:
    result = drain(run_module, testbed, "np-drain-no-such-node", state="drained")
    assert result.get("failed")
    assert "node/np-drain-no-such-node" in result["msg"] and "404" in result["msg"]
