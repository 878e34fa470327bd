# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kubectl drain's pod rules, the cordon bookkeeping and the eviction loop, with plain objects and a fake API."""

from __future__ import annotations

import datetime
import threading
import typing as t
from types import SimpleNamespace as NS

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils import drain
from ansible_collections.nodepatch.kube.plugins.module_utils.drain import (
    WAS_UNSCHEDULABLE,
    DrainOptions,
    NodeDrainer,
    decide,
    describe_pdb,
    pdbs_covering,
    plan_pods,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.metadata import MetadataRequest
from ansible_collections.nodepatch.kube.tests.unit.plugins.module_utils.fake_kube import FakeKube, refused

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)


def pod(name: str, namespace: str = "shop", kind: str | None = "ReplicaSet", phase: str = "Running",
        emptydir: bool = False, mirror: bool = False, deleted_seconds_ago: float | None = None,
        labels: dict[str, str] | None = None, uid: str | None = None) -> t.Any:
    owners = [NS(kind=kind, name=f"{name}-owner", controller=True)] if kind else []
    annotations = {drain.MIRROR_ANNOTATION: "abc"} if mirror else {}
    deleted = None if deleted_seconds_ago is None else NOW - datetime.timedelta(seconds=deleted_seconds_ago)
    volumes = [NS(name="scratch", empty_dir=NS(medium=None))] if emptydir else [NS(name="cfg", empty_dir=None)]
    return NS(metadata=NS(name=name, namespace=namespace, uid=uid or f"uid-{name}", owner_references=owners,
                          annotations=annotations, labels=labels or {"app": name}, deletion_timestamp=deleted),
              spec=NS(volumes=volumes), status=NS(phase=phase))


def action(p: t.Any, **options: t.Any) -> str:
    exists = options.pop("daemonset_exists", True)
    return decide(p, DrainOptions(**options), lambda namespace, name: exists, NOW).action


# ------------------------------------------------------------------------------------------ pod rules


def test_a_replicaset_pod_is_evicted() -> None:
    assert action(pod("web")) == "evict"


def test_daemonset_pods_stay_with_ignore_daemonsets() -> None:
    decision = decide(pod("kured", kind="DaemonSet"), DrainOptions(), lambda namespace, name: True, NOW)
    assert decision.action == "skip"
    assert "DaemonSet kured-owner" in decision.reason


def test_daemonset_pods_refuse_the_drain_without_ignore_daemonsets() -> None:
    assert action(pod("kured", kind="DaemonSet"), ignore_daemonsets=False) == "refuse"


def test_a_pod_of_a_deleted_daemonset_needs_force_and_is_then_removed() -> None:
    orphan = pod("kured", kind="DaemonSet")
    assert action(orphan, daemonset_exists=False) == "refuse"
    assert action(orphan, daemonset_exists=False, force=True) == "evict"


def test_a_finished_daemonset_pod_is_deleted() -> None:
    assert action(pod("kured", kind="DaemonSet", phase="Failed"), ignore_daemonsets=False) == "delete"


def test_mirror_pods_are_always_skipped_even_with_force() -> None:
    assert action(pod("etcd", kind="Node", mirror=True), force=True) == "skip"
    assert action(pod("etcd", kind=None, mirror=True)) == "skip"


def test_an_unmanaged_pod_needs_force() -> None:
    assert action(pod("debug", kind=None)) == "refuse"
    assert action(pod("debug", kind=None), force=True) == "evict"


def test_forcing_an_unmanaged_pod_warns_that_it_will_not_come_back() -> None:
    plan = plan_pods([pod("debug", kind=None)], DrainOptions(force=True), None, NOW)
    assert [p.metadata.name for p in plan.evict] == ["debug"]
    assert "will not be recreated" in plan.warnings[0]


def test_emptydir_needs_delete_emptydir_data() -> None:
    assert action(pod("cache", emptydir=True)) == "refuse"
    assert action(pod("cache", emptydir=True), delete_emptydir_data=True) == "evict"


