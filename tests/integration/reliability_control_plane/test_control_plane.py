# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A control plane that fails under the modules: API errors from the fault proxy, components killed mid-call.

Faults come from the test bed (docs/testbed.md): `testbed stop|start|restart COMPONENT` and the fault proxy in
front of the API server (testbed.json `fault_proxy`: its kubeconfig is the least-privilege identity, through
the proxy). Every case ends either finished correctly or failed with a clear message, and in a state that a
re-run finishes: never a lost lock entry, never a second holder.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import ModuleRunner, Testbed

ANNOTATION = "weave.works/kured-node-lock"
ATTEMPTS = 6  # KubeClient.retry_attempts: the bound a burst must outlast to fail the call


@pytest.fixture
def bed(testbed: Testbed) -> Testbed:
    if not testbed.simulated or "fault_proxy" not in testbed.info:
        pytest.skip("control-plane faults need the simulated test bed (its components and fault proxy)")
    return testbed


class Proxy:
    def __init__(self, testbed: Testbed) -> None:
        self.url = testbed.info["fault_proxy"]["control"]
        self.kubeconfig = testbed.info["fault_proxy"]["kubeconfig"]
        self.context = ssl.create_default_context(cafile=testbed.info["ca_cert"])

    def _call(self, method: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.context, timeout=10) as resp:
            return json.load(resp)

    def fault(self, method: str, path: str, status: int, count: int, retry_after: float | None = None) -> int:
        rule = {"method": method, "path": path, "status": status, "count": count}
        if retry_after is not None:
            rule["retry_after"] = retry_after
        return int(self._call("POST", rule)["id"])

    def log(self) -> list[dict[str, Any]]:
        return list(self._call("GET")["log"])

    def clear(self) -> None:
        self._call("DELETE")


@pytest.fixture
def proxy(bed: Testbed) -> Any:
    faults = Proxy(bed)
    faults.clear()
    yield faults
    faults.clear()


@pytest.fixture
def lock_ns(bed: Testbed) -> Any:
    """A namespace with its own lock DaemonSet `kured` (selecting no node), so kube-system's lock is untouched."""
    name = bed.create_namespace("np-cp")
    labels = {"app": "lock-only"}
    bed.apps_v1().create_namespaced_daemon_set(name, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kured"},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "nodeSelector": {"nodepatch.test/none": "none"},
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}}})
    yield name
    bed.delete_namespace(name)


def lock(run_module: ModuleRunner, kubeconfig: str, namespace: str, holder: str, **args: Any) -> dict[str, Any]:
    return run_module("node_lock", {"kubeconfig": kubeconfig, "namespace": namespace, "holder": holder, **args})


def faulted(log: list[dict[str, Any]], rule: int) -> int:
    return sum(1 for entry in log if entry["rule"] == rule)


# --------------------------------------------------------------------------------------------------- API errors


def test_node_lock_rides_out_a_429_burst_honouring_retry_after(bed: Testbed, proxy: Proxy, lock_ns: str,
                                                               run_module: ModuleRunner) -> None:
    path = f"/apis/apps/v1/namespaces/{lock_ns}/daemonsets/kured"
    rule = proxy.fault("GET|PATCH", path, 429, 3, retry_after=1)
    result = lock(run_module, proxy.kubeconfig, lock_ns, bed.nodes[0])
    assert not result.get("failed"), result
    assert result["changed"] and bed.lock_holders(lock_ns) == [bed.nodes[0]]
    log = proxy.log()
    assert faulted(log, rule) == 3
    assert any(entry["path"] == path and entry["rule"] is None for entry in log), "no request got through after the burst"


