# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End-to-end roll-outs of playbooks/patch_and_reboot.yml on the local test bed (real API server, scheduler,
controllers, simulated kubelets), with a watcher counting rebooting nodes and lock holders throughout."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

LOCK_ANNOTATION = "weave.works/kured-node-lock"
IN_PROGRESS = "weave.works/kured-reboot-in-progress"
STOP_ANNOTATION = "nodepatch.kube/rollout-stopped"
PLAYBOOK = "playbooks/patch_and_reboot.yml"


class Watcher:
    """Counts, every 100 ms, the nodes down for a reboot (cordoned with kured's in-progress mark, or NotReady)
    and the holders of the lock; keeps the maxima, every holder seen, each node's boot ids in the order seen and,
    per sample, the holders, whether a stop (STOP_ANNOTATION) was on the lock, and (`down`) the nodes not Ready.
    Nodes rebooted outside the roll-out (``by_hand``) are not counted as rebooting."""

    def __init__(self, testbed, by_hand: frozenset[str] = frozenset()) -> None:
        self.testbed = testbed
        self.by_hand = by_hand
        self.max_rebooting = 0
        self.max_holders = 0
        self.holders_seen: set[str] = set()
        self.boot_ids_seen: dict[str, list[str]] = {}
        self.history: list[tuple[list[str], bool]] = []
        self.down: list[set[str]] = []
        self.samples = 0
        self.unanswered = 0  # samples the API server did not answer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - an API server or etcd being restarted under the watch: counted
                self.unanswered += 1
            self._stop.wait(0.1)

    def _sample(self) -> None:
        core = self.testbed.core_v1()
        rebooting = 0
        down = set()
        for node in core.list_node().items:
            seen = self.boot_ids_seen.setdefault(node.metadata.name, [])
            if not seen or seen[-1] != node.status.node_info.boot_id:
                seen.append(node.status.node_info.boot_id)
            annotations = node.metadata.annotations or {}
            ready = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), "Unknown")
            if (IN_PROGRESS in annotations or ready != "True") and node.metadata.name not in self.by_hand:
                rebooting += 1
            if ready != "True":
                down.add(node.metadata.name)
        holders = self.testbed.lock_holders()
        lock = self.testbed.apps_v1().read_namespaced_daemon_set("kured", "kube-system")
        self.max_rebooting = max(self.max_rebooting, rebooting)
        self.history.append((holders, STOP_ANNOTATION in (lock.metadata.annotations or {})))
        self.down.append(down)
        self.max_holders = max(self.max_holders, len(holders))
        self.holders_seen.update(holders)
        self.samples += 1

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def cluster(testbed):
    """A clean starting point for each roll-out: no sentinel, every node schedulable and Ready, the lock free."""
    testbed.require_simulated("roll-outs reboot nodes")
    reset(testbed)
    yield testbed
    reset(testbed)


def reset(testbed) -> None:
    core = testbed.core_v1()
    for name in testbed.nodes:
        testbed.sentinel(name, on=False)
        core.patch_node(name, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
            IN_PROGRESS: None, "nodepatch.kube/boot-id-before": None, "nodepatch.kube/reboot-requested": None, "nodepatch.kube/was-unschedulable": None}}})
    testbed.apps_v1().patch_namespaced_daemon_set("kured", "kube-system",
                                                  {"metadata": {"annotations": {LOCK_ANNOTATION: None, STOP_ANNOTATION: None}}})
    testbed.wait_until(lambda: all(testbed.node_ready(name) for name in testbed.nodes), 60, "all nodes Ready")


def rollout_vars(testbed, report_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "patch_and_reboot_hosts": "testbed_nodes",
        "patch_and_reboot_patch": False,
        "safe_reboot_method": "command",
        "safe_reboot_command": "{{ nodepatch_testbed_reboot_command | split }}",
        "safe_reboot_kubeconfig": testbed.kubeconfig,
        "safe_reboot_drain_timeout": 60,
        "safe_reboot_ready_timeout": 120,
        "safe_reboot_lock_wait_timeout": 120,
        "safe_reboot_lock_wait_sleep": 1,
        **extra,
    }