def test_a_pod_breaking_two_rules_names_both() -> None:
    decision = decide(pod("scratch", kind=None, emptydir=True), DrainOptions(), None, NOW)
    assert decision.action == "refuse"
    assert "emptyDir" in decision.reason and "no controller" in decision.reason


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_finished_pods_are_deleted_whatever_else_they_are(phase: str) -> None:
    assert action(pod("job", kind=None, emptydir=True, phase=phase)) == "delete"


def test_disable_eviction_deletes_instead() -> None:
    assert action(pod("web"), disable_eviction=True) == "delete"


def test_a_terminating_pod_is_awaited_not_evicted_again() -> None:
    assert action(pod("web", deleted_seconds_ago=5)) == "wait"


def test_skip_wait_for_delete_timeout_skips_pods_deleted_long_ago() -> None:
    assert action(pod("web", deleted_seconds_ago=120), skip_wait_for_delete_timeout=60) == "skip"
    assert action(pod("web", deleted_seconds_ago=30), skip_wait_for_delete_timeout=60) == "wait"
    assert action(pod("web", deleted_seconds_ago=120), skip_wait_for_delete_timeout=0) == "wait"


def test_the_plan_sorts_a_whole_node() -> None:
    pods = [pod("web"), pod("kured", kind="DaemonSet", namespace="kube-system"), pod("done", phase="Succeeded"),
            pod("static", kind="Node", mirror=True), pod("debug", kind=None)]
    plan = plan_pods(pods, DrainOptions(), None, NOW)
    assert [p.metadata.name for p in plan.evict] == ["web"]
    assert [p.metadata.name for p in plan.delete] == ["done"]
    assert [entry["pod"] for entry in plan.skipped] == ["kube-system/kured", "shop/static"]
    assert plan.refused == [{"pod": "shop/debug",
                             "reason": "has no controller, so nothing would recreate it (set force to remove it)"}]


# ------------------------------------------------------------------------------------------ budgets


def pdb(name: str, selector: dict[str, str], allowed: int, namespace: str = "shop", min_available: t.Any = 3) -> t.Any:
    return NS(metadata=NS(name=name, namespace=namespace),
              spec=NS(min_available=min_available, max_unavailable=None,
                      selector=NS(match_labels=selector, match_expressions=None)),
              status=NS(disruptions_allowed=allowed, current_healthy=3, desired_healthy=3))


def test_a_budget_is_described_with_its_numbers() -> None:
    assert describe_pdb(pdb("web-pdb", {"app": "web"}, 0)) == (
        "PodDisruptionBudget shop/web-pdb allows 0 disruption(s) (minAvailable 3, 3 healthy, 3 needed)")


def test_only_budgets_selecting_the_pods_in_their_namespace_cover_them() -> None:
    budgets = [pdb("web-pdb", {"app": "web"}, 0), pdb("other", {"app": "db"}, 0),
               pdb("elsewhere", {"app": "web"}, 0, namespace="prod")]
    covering = pdbs_covering(budgets, [pod("web")])
    assert [(b.metadata.name, refs) for b, refs in covering] == [("web-pdb", ["shop/web"])]


# ------------------------------------------------------------------------------------------ fake API