def test_node_lock_fails_clearly_when_a_5xx_burst_outlasts_the_retries_and_writes_nothing(
        bed: Testbed, proxy: Proxy, lock_ns: str, run_module: ModuleRunner) -> None:
    path = f"/apis/apps/v1/namespaces/{lock_ns}/daemonsets/kured"
    rule = proxy.fault("GET", path, 503, 50)
    result = lock(run_module, proxy.kubeconfig, lock_ns, bed.nodes[0])
    assert result.get("failed"), result
    assert "HTTP 503" in result["msg"] and f"still failing after {ATTEMPTS} attempts" in result["msg"], result["msg"]
    assert faulted(proxy.log(), rule) == ATTEMPTS  # bounded: not one request more
    assert bed.lock_holders(lock_ns) == []
    proxy.clear()
    again = lock(run_module, proxy.kubeconfig, lock_ns, bed.nodes[0])
    assert again["changed"] and bed.lock_holders(lock_ns) == [bed.nodes[0]]


def test_node_info_retries_a_short_5xx_burst_and_reports_a_long_one(bed: Testbed, proxy: Proxy,
                                                                    run_module: ModuleRunner) -> None:
    short = proxy.fault("GET", "/api/v1/nodes(/.*)?", 500, 2)
    result = run_module("node_info", {"kubeconfig": proxy.kubeconfig, "names": bed.nodes[:2]})
    assert not result.get("failed"), result
    assert [node["name"] for node in result["nodes"]] == bed.nodes[:2]
    assert faulted(proxy.log(), short) == 2
    proxy.fault("GET", "/api/v1/nodes(/.*)?", 502, 50)
    failed = run_module("node_info", {"kubeconfig": proxy.kubeconfig, "names": bed.nodes[:2]})
    assert failed.get("failed") and "HTTP 502" in failed["msg"] and f"after {ATTEMPTS} attempts" in failed["msg"], failed


def test_node_drain_cordons_through_429s_and_5xx_on_the_node(bed: Testbed, proxy: Proxy,
                                                             run_module: ModuleRunner) -> None:
    node = bed.nodes[2]
    throttled = proxy.fault("GET", f"/api/v1/nodes/{node}", 429, 2, retry_after=1)
    failing = proxy.fault("PATCH", f"/api/v1/nodes/{node}", 503, 2)
    try:
        result = run_module("node_drain", {"kubeconfig": proxy.kubeconfig, "name": node, "state": "cordoned"})
        assert not result.get("failed"), result
        assert bed.core_v1().read_node(node).spec.unschedulable is True
        log = proxy.log()
        assert faulted(log, throttled) == 2 and faulted(log, failing) == 2
    finally:
        run_module("node_drain", {"kubeconfig": bed.kubeconfig, "name": node, "state": "uncordoned"})
    assert not bed.core_v1().read_node(node).spec.unschedulable


# --------------------------------------------------------------------------------------------------- restarts


def in_background(call: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(result=call()), daemon=True)
    thread.start()
    return thread, outcome


def clear_failure(result: dict[str, Any]) -> bool:
    """A failure a user can act on: names the API server or an HTTP status, not a traceback."""
    msg = result.get("msg", "")
    return bool(result.get("failed")) and ("API server" in msg or "HTTP " in msg) and "Traceback" not in msg


def finished_or_rerun(thread: threading.Thread, outcome: dict[str, Any], join_s: float,
                      rerun: Any) -> dict[str, Any]:
    """The module run through the fault either finished, or failed clearly and a re-run finishes; says which."""
    thread.join(join_s)
    result = outcome["result"]
    if result.get("failed"):
        assert clear_failure(result), result
        print(f"failed clearly through the fault ({result['msg'][:200]}); the re-run finishes")
        result = rerun()
    else:
        print("finished through the fault")
    assert not result.get("failed"), result
    return result