def reboot_command_with_delay(seconds: float) -> str:
    """safe_reboot_command: the test bed's reboot of the inventory host, its node down for `seconds`."""
    return f"{{{{ (nodepatch_testbed_reboot_command ~ ' --delay {seconds:g}') | split }}}}"


def run_rollout(run_playbook, testbed, tmp_path: Path, **extra: Any) -> subprocess.CompletedProcess[str]:
    return run_playbook(PLAYBOOK, rollout_vars(testbed, tmp_path, **extra), inventory=testbed.inventory,
                        env={"PWD": str(tmp_path)})


def boot_ids(testbed) -> dict[str, str]:
    return {name: testbed.boot_id(name) for name in testbed.nodes}


def assert_cluster_settled(testbed, cordoned: frozenset[str] = frozenset()) -> None:
    core = testbed.core_v1()
    for name in testbed.nodes:
        node = core.read_node(name)
        assert bool(node.spec.unschedulable) == (name in cordoned), f"{name}: unschedulable={node.spec.unschedulable}"
        assert IN_PROGRESS not in (node.metadata.annotations or {}), f"{name} still marked as rebooting"
    assert testbed.lock_holders() == []


def hosts_of_play(output: str, play: str) -> set[str]:
    """The hosts that ran or skipped a task in the play of that name, over all its serial batches (each batch
    prints the play's header again; ansible-playbook's default output)."""
    sections = [chunk for chunk in ("\n" + output).split("\nPLAY [")[1:] if chunk.startswith(play)]
    assert sections, f"no play {play!r} in the output"
    return {host for section in sections
            for host in re.findall(r"^(?:ok|changed|skipping|failed|fatal): \[([^\]\s]+)", section, re.M)}


def report(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "nodepatch-reports" / "rollout.json").read_text())


def reboot_by_hand_once_the_lock_is_taken(testbed, watcher: Watcher, node: str) -> threading.Thread:
    """Reboots ``node`` outside the roll-out (which clears its sentinel) as soon as the first holder is seen, so
    the check pass found it needing a reboot and its turn, later, finds it rebooted."""
    def run() -> None:
        testbed.wait_until(lambda: bool(watcher.holders_seen), 120, "a first lock holder")
        testbed.reboot(node, delay=0, wait=True)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# At concurrency 1 the last of the three is rebooted by hand during the first one's turn: its turn must see that
# (its boot id changed since the check pass), ask its sentinels again and leave it alone as no longer needing it.
@pytest.mark.parametrize("concurrency, needing, by_hand", [(1, 3, True), (2, 4, False)])
def test_exactly_the_nodes_that_need_it_reboot_never_more_than_the_concurrency(
        cluster, run_playbook, tmp_path, concurrency, needing, by_hand) -> None:
    needy = cluster.nodes[:needing]
    hand = needy[-1] if by_hand else None
    ours = [name for name in needy if name != hand]
    for name in needy:
        cluster.sentinel(name)
    before = boot_ids(cluster)
    with Watcher(cluster, frozenset([hand] if hand else [])) as watcher:
        helper = reboot_by_hand_once_the_lock_is_taken(cluster, watcher, hand) if hand else None
        proc = run_rollout(run_playbook, cluster, tmp_path, safe_reboot_concurrency=concurrency)
        if helper:
            helper.join(60)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    after = boot_ids(cluster)
    assert {name for name in cluster.nodes if before[name] != after[name]} == set(needy)
    if hand:
        assert len(watcher.boot_ids_seen[hand]) == 2, f"{hand} rebooted once, by hand: {watcher.boot_ids_seen[hand]}"
    print(f"concurrency {concurrency}: max rebooting {watcher.max_rebooting}, max lock holders "
          f"{watcher.max_holders}, {watcher.samples} samples")
    assert watcher.max_holders <= concurrency
    assert watcher.max_rebooting <= concurrency
    assert watcher.max_holders >= 1 and watcher.samples > 10
    assert watcher.holders_seen == set(ours), "only the nodes that still need a reboot take the lock"
    assert hosts_of_play(proc.stdout, "Reboot the nodes that need it") == set(needy), \
        "the serial part runs on the nodes the check pass found needing a reboot, and on no other"
    assert_cluster_settled(cluster)
    rows = {row["node"]: row for row in report(tmp_path)["nodes"]}
    assert {name: row["result"] for name, row in rows.items()} == {
        name: ("rebooted" if name in ours else "not-needed") for name in cluster.nodes}
    assert all(bool(rows[name]["reasons"]) == (name in ours) for name in cluster.nodes), rows


