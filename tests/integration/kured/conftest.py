# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Live interop with real kured processes (tests/testbed/kured.py), in three independent lock groups at once.

Every kured reboot costs 30-90 s before kured releases the lock (its start-up ticker after the restart), so the
scenarios run in background threads from the package's start, one chain per lock group, and each test waits for
the facts of its step and judges them:

- group `single` (kured --concurrency=1 on nodes[3], lock kured-peer-single/kured): our lock held by node_lock
  and kured refused, then kured's held and node_lock waiting; then a mixed roll-out at concurrency 1 with our
  playbook on nodes[0], which an administrator cordoned;
- group `multi2` (kured --concurrency=2 on nodes[4], lock kured-peer-multi2/kured): the same in the multi form;
  then a mixed roll-out at concurrency 2 with our playbook on nodes[1] and nodes[2];
- group `stale`: a kured on a node created for the purpose takes its lock and reboots, and the node is deleted
  while down (a VM scaled in mid-reboot).

The watchers sample every 100 ms, with the admin client: lock holders, and the nodes down for a reboot (NotReady,
or cordoned with kured's reboot-in-progress mark, which our role and kured with --annotate-nodes both set).
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kured_peers import MULTI2, REFUSED, SINGLE, Group, KuredPeers, require_kured

if TYPE_CHECKING:
    from tests.integration.conftest import ModuleRunner, PlaybookRunner, Testbed

ANNOTATION = "weave.works/kured-node-lock"
IN_PROGRESS = "weave.works/kured-reboot-in-progress"
PLAYBOOK = "playbooks/patch_and_reboot.yml"
STALE_NAMESPACE = "kured-peer-stale"
# kured's start-up ticker (30-90 s) + one period + drain + reboot, with room for a loaded machine.
KURED_CYCLE = 240


def holders(raw: str | None) -> list[str]:
    if not raw:
        return []
    value = json.loads(raw)
    if "locks" in value or "maxOwners" in value:
        return [entry["nodeID"] for entry in value.get("locks") or []]
    return [value["nodeID"]] if value.get("nodeID") else []


class Watcher:
    """Every 100 ms: the lock's holders and the watched nodes down for a reboot; keeps maxima and transitions."""

    def __init__(self, testbed: Testbed, namespace: str, nodes: list[str]) -> None:
        self.testbed = testbed
        self.namespace = namespace
        self.nodes = set(nodes)
        self.max_holders = 0
        self.max_rebooting = 0
        self.samples = 0
        self.transitions: list[tuple[float, tuple[str, ...]]] = []
        self.rebooting_seen: set[str] = set()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from kubernetes import client
        try:
            core = client.CoreV1Api(self.testbed.api_client())
            apps = client.AppsV1Api(self.testbed.api_client())
            while not self._stop.is_set():
                raw = (apps.read_namespaced_daemon_set("kured", self.namespace).metadata.annotations or {}).get(ANNOTATION)
                now = holders(raw)
                if not self.transitions or self.transitions[-1][1] != tuple(now):
                    self.transitions.append((time.time(), tuple(now)))
                down = set()
                for node in core.list_node().items:
                    if node.metadata.name not in self.nodes:
                        continue
                    ready = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), "Unknown")
                    marked = IN_PROGRESS in (node.metadata.annotations or {})
                    if ready != "True" or (node.spec.unschedulable and marked):
                        down.add(node.metadata.name)
                self.rebooting_seen |= down
                self.max_holders = max(self.max_holders, len(now))
                self.max_rebooting = max(self.max_rebooting, len(down))
                self.samples += 1
                self._stop.wait(0.1)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def last_released_by(self, holder: str) -> float | None:
        """When `holder` left the lock for the last time (None if it still holds it or never held it)."""
        released = None
        for (_moment, before), (moment, after) in zip(self.transitions, self.transitions[1:]):
            if holder in before and holder not in after:
                released = moment
        return None if self.transitions and holder in self.transitions[-1][1] else released

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class Bed:
    """What the scenarios share: the test bed, the peers and runners that work from any thread."""

    testbed: Testbed
    peers: KuredPeers
    run_module: ModuleRunner
    run_playbook: PlaybookRunner
    tmp: Path

    def lock(self, namespace: str, holder: str, **args: Any) -> dict[str, Any]:
        return self.run_module("node_lock", {"kubeconfig": self.testbed.kubeconfig, "namespace": namespace,
                                             "holder": holder, **args})

    def lock_value(self, namespace: str) -> str | None:
        ds = self.testbed.apps_v1().read_namespaced_daemon_set("kured", namespace)
        return (ds.metadata.annotations or {}).get(ANNOTATION)

    def clear_lock(self, namespace: str) -> None:
        self.testbed.apps_v1().patch_namespaced_daemon_set("kured", namespace,
                                                           {"metadata": {"annotations": {ANNOTATION: None}}})

    def wait_holding(self, namespace: str, holder: str, timeout: float, present: bool = True) -> float:
        deadline = time.monotonic() + timeout
        while (holder in holders(self.lock_value(namespace))) != present:
            if time.monotonic() > deadline:
                raise AssertionError(f"{holder} {'never took' if present else 'never left'} the lock in {namespace} "
                                     f"within {timeout:.0f} s; lock: {self.lock_value(namespace)}\n"
                                     f"{self.peers.tail(holder) if holder in self.testbed.nodes else ''}")
            time.sleep(0.2)
        return time.time()

    def sentinel(self, node: str, on: bool = True) -> None:
        self.testbed.sentinel(node, on)

    def unschedulable(self, node: str) -> bool:
        return bool(self.testbed.node(node).spec.unschedulable)

    def settle(self, nodes: list[str], namespace: str) -> None:
        """Back to a clean start for a scenario: no sentinel, nodes schedulable, unmarked, Ready; the lock free."""
        for node in nodes:
            self.sentinel(node, on=False)
            self.testbed.core_v1().patch_node(node, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
                IN_PROGRESS: None, "nodepatch.kube/boot-id-before": None, "nodepatch.kube/reboot-requested": None, "nodepatch.kube/was-unschedulable": None}}})
        self.clear_lock(namespace)
        self.testbed.wait_until(lambda: all(self.testbed.node_ready(node) for node in nodes), 60, f"{nodes} Ready")

    def rollout(self, hosts: list[str], namespace: str, concurrency: int, name: str, output: Path) -> Any:
        report_dir = self.tmp / name
        report_dir.mkdir(exist_ok=True)
        extra = {
            "patch_and_reboot_hosts": ":".join(hosts),
            "patch_and_reboot_patch": False,
            "safe_reboot_method": "command",
            "safe_reboot_command": "{{ nodepatch_testbed_reboot_command | split }}",
            "safe_reboot_kubeconfig": self.testbed.kubeconfig,
            "safe_reboot_concurrency": concurrency,
            "safe_reboot_lock_namespace": namespace,
            "safe_reboot_drain_timeout": 60,
            "safe_reboot_ready_timeout": 120,
            "safe_reboot_lock_wait_timeout": KURED_CYCLE,
            "safe_reboot_lock_wait_sleep": 1,
        }
        return self.run_playbook(PLAYBOOK, extra, inventory=self.testbed.inventory, env={"PWD": str(report_dir)},
                                 output=output)