class FakeClient(FakeKube):
    """A node, its pods and budgets; the API groups are this object's methods."""

    def __init__(self, node: t.Any, pods: list[t.Any] | None = None, budgets: list[t.Any] | None = None) -> None:
        super().__init__()
        self.node = node
        self.pods = pods or []
        self.budgets = budgets or []
        self.patches: list[dict[str, t.Any]] = []
        self.evictions: list[dict[str, t.Any]] = []
        self.deletions: list[dict[str, t.Any]] = []
        self.refuse_evictions: set[str] = set()
        self.terminating_namespace_refusals = 0
        self.lock = threading.Lock()

    def get_nodes(self, name: str) -> t.Any:
        return self.node

    def patch_nodes(self, name: str, body: dict[str, t.Any]) -> t.Any:
        self.patches.append(body)
        spec = body.get("spec", {})
        if "unschedulable" in spec:
            self.node.spec.unschedulable = spec["unschedulable"]
        for key, value in body.get("metadata", {}).get("annotations", {}).items():
            if value is None:
                self.node.metadata.annotations.pop(key, None)
            else:
                self.node.metadata.annotations[key] = value
        return self.node

    def list_pods(self, **kwargs: t.Any) -> t.Any:
        return NS(items=list(self.pods), metadata=NS(resource_version="1"))

    def get_daemonsets(self, name: str, namespace: str) -> t.Any:
        return NS()

    def list_poddisruptionbudgets(self, namespace: str | None = None) -> t.Any:
        return NS(items=[b for b in self.budgets if namespace in (None, b.metadata.namespace)],
                  metadata=NS(resource_version="1"))

    def watch_poddisruptionbudgets(self, **_kwargs: t.Any) -> t.Iterator[tuple[str, t.Any]]:
        yield from ()

    def create_pods(self, body: dict[str, t.Any], namespace: str, name: str, subresource: str) -> None:
        assert subresource == "eviction"
        with self.lock:
            self.evictions.append(body)
        if name in self.refuse_evictions:
            raise refused(429, f"cannot evict pod {namespace}/{name}: HTTP 429 Too Many Requests")
        if self.terminating_namespace_refusals:
            self.terminating_namespace_refusals -= 1
            if not self.terminating_namespace_refusals:
                self.pods = [p for p in self.pods if p.metadata.name != name]  # the namespace controller got it
            raise refused(403, f"cannot evict pod {namespace}/{name}: HTTP 403 Forbidden", ("NamespaceTerminating",))
        if name not in {p.metadata.name for p in self.pods}:
            raise refused(404, f"cannot evict pod {namespace}/{name}: HTTP 404 Not Found")
        self.pods = [p for p in self.pods if p.metadata.name != name]

    def delete_pods(self, name: str, namespace: str, body: dict[str, t.Any]) -> None:
        self.deletions.append(body)
        self.pods = [p for p in self.pods if p.metadata.name != name]


def node(unschedulable: bool = False, annotations: dict[str, str] | None = None) -> t.Any:
    return NS(metadata=NS(name="n1", annotations=dict(annotations or {}), labels={}, resource_version="42"),
              spec=NS(unschedulable=unschedulable))


def test_cordon_records_that_the_node_was_schedulable_in_the_same_patch() -> None:
    client = FakeClient(node())
    assert NodeDrainer(client, "n1").cordon() == (True, False)
    body, = client.patches
    assert body == {"spec": {"unschedulable": True},
                    "metadata": {"annotations": {WAS_UNSCHEDULABLE: "false"}, "resourceVersion": "42"}}


def test_cordoning_an_administrators_cordon_records_it_and_changes_only_the_annotation() -> None:
    client = FakeClient(node(unschedulable=True))
    assert NodeDrainer(client, "n1").cordon() == (True, True)
    assert "spec" not in client.patches[0]
    assert client.node.metadata.annotations[WAS_UNSCHEDULABLE] == "true"


def test_a_re_cordon_keeps_the_first_record() -> None:
    client = FakeClient(node(unschedulable=True, annotations={WAS_UNSCHEDULABLE: "false"}))
    assert NodeDrainer(client, "n1").cordon() == (False, False)
    assert client.patches == []


def test_uncordon_leaves_an_administrators_cordon_and_drops_the_record() -> None:
    client = FakeClient(node(unschedulable=True, annotations={WAS_UNSCHEDULABLE: "true"}))
    changed, was, unschedulable, message = NodeDrainer(client, "n1").uncordon()
    assert (changed, was, unschedulable) == (True, True, True)
    assert "left cordoned" in message
    assert client.node.spec.unschedulable is True
    assert WAS_UNSCHEDULABLE not in client.node.metadata.annotations


def test_uncordon_without_a_record_treats_a_cordon_as_an_administrators() -> None:
    client = FakeClient(node(unschedulable=True))
    assert NodeDrainer(client, "n1").uncordon()[:3] == (False, True, True)
    assert client.patches == []


def test_force_uncordon_overrides_an_administrators_cordon() -> None:
    client = FakeClient(node(unschedulable=True, annotations={WAS_UNSCHEDULABLE: "true"}))
    assert NodeDrainer(client, "n1").uncordon(force=True)[:3] == (True, True, False)
    assert client.node.spec.unschedulable is None