def test_a_node_an_administrator_cordoned_is_rebooted_and_stays_cordoned(cluster, run_playbook, tmp_path) -> None:
    admin_cordoned, schedulable = cluster.nodes[:2]
    cluster.core_v1().patch_node(admin_cordoned, {"spec": {"unschedulable": True}})
    for name in (admin_cordoned, schedulable):
        cluster.sentinel(name)
    before = boot_ids(cluster)
    recorded: dict[str, set[bool]] = {}
    stop = threading.Event()

    def sample_lock_entries() -> None:
        while not stop.wait(0.05):
            for entry in cluster.lock_entries():
                recorded.setdefault(entry["nodeID"], set()).add(entry["metadata"]["unschedulable"])

    sampler = threading.Thread(target=sample_lock_entries, daemon=True)
    sampler.start()
    try:
        proc = run_rollout(run_playbook, cluster, tmp_path)
    finally:
        stop.set()
        sampler.join(5)
    assert proc.returncode == 0, proc.stdout[-4000:]
    after = boot_ids(cluster)
    assert after[admin_cordoned] != before[admin_cordoned] and after[schedulable] != before[schedulable]
    # As kured records it: whether the node was cordoned before the reboot, not the roll-out's own cordon.
    assert recorded == {admin_cordoned: {True}, schedulable: {False}}, recorded
    assert_cluster_settled(cluster, cordoned=frozenset({admin_cordoned}))


def test_webhooks_hear_each_reboot_start_and_finish_in_their_format(cluster, run_playbook, tmp_path, receiver) -> None:
    node = cluster.nodes[1]
    cluster.sentinel(node)
    proc = run_rollout(run_playbook, cluster, tmp_path, safe_reboot_notify_cluster="testbed-east",
                       safe_reboot_notify_webhooks=[
                           {"url": receiver.url("/hooks/secret-generic"), "format": "generic"},
                           {"url": receiver.url("/hooks/secret-slack"), "format": "slack"},
                           {"url": receiver.url("/teams/secret-teams"), "format": "teams"}])
    assert proc.returncode == 0, proc.stdout[-4000:]
    generic = [request.body for request in receiver.requests if "secret-generic" in request.path]
    assert [(body["event"], body["node"]) for body in generic] == [("reboot_started", node), ("reboot_finished", node)]
    started, finished = (body["message"] for body in generic)
    assert started.startswith(f"Rebooting node {node}: ") and len(started) > len(f"Rebooting node {node}: ")
    assert finished == f"Node {node} rebooted and is back"
    assert all(body["cluster"] == "testbed-east" for body in generic)
    slack = [request.body for request in receiver.requests if "secret-slack" in request.path]
    assert len(slack) == 2 and all(node in body["text"] for body in slack)
    teams = [request.body for request in receiver.requests if "secret-teams" in request.path]
    assert len(teams) == 2 and all(body["attachments"][0]["content"]["type"] == "AdaptiveCard" for body in teams)
    output = proc.stdout + proc.stderr
    assert not any(secret in output for secret in ("secret-generic", "secret-slack", "secret-teams"))
    assert_cluster_settled(cluster)


def deploy_guarded_app(testbed, node: str, min_available: int, replicas: int = 2) -> str:
    """A Deployment whose pods all sit on `node`, guarded by a PDB."""
    namespace = testbed.create_namespace("np-rollout")
    labels = {"app": "guarded"}
    testbed.apps_v1().create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "guarded"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "app", "image": "registry.local/app:1"}]}}}})
    testbed.policy_v1().create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guarded-pdb"},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": labels}}})

    def healthy() -> bool:
        pdb = testbed.policy_v1().read_namespaced_pod_disruption_budget("guarded-pdb", namespace)
        return bool(pdb.status) and (pdb.status.current_healthy or 0) >= replicas
    testbed.wait_until(healthy, 60, "guarded pods Running and counted by the PDB")
    return namespace