class Step:
    """A scenario step running in the background; `facts()` waits for it and re-raises what went wrong."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = threading.Event()
        self.value: dict[str, Any] = {}
        self.error: str | None = None

    def facts(self, timeout: float = 600) -> dict[str, Any]:
        if not self.done.wait(timeout):
            pytest.fail(f"scenario step {self.name} still running after {timeout:.0f} s")
        if self.error is not None:
            pytest.fail(f"scenario step {self.name} failed:\n{self.error}")
        return self.value


@dataclass
class Chains:
    steps: dict[str, Step] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def chain(self, *steps: tuple[str, Callable[[], dict[str, Any]]]) -> None:
        for name, _step in steps:
            self.steps[name] = Step(name)

        def run() -> None:
            failed = None
            for name, work in steps:
                step = self.steps[name]
                if failed is not None:
                    step.error = f"not run: step {failed} of the same chain failed before"
                else:
                    began = time.monotonic()
                    try:
                        step.value = work()
                        step.value["seconds"] = round(time.monotonic() - began, 1)
                    except BaseException:  # noqa: BLE001 - handed to the test that reads the step
                        step.error = traceback.format_exc()
                        failed = name
                step.done.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self.steps[name].facts()


# --------------------------------------------------------------------------------------------------- scenarios


def interop(bed: Bed, group: Group, ours: list[str]) -> dict[str, Any]:
    """Our lock full (node_lock holds `ours`), kured refused; one of ours released, kured takes it and reboots;
    node_lock then waits for a place and gets it only after kured's post-reboot release."""
    kured = bed.peers.node(group)
    namespace = group.namespace
    max_holders = group.concurrency
    bed.settle([kured], namespace)
    boot_before = bed.testbed.boot_id(kured)
    taken = [bed.lock(namespace, holder, max_holders=max_holders) for holder in ours]
    value_held = bed.lock_value(namespace)
    offset = bed.peers.offset(kured)
    bed.sentinel(kured)
    # kured names the holder in its single form; in its multi form a full lock comes back empty-handed
    # (pkg/daemonsetlock canAcquireMultiple), so it logs no name.
    expected = re.escape(ours[0]) if max_holders == 1 else ""
    refusals = bed.peers.wait_log(kured, f'Lock already held: {expected}"', offset, timeout=30, count=2)
    cordoned_while_ours = bed.unschedulable(kured)
    boot_while_ours = bed.testbed.boot_id(kured)
    value_still = bed.lock_value(namespace)
    with Watcher(bed.testbed, namespace, [kured]) as watcher:
        released = bed.lock(namespace, ours[-1], state="released", max_holders=max_holders)
        released_at = time.time()
        kured_took = bed.wait_holding(namespace, kured, timeout=30)  # (as seen by a poll after the release)
        waiter = ours[-1]
        wait_started = time.time()
        waited = bed.lock(namespace, waiter, max_holders=max_holders, wait_timeout=KURED_CYCLE, wait_sleep=1)
        got_at = time.time()
        bed.testbed.wait_until(lambda: not bed.unschedulable(kured), 30, f"kured to uncordon {kured}")
    kured_released = watcher.last_released_by(kured)
    ours_left = next((moment for moment, now in watcher.transitions if ours[-1] not in now), None)
    kured_came = next((moment for moment, now in watcher.transitions if kured in now), None)
    facts = {
        "kured": kured, "ours": ours, "taken": taken, "value_held": value_held, "refusals": refusals,
        "cordoned_while_ours": cordoned_while_ours, "boot_before": boot_before, "boot_while_ours": boot_while_ours,
        "value_still": value_still, "released": released, "released_at": released_at, "kured_took": kured_took,
        "ours_left": ours_left, "kured_came": kured_came,
        "wait_started": wait_started, "waited": waited, "got_at": got_at, "kured_released": kured_released,
        "boot_after": bed.testbed.boot_id(kured), "kured_starts": bed.peers.state(kured).get("starts"),
        "max_holders": watcher.max_holders, "rebooting_seen": sorted(watcher.rebooting_seen),
        "transitions": watcher.transitions, "watch_error": repr(watcher.error) if watcher.error else None,
        "log": bed.peers.since(kured, offset)[-4000:],
    }
    for holder in ours:
        bed.lock(namespace, holder, state="released", max_holders=max_holders)
    return facts