def test_kube_apiserver_killed_mid_lock_acquire_loses_no_entry_and_admits_no_second_holder(
        bed: Testbed, lock_ns: str, run_module: ModuleRunner) -> None:
    first, second = bed.nodes[0], bed.nodes[1]
    assert lock(run_module, bed.kubeconfig, lock_ns, first)["changed"]
    thread, outcome = in_background(lambda: lock(run_module, bed.kubeconfig, lock_ns, second, wait_timeout=90,
                                                 wait_sleep=1))
    time.sleep(3)  # the second is waiting on the first
    bed.component("stop", "kube-apiserver", "--kill")
    time.sleep(3)
    bed.component("start", "kube-apiserver")
    assert bed.lock_holders(lock_ns) == [first], "the held entry did not survive the restart"
    assert lock(run_module, bed.kubeconfig, lock_ns, first, state="released")["changed"]
    finished_or_rerun(thread, outcome, 120, lambda: lock(run_module, bed.kubeconfig, lock_ns, second))
    assert bed.lock_holders(lock_ns) == [second]


def test_kube_apiserver_restarted_while_waiting_for_ready(bed: Testbed, run_module: ModuleRunner) -> None:
    node = bed.nodes[2]
    before = bed.boot_id(node)
    args = {"kubeconfig": bed.kubeconfig, "names": [node], "wait_ready": True, "changed_boot_id_from": before,
            "wait_timeout": 120}
    bed.reboot(node, delay=8)
    thread, outcome = in_background(lambda: run_module("node_info", args))
    time.sleep(2)
    bed.component("restart", "kube-apiserver", "--kill")
    result = finished_or_rerun(thread, outcome, 150, lambda: run_module("node_info", args))
    facts = result["nodes_by_name"][node]
    assert facts["ready"] and facts["boot_id"] != before and facts["boot_id"] == bed.boot_id(node)


def test_kube_apiserver_killed_mid_drain_leaves_a_drain_a_rerun_finishes(bed: Testbed, run_module: ModuleRunner) -> None:
    node = bed.nodes[1]
    namespace = bed.create_namespace("np-cp-drain")
    labels = {"app": "drained"}
    bed.apps_v1().create_namespaced_replica_set(namespace, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 6, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                 "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 0,
                          "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}}})

    def running() -> list[str]:
        pods = bed.core_v1().list_namespaced_pod(namespace, field_selector=f"spec.nodeName={node}").items
        return [p.metadata.name for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]

    args = {"kubeconfig": bed.kubeconfig, "name": node, "state": "drained", "timeout": 120}
    try:
        bed.wait_until(lambda: len(running()) == 6, 60, "6 pods running on the node")
        thread, outcome = in_background(lambda: run_module("node_drain", args))
        time.sleep(1)
        bed.component("restart", "kube-apiserver", "--kill")
        finished_or_rerun(thread, outcome, 180, lambda: run_module("node_drain", args))
        assert bed.core_v1().read_node(node).spec.unschedulable is True
        # Replacements cannot run anywhere else (nodeSelector): what is left on the node is only what was evicted.
        bed.wait_until(lambda: running() == [], 60, "no pod of the ReplicaSet running on the drained node")
    finally:
        run_module("node_drain", {"kubeconfig": bed.kubeconfig, "name": node, "state": "uncordoned"})
        bed.delete_namespace(namespace)


@dataclass(frozen=True)
class Fault:
    """A component of the control plane SIGKILLed at a moment of a roll-out and started again.

    `moment`: started (as the roll-out starts), locked (the first node took the lock), evicting (the drain evicted
    one of two pods and waits on the budget for the other, whose replacement may run only once the component is
    down), down (the node is down after its reboot command).
    `while_down`: a state waited for before the component starts again (pending: an evicted pod's replacement
    waits, unscheduled)."""

    component: str
    moment: str
    while_down: str = ""


@dataclass(frozen=True)
class Restart:
    """One roll-out and the faults it meets, in order (two in one roll-out where their moments do not overlap:
    each roll-out is a minute of the suite)."""

    faults: tuple[Fault, ...]
    nodes: int = 1
    reboot_delay: int = 3


RESTARTS = [
    Restart((Fault("etcd", "locked"),), nodes=2),
    # The controller manager recreates the evicted pod (ReplicaSet) and recounts the budget (disruption): the
    # drain's retried eviction of the second pod can only succeed once it is back.
    Restart((Fault("kube-controller-manager", "evicting"),)),
    # The scheduler is killed as the roll-out starts, so the first eviction's replacement is certainly left
    # unscheduled, and started again while it is. (Killed once the lock was taken, it lost the race to a drain
    # that evicts 0.3 s later.) kwok makes nodes Ready and keeps their leases; it is killed while the node is down
    # (the test bed brings the node back through the API).
    Restart((Fault("kube-scheduler", "started", while_down="pending"), Fault("kwok", "down")), reboot_delay=6),
]
APP_LABEL = "nodepatch.test/restart-app"


def deploy_budgeted_app(bed: Testbed, node: str) -> str:
    """Two pods on `node` under a budget that lets one go at a time; their replacements can run only on a node
    given `let_replacements_run_on`, so the drain's second eviction waits for the first pod's replacement to be
    recreated, scheduled, Running and counted by the budget."""
    namespace = bed.create_namespace("np-cp-restart")
    labels = {"app": "budgeted"}
    bed.core_v1().patch_node(node, {"metadata": {"labels": {APP_LABEL: "yes"}}})
    bed.apps_v1().create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "budgeted"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                 "spec": {"nodeSelector": {APP_LABEL: "yes"}, "terminationGracePeriodSeconds": 0,
                          "containers": [{"name": "app", "image": "registry.local/app:1"}]}}}})
    bed.policy_v1().create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "budgeted"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}})

    def counted() -> bool:
        pdb = bed.policy_v1().read_namespaced_pod_disruption_budget("budgeted", namespace)
        return bool(pdb.status) and (pdb.status.current_healthy or 0) == 2
    bed.wait_until(counted, 60, f"two pods Running on {node} and counted by their budget")
    return namespace


