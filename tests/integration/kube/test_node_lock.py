# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_lock against the real API server with the least-privilege kubeconfig.

Every test gets its own DaemonSet (named kured, in a fresh namespace, selecting no node) so that it never
touches the lock the roll-out suites use on kube-system/kured.

Interop with kured is proven against kured's documented and source-defined JSON (pkg/daemonsetlock:
``LockAnnotationValue{nodeID, metadata{unschedulable}, created, TTL}`` and ``multiLockAnnotationValue{maxOwners,
locks}``, marshalled by Go's encoding/json: compact, struct field order, ``created`` as RFC 3339 with up to nine
fractional digits, ``TTL`` as integer nanoseconds). A real kured process cannot be built on this machine (the Go
module proxy answers 403 for github.com/kubereboot/kured), so the tests write and read that exact JSON instead
of running kured next to the module.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    from tests.integration.conftest import ModuleRunner, Testbed

ANNOTATION = "weave.works/kured-node-lock"
# Go's json.Marshal of kured's structs: exactly these keys in this order, no spaces.
KURED_ENTRY = re.compile(r'\{"nodeID":"[^"]+","metadata":\{"unschedulable":(true|false)\},'
                         r'"created":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z","TTL":\d+\}')


@dataclass
class LockBed:
    testbed: Testbed
    namespace: str
    run_module: ModuleRunner

    def value(self) -> str | None:
        annotations = self.testbed.apps_v1().read_namespaced_daemon_set("kured", self.namespace).metadata.annotations
        return (annotations or {}).get(ANNOTATION)

    def write(self, value: str | None) -> None:
        """Writes the annotation as kured (or an operator) would, with the admin kubeconfig."""
        self.testbed.apps_v1().patch_namespaced_daemon_set(
            "kured", self.namespace, {"metadata": {"annotations": {ANNOTATION: value}}})

    def lock(self, holder: str, check: bool = False, diff: bool = False, **args: Any) -> dict[str, Any]:
        return self.run_module("node_lock", {"kubeconfig": self.testbed.kubeconfig, "namespace": self.namespace,
                                             "holder": holder, **args}, check=check, diff=diff)


@pytest.fixture
def bed(testbed: Testbed, run_module: ModuleRunner) -> Iterator[LockBed]:
    namespace = testbed.create_namespace("np-lock")
    labels = {"name": "kured"}
    body = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kured"},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "nodeSelector": {"nodepatch.test/no-such-label": "none"},
                "containers": [{"name": "kured", "image": "ghcr.io/kubereboot/kured:1.17.1"}]}}}}
    testbed.apps_v1().create_namespaced_daemon_set(namespace, body)
    try:
        yield LockBed(testbed, namespace, run_module)
    finally:
        testbed.delete_namespace(namespace)


def kured_time(moment: datetime.datetime, nanos: int) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}".rstrip("0") + "Z"


def test_our_single_lock_is_kureds_json_byte_for_byte(bed: LockBed, testbed: Testbed) -> None:
    node = testbed.nodes[0]
    result = bed.lock(node, ttl="30m")
    assert result["changed"] and result["acquired"], result
    raw = bed.value()
    assert raw is not None and KURED_ENTRY.fullmatch(raw), raw
    value = json.loads(raw)
    assert list(value) == ["nodeID", "metadata", "created", "TTL"]
    assert value["nodeID"] == node and value["TTL"] == 30 * 60 * 10 ** 9
    assert value["metadata"] == {"unschedulable": testbed.node(node).spec.unschedulable is True}
    # What Go would write back after unmarshalling it: the same bytes.
    assert json.dumps(value, separators=(",", ":")) == raw
    assert result["holders"][0]["created"] == value["created"]