def mixed(bed: Bed, group: Group, ours: list[str], admin_cordoned: list[str], name: str) -> dict[str, Any]:
    """Our roll-out on `ours` and kured on its node, same lock, everyone needing a reboot at once.

    So that they really meet, the lock is first filled by placeholder holders (a change freeze) until both
    sides wait for it: kured has been refused and our play runs its lock task. Then the freeze ends."""
    kured = bed.peers.node(group)
    namespace = group.namespace
    everyone = [*ours, kured]
    bed.settle(everyone, namespace)
    bed.peers.wait_ready([kured])
    for node in admin_cordoned:
        bed.testbed.core_v1().patch_node(node, {"spec": {"unschedulable": True}})
    freeze = [f"change-freeze-{index}" for index in range(group.concurrency)]
    for holder in freeze:
        assert bed.lock(namespace, holder, max_holders=group.concurrency)["acquired"]
    before = {node: bed.testbed.boot_id(node) for node in everyone}
    offset = bed.peers.offset(kured)
    output = bed.tmp / f"{name}.out"
    output.touch()
    result: dict[str, Any] = {}
    with Watcher(bed.testbed, namespace, everyone) as watcher:
        for node in everyone:
            bed.sentinel(node)
        began = time.monotonic()
        play = threading.Thread(target=lambda: result.update(
            proc=bed.rollout(ours, namespace, group.concurrency, name, output)), daemon=True)
        play.start()
        bed.peers.wait_log(kured, REFUSED, offset, timeout=KURED_CYCLE)
        bed.testbed.wait_until(lambda: "Take the reboot lock" in output.read_text()
                               or not play.is_alive(), KURED_CYCLE, "our roll-out to ask for the lock")
        time.sleep(2)  # the lock task's module is past its start-up and polling
        offset = bed.peers.offset(kured)
        thawed = time.time()
        for holder in freeze:
            bed.lock(namespace, holder, state="released", max_holders=group.concurrency)
        play.join(KURED_CYCLE * 2)
        proc = result["proc"]
        ours_seconds = time.monotonic() - began
        bed.testbed.wait_until(lambda: bed.testbed.boot_id(kured) != before[kured], KURED_CYCLE,
                               f"kured to reboot {kured}")
        bed.wait_holding(namespace, kured, timeout=KURED_CYCLE, present=False)
        bed.testbed.wait_until(lambda: not bed.unschedulable(kured), 30, f"kured to uncordon {kured}")
        wall = time.monotonic() - began
    kured_log = bed.peers.since(kured, offset)
    report = json.loads((bed.tmp / name / "nodepatch-reports" / "rollout.json").read_text())
    acquired = {row["node"]: row["timeline"].get("lock_acquired") for row in report["nodes"]}
    kured_came = next((moment for moment, now in watcher.transitions if moment >= thawed and kured in now), None)
    kured_left = watcher.last_released_by(kured)
    facts = {
        "kured": kured, "ours": ours, "rc": proc.returncode, "output": proc.stdout[-4000:] + proc.stderr[-2000:],
        "rebooted": sorted(node for node in everyone if bed.testbed.boot_id(node) != before[node]),
        "cordoned_after": sorted(node for node in everyone if bed.unschedulable(node)),
        "marked_after": sorted(node for node in everyone
                               if IN_PROGRESS in (bed.testbed.node(node).metadata.annotations or {})),
        "lock_after": holders(bed.lock_value(namespace)),
        "max_holders": watcher.max_holders, "max_rebooting": watcher.max_rebooting, "samples": watcher.samples,
        "rebooting_seen": sorted(watcher.rebooting_seen), "transitions": watcher.transitions,
        "watch_error": repr(watcher.error) if watcher.error else None,
        # After the freeze: kured refused because ours held the places, or ours, asking since before the thaw,
        # got a place only after kured gave its own back.
        "kured_refused": kured_log.count(REFUSED),
        "ours_waited": bool(kured_came and kured_left and any(
            moment and kured_came < moment and moment >= kured_left for moment in acquired.values())),
        "ours_seconds": round(ours_seconds, 1), "wall_seconds": round(wall, 1),
        "kured_log": kured_log[-3000:],
    }
    for node in admin_cordoned:
        bed.testbed.core_v1().patch_node(node, {"spec": {"unschedulable": None}})
    return facts