def test_uncordon_undoes_our_own_cordon() -> None:
    client = FakeClient(node(unschedulable=True, annotations={WAS_UNSCHEDULABLE: "false"}))
    assert NodeDrainer(client, "n1").uncordon()[:3] == (True, False, False)


def test_a_conflict_re_reads_the_node_and_tries_again() -> None:
    client = FakeClient(node())
    original = client.patch_nodes
    calls = []

    def conflict_once(name: str, body: dict[str, t.Any]) -> t.Any:
        calls.append(body)
        if len(calls) == 1:
            raise refused(409, "conflict")
        return original(name, body)

    client.patch_nodes = conflict_once  # type: ignore[method-assign]
    assert NodeDrainer(client, "n1").cordon() == (True, False)
    assert len(calls) == 2


def marks(**params: t.Any) -> MetadataRequest:
    return MetadataRequest.from_params(params, "node/n1", reserved=[WAS_UNSCHEDULABLE])


def test_the_marks_go_in_the_cordons_patch() -> None:
    client = FakeClient(node(annotations={"autoscaler/scale-down-disabled": "false"}))
    request = marks(annotations={"nodepatch.kube/boot-id-before": "b1"}, labels={"rebooting": "yes"},
                    held_annotations={"autoscaler/scale-down-disabled": "true"})
    drainer = NodeDrainer(client, "n1", metadata=request)
    assert drainer.cordon() == (True, False)
    body, = client.patches
    assert body["spec"] == {"unschedulable": True} and body["metadata"]["labels"] == {"rebooting": "yes"}
    assert body["metadata"]["annotations"] == {WAS_UNSCHEDULABLE: "false", "nodepatch.kube/boot-id-before": "b1",
                                               "autoscaler/scale-down-disabled": "true",
                                               "nodepatch.kube/scale-down-disabled-before": '"false"'}
    assert drainer.metadata_diff is not None and drainer.metadata_diff[1]["labels"] == {"rebooting": "yes"}


def test_marks_alone_make_a_change_of_a_node_already_cordoned_by_us() -> None:
    client = FakeClient(node(unschedulable=True, annotations={WAS_UNSCHEDULABLE: "false"}))
    assert NodeDrainer(client, "n1", metadata=marks(annotations={"a/b": "c"})).cordon() == (True, False)
    assert client.patches[0]["metadata"]["annotations"] == {"a/b": "c"} and "spec" not in client.patches[0]
    client.patches.clear()
    assert NodeDrainer(client, "n1", metadata=marks(annotations={"a/b": "c"})).cordon() == (False, False)
    assert client.patches == []


def test_the_uncordon_clears_the_marks_also_where_an_administrators_cordon_stays() -> None:
    client = FakeClient(node(unschedulable=True, annotations={WAS_UNSCHEDULABLE: "true", "a/b": "c"}))
    changed, _was, unschedulable, _message = NodeDrainer(client, "n1", metadata=marks(annotations={"a/b": None})).uncordon()
    assert (changed, unschedulable) == (True, True)
    assert client.patches[0]["metadata"]["annotations"] == {WAS_UNSCHEDULABLE: None, "a/b": None}


def test_a_module_may_not_name_its_own_annotation_in_the_metadata_options() -> None:
    with pytest.raises(NodepatchError) as failure:
        marks(annotations={WAS_UNSCHEDULABLE: "false"})
    assert "nodepatch.kube/was-unschedulable is written by this module itself" in failure.value.message


def test_check_mode_cordon_writes_nothing() -> None:
    client = FakeClient(node())
    assert NodeDrainer(client, "n1", check_mode=True).cordon() == (True, False)
    assert client.patches == []


def test_a_drain_with_a_refused_pod_fails_before_the_cordon() -> None:
    client = FakeClient(node(), pods=[pod("web"), pod("debug", kind=None)])
    with pytest.raises(NodepatchError) as failure:
        NodeDrainer(client, "n1").ensure("drained", DrainOptions())
    assert "shop/debug has no controller" in failure.value.message
    assert client.patches == [] and client.evictions == []


