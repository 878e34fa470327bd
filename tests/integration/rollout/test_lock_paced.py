# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lock-paced roll-outs (patch_and_reboot_mode=lock_paced): every candidate on its own, the lock the only throttle,
and the first failure stopping the roll-out on the lock itself. Run and watched as test_rollout.py does."""

from __future__ import annotations

import json
import re

import test_rollout as rollout

# The roll-out's fixture: a clean cluster before and after each test.
cluster = rollout.cluster

# Fewer forks than candidates: with the free strategy, waiters inside node_lock would take every fork and stall the
# holders until the lock wait timed out; host_pinned keeps no more candidates in their turn than there are forks.
FORKS = ("--forks", "3")


def lock_paced(run_playbook, testbed, tmp_path, **extra):
    # A node waits for every turn ahead of it, not only for its batch: the wait covers the whole queue.
    return run_playbook(rollout.PLAYBOOK, rollout.rollout_vars(testbed, tmp_path, patch_and_reboot_mode="lock_paced",
                                                               safe_reboot_concurrency=2, **{
                                                                   "safe_reboot_lock_wait_timeout": 600, **extra}),
                        inventory=testbed.inventory, env={"PWD": str(tmp_path)}, args=FORKS)


def test_lock_paced_candidates_each_reboot_once_never_more_than_the_concurrency(cluster, run_playbook, tmp_path) -> None:
    needy = cluster.nodes
    for name in needy:
        cluster.sentinel(name)
    before = rollout.boot_ids(cluster)
    with rollout.Watcher(cluster) as watcher:
        proc = lock_paced(run_playbook, cluster, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    print(f"lock-paced: max lock holders {watcher.max_holders}, max rebooting {watcher.max_rebooting}, "
          f"{watcher.samples} samples")
    assert watcher.samples > 10 and watcher.max_holders >= 1
    assert watcher.max_holders <= 2 and watcher.max_rebooting <= 2
    assert {name: len(watcher.boot_ids_seen[name]) for name in needy} == dict.fromkeys(needy, 2), \
        "every candidate rebooted exactly once"
    assert all(watcher.boot_ids_seen[name][0] == before[name] for name in needy)
    assert rollout.hosts_of_play(proc.stdout, "Reboot the nodes that need it, each on its own") == set(needy)
    assert "Turn of " in proc.stdout and " in their turn" in proc.stdout
    turns = re.findall(r"([\w.-]+) holds the reboot lock after waiting \d+ s; holders now ([^(]+) \((\d) of at most 2\)",
                       proc.stdout)
    assert sorted(node for node, _holders, _count in turns) == sorted(needy), "one line per lock turn"
    assert all(node in holders and int(count) <= 2 for node, holders, count in turns)
    rollout.assert_cluster_settled(cluster)
    results = {row["node"]: row["result"] for row in rollout.report(tmp_path)["nodes"]}
    assert results == dict.fromkeys(needy, "rebooted")


def test_the_first_failure_stops_a_lock_paced_rollout_on_the_lock_and_names_the_node(
        cluster, run_playbook, tmp_path) -> None:
    failing, *others = cluster.nodes
    for name in cluster.nodes:
        cluster.sentinel(name)
    namespace = rollout.deploy_guarded_app(cluster, failing, min_available=2)
    before = rollout.boot_ids(cluster)
    try:
        with rollout.Watcher(cluster) as watcher:
            proc = lock_paced(run_playbook, cluster, tmp_path, safe_reboot_drain_timeout=8)
    finally:
        cluster.delete_namespace(namespace)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"The roll-out was stopped by {failing}" in output and "guarded-pdb" in output
    stopped_at = next((index for index, (_holders, stopped) in enumerate(watcher.history) if stopped), None)
    assert stopped_at is not None, "the stop was never seen on the lock"
    holding_then = set(watcher.history[stopped_at][0])
    assert failing in holding_then, "the failed node keeps its place, holding a kured that shares the lock off"
    assert all(set(holders) <= holding_then for holders, _stopped in watcher.history[stopped_at:]), \
        "no node took the lock after the failure"
    assert watcher.max_holders <= 2
    went_on = {name for name in others if before[name] != rollout.boot_ids(cluster)[name]}
    locked_before = {name for holders, _stopped in watcher.history[:stopped_at + 1] for name in holders}
    assert went_on <= locked_before, "only nodes that took the lock before the failure rebooted"
    assert all(len(watcher.boot_ids_seen[name]) == 2 for name in went_on), "they finished their reboot"
    written = rollout.report(tmp_path)
    rows = {row["node"]: row for row in written["nodes"]}
    assert rows[failing]["result"] == "failed" and "guarded-pdb" in rows[failing]["error"]
    for name in set(others) - went_on:
        assert rows[name]["result"] == "skipped" and f"stopped by {failing}" in rows[name]["error"], rows[name]
        assert rows[name]["stopped_by"] == failing
    assert written["summary"]["stopped_by"] == failing and f"stopped by {failing}" in proc.stdout
    assert cluster.lock_holders() == [failing], "the stop keeps the failed node's place until it is cleared"
    stop = json.loads(cluster.apps_v1().read_namespaced_daemon_set("kured", "kube-system")
                      .metadata.annotations[rollout.STOP_ANNOTATION])
    assert stop["node"] == failing and stop["phase"] == "drain" and stop["releaseWithStop"]
    assert not cluster.core_v1().read_node(failing).spec.unschedulable, "the failed drain was undone"

    # The next roll-out clears the stop and the place the failed node kept, then goes on.
    for name in cluster.nodes:
        cluster.sentinel(name, on=False)
    proc = lock_paced(run_playbook, cluster, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert f"cleared the stop of {failing}" in proc.stdout
    rollout.assert_cluster_settled(cluster)
    assert rollout.STOP_ANNOTATION not in (
        cluster.apps_v1().read_namespaced_daemon_set("kured", "kube-system").metadata.annotations or {})