def test_our_multi_lock_is_kureds_json_byte_for_byte(bed: LockBed, testbed: Testbed) -> None:
    assert bed.lock(testbed.nodes[0], max_holders=3)["acquired"]
    assert bed.lock(testbed.nodes[1], max_holders=3)["acquired"]
    raw = bed.value()
    assert raw is not None
    value = json.loads(raw)
    assert list(value) == ["maxOwners", "locks"] and value["maxOwners"] == 3
    assert raw.startswith('{"maxOwners":3,"locks":[') and raw.endswith("]}")
    for entry in re.findall(r'\{"nodeID".*?"TTL":\d+\}', raw):
        assert KURED_ENTRY.fullmatch(entry), entry
    assert [entry["nodeID"] for entry in value["locks"]] == testbed.nodes[:2]


def test_a_single_lock_written_by_kured_parses_and_is_honoured(bed: LockBed, testbed: Testbed) -> None:
    holder, waiter = testbed.nodes[0], testbed.nodes[1]
    created = kured_time(datetime.datetime.now(datetime.timezone.utc), 441623522)
    kured = f'{{"nodeID":"{holder}","metadata":{{"unschedulable":true}},"created":"{created}","TTL":0}}'
    bed.write(kured)
    started = time.monotonic()
    result = bed.lock(waiter, wait_timeout=3, wait_sleep=1)
    assert time.monotonic() - started >= 3, "node_lock waited for kured's lock"
    assert result["acquired"] is False and result["changed"] is False
    assert f"held by {holder}" in result["message"]
    assert result["holders"] == [{"holder": holder, "created": created, "ttl_seconds": 0, "unschedulable": True,
                                  "expired": False, "stale": False}]
    assert bed.value() == kured, "a lock that was not acquired is not rewritten"
    # kured releases (deletes the key): now it is ours
    bed.write(None)
    assert bed.lock(waiter)["acquired"]


def test_a_multi_lock_written_by_kured_parses_and_is_honoured(bed: LockBed, testbed: Testbed) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    entries = [f'{{"nodeID":"{node}","metadata":{{"unschedulable":false}},"created":"{kured_time(now, 7)}",'
               f'"TTL":3600000000000}}' for node in testbed.nodes[:2]]
    kured = '{"maxOwners":2,"locks":[' + ",".join(entries) + "]}"
    bed.write(kured)
    full = bed.lock(testbed.nodes[2], max_holders=2)
    assert full["acquired"] is False and [h["holder"] for h in full["holders"]] == testbed.nodes[:2]
    assert all(h["ttl_seconds"] == 3600 for h in full["holders"])
    assert bed.value() == kured
    # With room for three (kured's --concurrency=3), ours is appended and kured's entries stay byte for byte.
    assert bed.lock(testbed.nodes[2], max_holders=3)["acquired"]
    raw = bed.value()
    assert raw is not None and raw.startswith('{"maxOwners":3,"locks":[' + ",".join(entries) + ',{"nodeID":"')
    # Releasing ours removes only our entry, as kured's multi lock does.
    assert bed.lock(testbed.nodes[2], state="released", max_holders=3)["changed"]
    assert bed.value() == '{"maxOwners":3,"locks":[' + ",".join(entries) + "]}"


def test_acquire_is_re_entrant_and_release_not_held_says_so(bed: LockBed, testbed: Testbed) -> None:
    node = testbed.nodes[0]
    first = bed.lock(node)
    before = bed.value()
    again = bed.lock(node)
    assert first["changed"] and not again["changed"] and again["acquired"]
    assert again["message"] == f"{node} already holds the lock"
    assert bed.value() == before
    other = bed.lock(testbed.nodes[1], state="released")
    assert other["changed"] is False and other["acquired"] is False
    assert other["message"] == f"{testbed.nodes[1]} does not hold the lock; nothing to release"
    assert bed.value() == before
    released = bed.lock(node, state="released")
    assert released["changed"] and bed.value() is None
    assert bed.lock(node, state="released")["changed"] is False