def test_check_mode_lists_what_would_be_evicted_and_the_budgets_that_would_refuse() -> None:
    client = FakeClient(node(), pods=[pod("web"), pod("done", phase="Succeeded")],
                        budgets=[pdb("web-pdb", {"app": "web"}, 0)])
    result = NodeDrainer(client, "n1", check_mode=True).ensure("drained", DrainOptions())
    assert (result["evicted"], result["deleted"], result["changed"]) == (["shop/web"], ["shop/done"], True)
    assert result["blocking_pdbs"][0]["name"] == "web-pdb"
    assert client.patches == [] and client.evictions == [] and client.deletions == []


def test_grace_period_zero_is_sent_and_minus_one_is_not() -> None:
    client = FakeClient(node(), pods=[pod("web")])
    drainer = NodeDrainer(client, "n1")
    drainer.wait_until_gone = lambda pods, deadline, skip: None  # type: ignore[method-assign]
    drainer.ensure("drained", DrainOptions(grace_period=0))
    assert client.evictions[0]["deleteOptions"] == {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-web"}}
    client.pods = [pod("web2")]
    drainer.ensure("drained", DrainOptions(grace_period=-1))
    assert client.evictions[1]["deleteOptions"] == {"preconditions": {"uid": "uid-web2"}}


def test_a_refusing_budget_is_retried_until_the_timeout_and_named() -> None:
    client = FakeClient(node(), pods=[pod("web"), pod("api", labels={"app": "api"})],
                        budgets=[pdb("web-pdb", {"app": "web"}, 0)])
    client.refuse_evictions = {"web"}
    drainer = NodeDrainer(client, "n1")
    drainer.wait_until_gone = lambda pods, deadline, skip: None  # type: ignore[method-assign]
    with pytest.raises(NodepatchError) as failure:
        drainer.ensure("drained", DrainOptions(timeout=0.35, eviction_retry_delay=0.1))
    error = failure.value
    assert "PodDisruptionBudget shop/web-pdb allows 0 disruption(s)" in error.message
    assert "refusing shop/web" in error.message
    assert "Pods still on the node: shop/web" in error.message
    assert error.details["evicted"] == ["shop/api"]
    assert error.details["blocking_pdbs"][0]["pods"] == ["shop/web"]
    assert 3 <= sum(1 for body in client.evictions if body["metadata"]["name"] == "web") <= 6


def test_a_pod_in_a_namespace_being_deleted_is_asked_again_until_it_is_gone() -> None:
    client = FakeClient(node(), pods=[pod("web")])
    client.terminating_namespace_refusals = 2
    drainer = NodeDrainer(client, "n1")
    drainer.wait_until_gone = lambda pods, deadline, skip: None  # type: ignore[method-assign]
    result = drainer.ensure("drained", DrainOptions(timeout=5, eviction_retry_delay=0.05))
    assert len(client.evictions) == 3  # refused twice (403 NamespaceTerminating), then 404: gone
    assert result["evicted"] == [] and client.pods == []


def test_other_forbidden_evictions_fail_at_once() -> None:
    client = FakeClient(node(), pods=[pod("web")])

    def forbidden(body: dict[str, t.Any], namespace: str, name: str, subresource: str) -> None:
        raise refused(403, f"cannot evict pod {namespace}/{name}: HTTP 403 Forbidden")
    client.create_pods = forbidden  # type: ignore[method-assign]
    drainer = NodeDrainer(client, "n1")
    with pytest.raises(NodepatchError, match="HTTP 403"):
        drainer.ensure("drained", DrainOptions(timeout=5, eviction_retry_delay=0.05))


def test_a_drained_node_with_nothing_left_is_unchanged() -> None:
    client = FakeClient(node(unschedulable=True, annotations={WAS_UNSCHEDULABLE: "false"}),
                        pods=[pod("kured", kind="DaemonSet", namespace="kube-system")])
    result = NodeDrainer(client, "n1").ensure("drained", DrainOptions())
    assert result["changed"] is False
    assert result["left_on_node"][0]["pod"] == "kube-system/kured"
    assert result["diff"]["before"] == result["diff"]["after"]