def stale(bed: Bed, node: str, sentinel: Path) -> dict[str, Any]:
    """A kured takes its lock and reboots its node; the node is deleted while down; node_lock then meets a lock
    held by a node that no longer exists."""
    sentinel.parent.mkdir(parents=True, exist_ok=True)
    sentinel.write_text("*** System restart required ***\n")
    took = bed.wait_holding(STALE_NAMESPACE, node, timeout=KURED_CYCLE)
    bed.testbed.wait_until(lambda: not bed.testbed.node_ready(node), 60, f"{node} going down for kured's reboot")
    bed.peers.stop(node)  # the node is gone, and its kured pod with it
    bed.testbed.delete_nodes([node])
    bed.testbed.wait_until(lambda: node not in [n.metadata.name for n in bed.testbed.core_v1().list_node().items],
                           30, f"node {node} deleted")
    me = bed.testbed.nodes[0]
    blocked = bed.lock(STALE_NAMESPACE, me)
    value_blocked = bed.lock_value(STALE_NAMESPACE)
    taken = bed.lock(STALE_NAMESPACE, me, break_stale=True)
    value_taken = bed.lock_value(STALE_NAMESPACE)
    bed.lock(STALE_NAMESPACE, me, state="released")
    return {"node": node, "took": took, "blocked": blocked, "value_blocked": value_blocked, "taken": taken,
            "value_taken": value_taken}