def test_an_expired_lock_is_taken_over_and_pruned(bed: LockBed, testbed: Testbed) -> None:
    started = time.monotonic()
    # Long enough for three module runs on a loaded machine (two shards of the suite share two cores).
    assert bed.lock(testbed.nodes[0], ttl="30s", max_holders=2)["acquired"]
    assert bed.lock(testbed.nodes[1], ttl="30s", max_holders=2)["acquired"]
    last_written = time.monotonic()
    assert not bed.lock(testbed.nodes[2], max_holders=2)["acquired"]
    assert time.monotonic() - started < 30, "the machine is too slow for this TTL"
    time.sleep(max(0.0, last_written + 30.5 - time.monotonic()))
    inspected = bed.lock(testbed.nodes[2], state="inspected", max_holders=2)
    assert all(holder["expired"] for holder in inspected["holders"])
    result = bed.lock(testbed.nodes[2], max_holders=2)
    assert result["acquired"] and [h["holder"] for h in result["holders"]] == [testbed.nodes[2]]
    assert [entry["nodeID"] for entry in json.loads(bed.value() or "")["locks"]] == [testbed.nodes[2]]


def test_a_stale_holder_is_reported_and_taken_only_with_break_stale(bed: LockBed, testbed: Testbed) -> None:
    gone = f"np-lock-gone-{uuid.uuid4().hex[:6]}"
    core = testbed.core_v1()
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": gone, "labels": {"type": "kwok"}},
                      "spec": {"taints": [{"key": "nodepatch.test/gone", "effect": "NoSchedule"}]}})
    try:
        assert bed.lock(gone)["acquired"]
    finally:
        core.delete_node(gone)
    testbed.wait_until(lambda: not _node_exists(testbed, gone), 30, f"node {gone} deleted")
    me = testbed.nodes[0]
    blocked = bed.lock(me)
    assert blocked["acquired"] is False
    assert blocked["holders"] == [dict(blocked["holders"][0], holder=gone, stale=True)]
    assert "stale" in blocked["message"] and "break_stale" in blocked["message"]
    taken = bed.lock(me, break_stale=True, diff=True)
    assert taken["acquired"] and taken["changed"] and gone in taken["message"]
    assert taken["diff"] == {"before": {"holders": [gone]}, "after": {"holders": [me]}}
    assert json.loads(bed.value() or "")["nodeID"] == me