def let_replacements_run_on(bed: Testbed, spare: str) -> None:
    bed.core_v1().patch_node(spare, {"metadata": {"labels": {APP_LABEL: "yes"}}})


def app_pods(bed: Testbed, namespace: str) -> list[Any]:
    return [pod for pod in bed.core_v1().list_namespaced_pod(namespace).items if not pod.metadata.deletion_timestamp]


def reached(bed: Testbed, fault: Fault, node: str, namespace: str | None, first_pods: set[str]) -> bool:
    if fault.moment == "started":
        return True
    if fault.moment == "locked":
        return bool(bed.lock_holders())
    if fault.moment == "evicting":
        assert namespace is not None
        left = {pod.metadata.uid for pod in app_pods(bed, namespace)} & first_pods
        return bool(bed.node(node).spec.unschedulable) and len(left) == 1
    annotations = bed.node(node).metadata.annotations or {}
    return "weave.works/kured-reboot-in-progress" in annotations and not bed.node_ready(node)


def pending(bed: Testbed, namespace: str | None) -> bool:
    assert namespace is not None
    return any(pod.status.phase == "Pending" and not pod.spec.node_name for pod in app_pods(bed, namespace))


@pytest.mark.parametrize("restart", RESTARTS,
                         ids=[", ".join(f"{f.component} at {f.moment}" for f in r.faults) for r in RESTARTS])