# --------------------------------------------------------------------------------------------------- fixture


@pytest.fixture(scope="package")
def chains(kured_session: KuredPeers, testbed: Testbed, make_runners: Callable[[Path], tuple[ModuleRunner, PlaybookRunner]],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chains]:
    peers = require_kured(kured_session, ("single", "multi2"))
    assert peers is not None
    tmp = tmp_path_factory.mktemp("kured")
    bed = Bed(testbed, peers, *make_runners(tmp), tmp)
    nodes = testbed.nodes
    # The stale holder's node exists only here, so no other suite ever sees it; its kured starts first, as its
    # start-up wait is the longest part of its chain.
    gone = f"kured-peer-gone-{uuid.uuid4().hex[:6]}"
    testbed.core_v1().create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": gone, "labels": {
        "type": "kwok"}}, "spec": {"taints": [{"key": "nodepatch.test/kured-peer", "effect": "NoSchedule"}]}})
    testbed.wait_until(lambda: testbed.node_ready(gone), 60, f"node {gone} Ready")
    peers.start(gone, ["--concurrency=1", f"--ds-namespace={STALE_NAMESPACE}", "--period=3s"], reboot_delay=30)
    sentinel = Path(peers.state(gone)["sentinel"])
    result = Chains()
    result.chain(("stale", lambda: stale(bed, gone, sentinel)))
    result.chain(("interop-single", lambda: interop(bed, SINGLE, [nodes[0]])),
                 ("mixed-1", lambda: mixed(bed, SINGLE, [nodes[0]], [nodes[0]], "mixed-1")))
    result.chain(("interop-multi", lambda: interop(bed, MULTI2, [nodes[1], nodes[2]])),
                 ("mixed-2", lambda: mixed(bed, MULTI2, [nodes[1], nodes[2]], [], "mixed-2")))
    try:
        yield result
    finally:
        for thread in result.threads:
            thread.join(KURED_CYCLE)
        peers.stop(gone)
        testbed.delete_nodes([gone])
        print(f"\nkured interop scenarios: {time.monotonic() - result.started:.0f} s in all; "
              + ", ".join(f"{name} {step.value.get('seconds', '?')} s" for name, step in result.steps.items()))
        bed.settle([nodes[0], nodes[1], nodes[2], peers.node(SINGLE), peers.node(MULTI2)], SINGLE.namespace)
        bed.clear_lock(MULTI2.namespace)