def _node_exists(testbed: Testbed, name: str) -> bool:
    try:
        testbed.node(name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_check_mode_reports_and_writes_nothing(bed: LockBed, testbed: Testbed) -> None:
    node = testbed.nodes[0]
    result = bed.lock(node, check=True, diff=True)
    assert result["changed"] and result["acquired"] and "check mode" in result["message"]
    assert result["diff"] == {"before": {"holders": []}, "after": {"holders": [node]}}
    assert bed.value() is None
    bed.lock(node)
    held = bed.value()
    released = bed.lock(node, state="released", check=True)
    assert released["changed"] and bed.value() == held


def test_metadata_records_a_cordon_from_before(bed: LockBed, testbed: Testbed) -> None:
    assert bed.lock(testbed.nodes[0], metadata_unschedulable=True)["holders"][0]["unschedulable"] is True
    assert json.loads(bed.value() or "")["metadata"] == {"unschedulable": True}


def test_lease_backend_slots_limit_holders(testbed: Testbed, run_module: ModuleRunner) -> None:
    namespace = testbed.create_namespace("np-lease")
    try:
        def lock(holder: str, **args: Any) -> dict[str, Any]:
            return run_module("node_lock", {"kubeconfig": testbed.kubeconfig, "namespace": namespace,
                                            "backend": "lease", "lease_name": "reboot", "max_holders": 2,
                                            "holder": holder, **args})
        a, b, c = testbed.nodes[:3]
        assert lock(a, ttl="1h")["changed"] and not lock(a)["changed"]
        assert lock(b)["acquired"]
        full = lock(c)
        assert not full["acquired"] and {h["holder"] for h in full["holders"]} == {a, b}
        leases = {lease.metadata.name: lease for lease in
                  testbed.coordination_v1().list_namespaced_lease(namespace).items}
        assert sorted(leases) == ["reboot-0", "reboot-1"]
        assert leases["reboot-0"].spec.holder_identity == a and leases["reboot-0"].spec.lease_duration_seconds == 3600
        assert lock(a, state="released")["changed"]
        assert lock(c)["acquired"]
        assert testbed.coordination_v1().read_namespaced_lease("reboot-0", namespace).spec.holder_identity == c
        assert lock(c, state="released")["changed"] and lock(b, state="released")["changed"]
        assert lock(b, state="released")["changed"] is False
    finally:
        testbed.delete_namespace(namespace)


def test_a_stop_on_the_lease_lock_refuses_every_holder_until_it_is_resumed(testbed: Testbed,
                                                                           run_module: ModuleRunner) -> None:
    namespace = testbed.create_namespace("np-lease-stop")
    try:
        def lock(state: str, holder: str | None = None, **args: Any) -> dict[str, Any]:
            return run_module("node_lock", {"kubeconfig": testbed.kubeconfig, "namespace": namespace,
                                            "backend": "lease", "lease_name": "reboot", "max_holders": 2,
                                            "state": state, **({"holder": holder} if holder else {}), **args})
        failed, other = testbed.nodes[:2]
        assert lock("acquired", failed)["acquired"]
        stopped = lock("stopped", failed, stop_phase="drain", stop_reason="PodDisruptionBudget web-pdb")
        assert stopped["changed"] and stopped["stop"]["node"] == failed
        assert not lock("stopped", other)["changed"], "the first stop stays"
        refused = lock("acquired", other, wait_timeout=60)
        assert not refused["acquired"] and refused["message"].startswith(f"the roll-out was stopped by {failed} ")
        kept = lock("released", failed)
        assert kept["acquired"] and kept["stop"]["release_with_stop"]
        assert testbed.coordination_v1().read_namespaced_lease("reboot-0", namespace).spec.holder_identity == failed
        resumed = lock("resumed")
        assert resumed["changed"] and resumed["stop"] is None and resumed["holders"] == []
        assert not lock("resumed")["changed"]
        assert lock("acquired", other)["acquired"]
    finally:
        testbed.delete_namespace(namespace)


def test_a_missing_daemonset_fails_with_what_to_do(testbed: Testbed, run_module: ModuleRunner) -> None:
    result = run_module("node_lock", {"kubeconfig": testbed.kubeconfig, "namespace": "kube-system",
                                      "daemonset": "no-such-kured", "holder": testbed.nodes[0]})
    assert result.get("failed") and result["status"] == 404
    assert "daemonset kube-system/no-such-kured" in result["msg"] and "install kured" in result["msg"]


def test_bad_options_are_refused_before_any_call(testbed: Testbed, run_module: ModuleRunner) -> None:
    result = run_module("node_lock", {"kubeconfig": testbed.kubeconfig, "holder": "x", "ttl": "soon"})
    assert result.get("failed") and "ttl" in result["msg"]
    result = run_module("node_lock", {"kubeconfig": testbed.kubeconfig, "holder": "x", "max_holders": 0})
    assert result.get("failed") and "max_holders" in result["msg"]


def test_a_waiting_lock_is_acquired_once_kured_releases(bed: LockBed, testbed: Testbed) -> None:
    holder, waiter = testbed.nodes[0], testbed.nodes[1]
    created = kured_time(datetime.datetime.now(datetime.timezone.utc), 5)
    bed.write(f'{{"nodeID":"{holder}","metadata":{{"unschedulable":false}},"created":"{created}","TTL":0}}')
    results: list[dict[str, Any]] = []
    waiting = threading.Thread(target=lambda: results.append(bed.lock(waiter, wait_timeout=90, wait_sleep=1)))
    waiting.start()
    time.sleep(8)
    assert not results, "node_lock did not wait for kured's lock"
    bed.write(None)  # kured's release deletes the key
    released_at = time.monotonic()
    waiting.join(120)
    assert results and results[0]["acquired"] and results[0]["changed"]
    assert time.monotonic() - released_at < 30
    assert json.loads(bed.value() or "")["nodeID"] == waiter


def test_forbidden_names_the_missing_permission(bed: LockBed, testbed: Testbed) -> None:
    """A ServiceAccount without the collection's role, connected with host, api_key and ca_cert: the 403 says
    which verb on which resource is missing and where the RBAC manifest is."""
    core = testbed.core_v1()
    core.create_namespaced_service_account(bed.namespace, {"metadata": {"name": "nobody"}})
    token = core.create_namespaced_service_account_token(
        "nobody", bed.namespace, {"spec": {"expirationSeconds": 600}}).status.token
    connection = {"host": testbed.api_url, "api_key": token, "ca_cert": str(testbed.info["ca_cert"]),
                  "namespace": bed.namespace, "holder": testbed.nodes[0]}
    result = bed.run_module("node_lock", connection)
    assert result.get("failed") and result["status"] == 403
    assert f"cannot read node/{testbed.nodes[0]}: HTTP 403 Forbidden" in result["msg"]
    assert "may not get nodes (API group core) cluster-wide" in result["msg"] and "deploy/rbac.yml" in result["msg"]
    # With the cordon flag given, the Node is not read: the next call is the lock's DaemonSet.
    result = bed.run_module("node_lock", {**connection, "metadata_unschedulable": False})
    assert result.get("failed") and result["status"] == 403
    assert f"cannot read the lock on daemonset {bed.namespace}/kured: HTTP 403 Forbidden" in result["msg"]
    assert f"may not get daemonsets (API group apps) in namespace {bed.namespace}" in result["msg"]
    assert token not in json.dumps(result)


def test_release_clears_the_holders_resume_marks_once(bed: LockBed, testbed: Testbed) -> None:
    node = testbed.nodes[0]
    marks = {"nodepatch.kube/boot-id-before": "boot-before", "nodepatch.kube/reboot-requested": "1764662400"}
    clear = list(marks)
    testbed.core_v1().patch_node(node, {"metadata": {"annotations": marks}})
    try:
        refused = bed.lock(node, state="acquired", clear_node_annotations=clear)
        assert refused.get("failed") and "clear_node_annotations is for state=released only" in refused["msg"]
        assert bed.value() is None, "a refused call wrote the lock"
        assert bed.lock(node)["acquired"]
        planned = bed.lock(node, check=True, diff=True, state="released", clear_node_annotations=clear)
        assert planned["changed"] and planned["node_annotations_cleared"] == sorted(clear), planned
        assert planned["diff"]["after"]["node_annotations"] == dict.fromkeys(clear), planned["diff"]
        assert set(marks) <= set(testbed.node(node).metadata.annotations or {}), "check mode cleared the marks"
        assert bed.value() is not None, "check mode released the lock"

        released = bed.lock(node, state="released", clear_node_annotations=clear)
        assert released["changed"] and released["node_annotations_cleared"] == sorted(clear), released
        assert bed.value() is None and not set(marks) & set(testbed.node(node).metadata.annotations or {})
        again = bed.lock(node, state="released", clear_node_annotations=clear)
        assert again["changed"] is False and again["node_annotations_cleared"] == [], again
        # A holder without a Node (kured's nodeID of a node since deleted) has no marks to clear.
        gone = bed.lock("np-no-such-node", state="released", clear_node_annotations=clear)
        assert not gone.get("failed") and gone["changed"] is False, gone
    finally:
        testbed.core_v1().patch_node(node, {"metadata": {"annotations": dict.fromkeys(marks)}})