def test_a_component_restarted_mid_rollout_never_takes_two_nodes_down_nor_loses_the_lock(
        bed: Testbed, run_playbook: Any, tmp_path: Path, restart: Restart) -> None:
    """The roll-out finishes through the restart, or fails with a clear message and the re-run finishes it:
    each node rebooted once (boot ids seen every 100 ms), uncordoned, unmarked, the lock free, its report row
    `rebooted`; never two nodes down, and the lock held by the node for as long as it is down."""
    from tests.integration.rollout import test_rollout as rollout

    rollout.reset(bed)
    targets, spare = bed.nodes[:restart.nodes], bed.nodes[restart.nodes]
    for name in targets:
        bed.sentinel(name, on=True)
    before = {name: bed.boot_id(name) for name in targets}
    needs_app = any(fault.moment == "evicting" or fault.while_down == "pending" for fault in restart.faults)
    namespace = deploy_budgeted_app(bed, targets[0]) if needs_app else None
    # At the moment evicting, the first replacement has nowhere to run until the fault is in place: the drain waits
    # on the budget for as long as the test needs to see it (a replacement Running at once can let the second
    # eviction through within a few hundred ms, before a 50 ms poll under load sees the moment).
    replacements_wait = any(fault.moment == "evicting" for fault in restart.faults)
    if namespace and not replacements_wait:
        let_replacements_run_on(bed, spare)
    first_pods = {pod.metadata.uid for pod in app_pods(bed, namespace)} if namespace else set()
    extra = {"patch_and_reboot_hosts": ",".join(targets), "safe_reboot_drain_timeout": 120,
             "safe_reboot_command": rollout.reboot_command_with_delay(restart.reboot_delay)}
    try:
        with rollout.Watcher(bed) as watcher:
            thread, outcome = in_background(lambda: rollout.run_rollout(run_playbook, bed, tmp_path, **extra))

            for fault in restart.faults:
                def at_moment(fault: Fault = fault) -> bool:
                    if not thread.is_alive():
                        pytest.fail(f"the roll-out ended before the moment {fault.moment}:\n"
                                    + outcome["result"].stdout[-3000:])
                    return reached(bed, fault, targets[0], namespace, first_pods)
                bed.wait_until(at_moment, 300, f"the roll-out at {fault.moment}", interval=0.05)
                bed.component("stop", fault.component, "--kill")
                if fault.moment == "evicting":
                    let_replacements_run_on(bed, spare)
                if fault.while_down == "pending":
                    bed.wait_until(lambda: pending(bed, namespace), 60, "an evicted pod's replacement unscheduled")
                bed.component("start", fault.component)
            thread.join(600)
            assert not thread.is_alive(), "the roll-out did not end within 600 s"
            first = outcome["result"]
            if first.returncode != 0:
                output = first.stdout + first.stderr
                assert "Traceback" not in output and "fatal: [" in output, output[-3000:]
                print(f"failed clearly through the restart; the re-run finishes\n{output[-1500:]}")
                second = rollout.run_rollout(run_playbook, bed, tmp_path, **extra)
                assert second.returncode == 0, second.stdout[-3000:]
            else:
                print("finished through the restart")
        print(f"{watcher.samples} samples, {watcher.unanswered} unanswered")
        assert watcher.max_rebooting <= 1 and watcher.max_holders <= 1, (watcher.max_rebooting, watcher.max_holders)
        for index, (holders, _stopped) in enumerate(watcher.history):
            for name in watcher.down[index] & set(targets):
                assert holders == [name], f"{name} down while the lock held {holders}: the entry was lost"
        rows = {row["node"]: row for row in rollout.report(tmp_path)["nodes"]}
        for name in targets:
            seen = watcher.boot_ids_seen[name]
            assert seen[0] == before[name] and len(seen) == 2, f"{name}: boot ids seen {seen}, not one reboot"
            row = rows[name]
            assert row["result"] == "rebooted" and row["error"] is None, row
            assert row["was_unschedulable"] is False, row
            assert (row["boot_id_before"], row["boot_id_after"]) == (before[name], seen[1]), row
        rollout.assert_cluster_settled(bed)
        if namespace:
            assert all(pod.spec.node_name == spare for pod in app_pods(bed, namespace)), "a pod left on the node"
    finally:
        # A failure between a component's stop and its start would leave it down for every test after this one on
        # the shared test bed; starting one that runs is refused, and that refusal is ignored.
        for fault in restart.faults:
            bed.component("start", fault.component, required=False)
        if namespace:
            bed.delete_namespace(namespace)
        for name in (targets[0], spare):
            bed.core_v1().patch_node(name, {"metadata": {"labels": {APP_LABEL: None}}})
        rollout.reset(bed)