def test_an_unsatisfiable_pdb_stops_the_rollout_and_leaves_nothing_cordoned_or_locked(
        cluster, run_playbook, tmp_path, receiver) -> None:
    first, *others = cluster.nodes[:3]
    for name in cluster.nodes[:3]:
        cluster.sentinel(name)
    namespace = deploy_guarded_app(cluster, first, min_available=2)
    before = boot_ids(cluster)
    try:
        proc = run_rollout(run_playbook, cluster, tmp_path, safe_reboot_drain_timeout=8,
                           safe_reboot_notify_webhooks=[{"url": receiver.url("/hooks/secret-failed")}])
    finally:
        cluster.delete_namespace(namespace)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "guarded-pdb" in output
    events = [(request.body["event"], request.body["node"], request.body["message"]) for request in receiver.requests]
    assert [event[:2] for event in events] == [("reboot_started", first), ("reboot_failed", first)], events
    assert events[1][2].startswith(f"Reboot of node {first} failed: ") and "guarded-pdb" in events[1][2]
    assert "secret-failed" not in output
    assert boot_ids(cluster) == before, "no node may reboot after the roll-out stopped"
    assert_cluster_settled(cluster)
    assert all(cluster.sentinel_path(name).exists() for name in others)
    results = {row["node"]: row["result"] for row in report(tmp_path)["nodes"]}
    assert results[first] == "failed"
    assert all(name not in results or results[name] != "rebooted" for name in others)


def test_a_rollout_killed_during_the_drain_is_finished_by_the_next_run(cluster, run_playbook, tmp_path) -> None:
    first = cluster.nodes[0]
    cluster.sentinel(first)
    namespace = deploy_guarded_app(cluster, first, min_available=2)
    before = cluster.boot_id(first)
    env = {**os.environ}
    playbook = subprocess.Popen(
        [str(Path(os.sys.executable).parent / "ansible-playbook"), PLAYBOOK, "-i", cluster.inventory,
         "-e", json.dumps(rollout_vars(cluster, tmp_path, safe_reboot_drain_timeout=120)), "--limit", first],
        cwd=Path(__file__).resolve().parents[3], env={**env, "ANSIBLE_COLLECTIONS_PATH": str(
            Path(__file__).resolve().parents[3] / ".build"), "PWD": str(tmp_path)},
        stdout=(tmp_path / "killed.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def cordoned() -> bool:
            if playbook.poll() is not None:
                pytest.fail(f"the roll-out ended (rc {playbook.returncode}) before the drain:\n"
                            + (tmp_path / "killed.log").read_text()[-3000:])
            return bool(cluster.core_v1().read_node(first).spec.unschedulable)
        cluster.wait_until(cordoned, 300, f"{first} cordoned by the roll-out")
        time.sleep(2)  # inside the drain, retrying the eviction the PDB refuses
    finally:
        os.killpg(playbook.pid, signal.SIGKILL)
        playbook.wait()
        if sys.exc_info()[0] is not None:
            cluster.delete_namespace(namespace)  # else its budget blocks the next test's drain of this node
    assert cluster.core_v1().read_node(first).spec.unschedulable, "the kill left the node cordoned, as a crash would"
    assert cluster.lock_holders() == [first]
    cluster.delete_namespace(namespace)
    proc = run_rollout(run_playbook, cluster, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert cluster.boot_id(first) != before
    assert_cluster_settled(cluster)


@pytest.mark.parametrize("blocker", ["window", "alert", "pod"])
def test_blocked_nodes_are_skipped_with_the_reason_and_the_others_proceed(
        cluster, run_playbook, tmp_path, blocker) -> None:
    blocked, free = cluster.nodes[0], cluster.nodes[1]
    for name in (blocked, free):
        cluster.sentinel(name)
    extra: dict[str, Any] = {}
    namespace = None
    if blocker == "window":
        extra["safe_reboot_reboot_days"] = ["mo"] if time.gmtime().tm_wday != 0 else ["tu"]
    elif blocker == "alert":
        cluster.alert(True)
        extra["safe_reboot_prometheus_url"] = cluster.prometheus_url
    else:
        namespace = cluster.create_namespace("np-blocking")
        cluster.core_v1().create_namespaced_pod(namespace, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "backup-job", "labels": {"nodepatch/blocks": "reboot"}},
            "spec": {"nodeName": blocked, "containers": [{"name": "backup", "image": "registry.local/backup:1"}]}})
        extra["safe_reboot_blocking_pod_selectors"] = ["nodepatch/blocks=reboot"]
    before = boot_ids(cluster)
    try:
        proc = run_rollout(run_playbook, cluster, tmp_path, **extra)
    finally:
        if blocker == "alert":
            cluster.alert(False)
        if namespace:
            cluster.delete_namespace(namespace)
    assert proc.returncode == 0, proc.stdout[-4000:]
    rows = {row["node"]: row for row in report(tmp_path)["nodes"]}
    after = boot_ids(cluster)
    assert after[blocked] == before[blocked]
    assert rows[blocked]["result"] == "blocked" and rows[blocked]["blocked_reasons"]
    if blocker == "pod":
        assert after[free] != before[free] and rows[free]["result"] == "rebooted"
    else:
        assert rows[free]["result"] == "blocked", "window and alerts block every node"
    assert set(rows) == set(cluster.nodes), "every targeted node is in the report"
    assert hosts_of_play(proc.stdout, "Reboot the nodes that need it") == ({free} if blocker == "pod" else set())
    assert_cluster_settled(cluster)


def test_a_node_reached_through_the_real_sshd(cluster, run_playbook, tmp_path) -> None:
    node = cluster.ssh["node"]
    cluster.sentinel(node)
    before = cluster.boot_id(node)
    proc = run_playbook(PLAYBOOK, {**rollout_vars(cluster, tmp_path), "patch_and_reboot_hosts": "testbed_ssh"},
                        inventory=cluster.inventory, env={"PWD": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "ssh-node" in proc.stdout
    assert cluster.boot_id(node) != before
    assert_cluster_settled(cluster)


def test_reboot_status_shows_the_cluster_view_with_the_lock_holder(cluster, run_playbook, tmp_path) -> None:
    needy, cordoned, holder = cluster.nodes[:3]
    untargeted = cluster.nodes[-1]
    cluster.sentinel(needy)
    cluster.core_v1().patch_node(cordoned, {"spec": {"unschedulable": True}})
    cluster.apps_v1().patch_namespaced_daemon_set("kured", "kube-system", {"metadata": {"annotations": {
        LOCK_ANNOTATION: json.dumps({"nodeID": holder, "metadata": {"unschedulable": False},
                                     "created": "2026-11-29T08:00:00.123456789Z", "TTL": 0})}}})
    status_json = tmp_path / "status.json"
    proc = run_playbook("playbooks/reboot_status.yml", {
        "reboot_status_hosts": f"testbed_nodes:!{untargeted}", "reboot_status_kubeconfig": cluster.kubeconfig,
        "reboot_status_json_path": str(status_json)}, inventory=cluster.inventory)
    assert proc.returncode == 0, proc.stdout[-4000:]
    rows = {row["node"]: row for row in json.loads(status_json.read_text())}
    assert set(rows) == set(cluster.nodes) - {untargeted}
    assert [name for name, row in rows.items() if row["reboot_required"]] == [needy]
    assert [name for name, row in rows.items() if row["unschedulable"]] == [cordoned]
    assert [name for name, row in rows.items() if row["lock_holder"]] == [holder]
    assert all(row["ready"] for row in rows.values())
    for heading in ("READY", "CORDONED", "LOCK HOLDER", "2026-11-29T08:00:00.123456789Z"):
        assert heading in proc.stdout, heading
    assert f"Not in the inventory: {untargeted}" in proc.stdout
