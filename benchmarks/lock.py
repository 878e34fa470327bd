# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reboot lock under contention at scale: worker processes acquire and release it in a loop on both backends
(the kured-compatible DaemonSet annotation and the Lease slots), each at max_holders 1 and 3, while an independent
watch counts the holders in every version of the lock (tests/integration/contention.py, which the suite's
contention test runs at a smaller count). Prints rounds, conflicts retried, lost entries and the most holders ever
seen; `benchmarks/run.sh --only lock` (default 10,400 rounds of our workers in all).

On the DaemonSet lines a real kured (tests/integration/kured_peers.py) contends on the same lock DaemonSet at the
same time, with --concurrency equal to max_holders: its node's sentinel is on, so it takes a place, drains,
reboots (simulated), restarts and gives the place back, again and again while the workers run. The watcher counts
its entry like any other. kured has no Lease lock: the Lease lines are our workers alone."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import REPO, Testbed, log, table

sys.path.insert(0, str(REPO / "tests" / "integration"))
from contention import ANNOTATION, Result, Watcher, close, contend  # noqa: E402
from kured_peers import Group, KuredPeers, KuredUnavailable  # noqa: E402

PLAN = [("daemonset", 1), ("daemonset", 3), ("lease", 1), ("lease", 3)]
KURED_PERIOD_S = 3.0  # kured_peers.Group's --period
KURED_REBOOT_DELAY_S = 1.0  # the simulated reboot; kured's 30-90 s start-up after it is most of its hold anyway
KURED_RELEASE_TIMEOUT_S = 300.0  # drain, reboot, kured's restart and its start-up loop, on a loaded machine
LEASE_ONLY_OURS = "ours alone: kured has no Lease lock"


def module_utils_root(work: Path) -> Path:
    """A collections root for the workers, who import the collection's module_utils and nothing else: a link to the
    clone, not a staged copy (tools/stage-collection.sh replaces .build/ansible_collections, which test runs
    beside this one may be using)."""
    root = work / "lock-collections"
    link = root / "ansible_collections" / "nodepatch" / "kube"
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO)
    return root


@dataclass
class KuredRounds:
    """kured's part in one DaemonSet line: from the watcher (places taken and given back), its log (refusals) and
    its supervisor (reboots)."""

    node: str
    concurrency: int
    taken: int = 0
    given_back: int = 0
    refused: int = 0
    reboots: int = 0
    sentinel_switched_on: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "concurrency": self.concurrency, "places_taken": self.taken,
                "places_given_back": self.given_back, "refused": self.refused, "reboots": self.reboots,
                "sentinel_switched_on": self.sentinel_switched_on}


class SentinelKeeper(threading.Thread):
    """Keeps kured's node needing a reboot while the workers run. The simulated reboot clears the sentinel; it goes
    on again once kured has given its place back and the lock has been without kured for as long as kured's last
    hold: at max_holders 1 kured blocks every worker while it drains, reboots and restarts (30-90 s), and taking
    its place again at once would stretch the line without end."""

    def __init__(self, testbed: Testbed, node: str, watcher: Watcher) -> None:
        super().__init__(daemon=True)
        self.testbed = testbed
        self.node = node
        self.watcher = watcher
        self.sentinel = Path(testbed.info["sentinels"][node])
        self.switched_on = 0
        self.done = threading.Event()
        self.error: BaseException | None = None

    def _due(self) -> bool:
        held = list(self.watcher.kured_held)  # when kured's entry appeared, when it went, appeared, ...
        if len(held) % 2 == 1 or self.sentinel.exists():
            return False
        return len(held) < 2 or time.time() - held[-1] >= held[-1] - held[-2]

    def run(self) -> None:
        try:
            while not self.done.wait(0.5):
                if self._due():
                    self.testbed.cli("sentinel", self.node, "on")
                    self.switched_on += 1
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            self.error = error

    def stop(self) -> None:
        self.done.set()
        self.join(30)
        self.testbed.cli("sentinel", self.node, "off")
        if self.error is not None:
            raise RuntimeError(f"switching kured's sentinel on {self.node} failed: {self.error}")


class LockBench:
    def __init__(self, testbed: Testbed, collections_root: Path) -> None:
        self.testbed = testbed
        self.collections_root = collections_root
        self.peers = KuredPeers(testbed.state_dir, list(testbed.info["nodes"]))
        suffix = uuid.uuid4().hex[:6]
        # One peer per DaemonSet line, each on its own node and lock, all started before the first line: kured's
        # start-up loop (30-90 s) then passes once for all of them.
        self.groups = {max_holders: Group(f"lock-bench-{suffix}-{max_holders}", index, max_holders)
                       for index, max_holders in enumerate(sorted({holders for backend, holders in PLAN
                                                                   if backend == "daemonset"}))}
        self.kured_error: str | None = None

    def _namespace(self, api: Any) -> str:
        from kubernetes import client

        name = f"np-lock-bench-{uuid.uuid4().hex[:6]}"
        core = client.CoreV1Api(api)
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        labels = {"name": "kured"}
        client.AppsV1Api(api).create_namespaced_daemon_set(name, {
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kured"},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "nodeSelector": {"nodepatch.test/no-such-label": "none"},
                "containers": [{"name": "kured", "image": "ghcr.io/kubereboot/kured:1.17.1"}]}}}})
        return name

    def _start_kured(self) -> None:
        """Starts the peers (`testbed kured start` also makes each group's namespace and lock DaemonSet) and waits
        until they run their period. Without kured the DaemonSet lines run with our workers only, said loudly."""
        try:
            for group in self.groups.values():
                self.peers.start(self.peers.node(group), group.flags(), reboot_delay=KURED_REBOOT_DELAY_S)
        except KuredUnavailable as error:
            self.kured_error = str(error)
            log(f"!!! KURED IS NOT IN THE MIX: {error}; the DaemonSet lines run with our workers only !!!")
            return
        log(f"kured peers started ({', '.join(group.namespace for group in self.groups.values())}); waiting for "
            f"them to leave their 30-90 s start-up loop")
        self.peers.wait_ready([self.peers.node(group) for group in self.groups.values()])

    def _kured_line(self, api: Any, group: Group, max_holders: int, workers: int, rounds: int
                    ) -> tuple[Result, KuredRounds]:
        from kubernetes import client

        apps = client.AppsV1Api(api)
        node, namespace = self.peers.node(group), group.namespace
        kured = KuredRounds(node, group.concurrency)
        watcher = Watcher(api, "daemonset", namespace, kured=node)
        keeper = SentinelKeeper(self.testbed, node, watcher)
        log_offset = self.peers.offset(node)
        reboots_before = self.peers.state(node).get("counts", {}).get("reboot", 0)
        result = contend(self.testbed.info["kubeconfig"], self.collections_root, "daemonset", namespace, max_holders,
                         workers, rounds, watcher, on_start=keeper.start)
        keeper.stop()
        # A check that read the sentinel just before it went off takes its place within one period.
        time.sleep(2 * KURED_PERIOD_S)
        deadline = time.monotonic() + KURED_RELEASE_TIMEOUT_S
        while node in ((apps.read_namespaced_daemon_set("kured", namespace).metadata.annotations or {})
                       .get(ANNOTATION) or ""):
            if time.monotonic() > deadline:
                raise RuntimeError(f"kured on {node} still holds {namespace}/kured {KURED_RELEASE_TIMEOUT_S:.0f} s "
                                   f"after the workers finished:\n{self.peers.tail(node)}")
            time.sleep(1)
        result = close(result, watcher)
        kured.taken = (len(watcher.kured_held) + 1) // 2
        kured.given_back = len(watcher.kured_held) // 2
        kured.refused = self.peers.refusals(node, log_offset)
        kured.reboots = self.peers.state(node).get("counts", {}).get("reboot", 0) - reboots_before
        kured.sentinel_switched_on = keeper.switched_on
        return result, kured

    def run(self, workers: int, rounds: int) -> dict[str, Any]:
        from kubernetes import client

        api = self.testbed.client()
        rows: list[dict[str, Any]] = []
        results: list[Result] = []
        kured_rounds: list[KuredRounds] = []
        self._start_kured()
        try:
            for backend, max_holders in PLAN:
                group = self.groups.get(max_holders) if backend == "daemonset" and self.kured_error is None else None
                kured: KuredRounds | None = None
                if group is not None:
                    result, kured = self._kured_line(api, group, max_holders, workers, rounds)
                    self.peers.stop(self.peers.node(group))
                    client.CoreV1Api(api).delete_namespace(group.namespace)
                    log(f"{result.line()}; kured on {kured.node}: {kured.taken} places taken, {kured.given_back} "
                        f"given back, refused {kured.refused}x, {kured.reboots} reboots")
                    kured_rounds.append(kured)
                else:
                    namespace = self._namespace(api)
                    try:
                        watcher = Watcher(api, backend, namespace, lease_name="np-bench")
                        result = close(contend(self.testbed.info["kubeconfig"], self.collections_root, backend,
                                               namespace, max_holders, workers, rounds, watcher,
                                               lease_name="np-bench"), watcher)
                    finally:
                        client.CoreV1Api(api).delete_namespace(namespace)
                    log(result.line() + ("; " + LEASE_ONLY_OURS if backend == "lease" else "; kured not in the mix"))
                results.append(result)
                rows.append({**result.as_dict(), "kured": kured.as_dict() if kured is not None else (
                    LEASE_ONLY_OURS if backend == "lease" else f"not in the mix: {self.kured_error}")})
        finally:
            self.peers.stop(*(self.peers.node(group) for group in self.groups.values()))
            for group in self.groups.values():
                self.testbed.cli("sentinel", self.peers.node(group), "off", check=False)
        kured_total = sum(kured.given_back for kured in kured_rounds)
        return {"workers": workers, "rounds_per_worker": rounds, "rows": rows,
                "kured": {"in_mix": self.kured_error is None, "error": self.kured_error,
                          "period_s": KURED_PERIOD_S, "reboot_delay_s": KURED_REBOOT_DELAY_S},
                "total_rounds": sum(row["rounds"] for row in rows) + kured_total,
                "total_worker_rounds": sum(row["rounds"] for row in rows),
                "total_kured_rounds": kured_total,
                "total_kured_refused": sum(kured.refused for kured in kured_rounds),
                "total_conflicts": sum(row["conflicts"] for row in rows),
                "total_lost": sum(row["lost"] for row in rows),
                "sound": all(result.max_seen <= result.max_holders and result.overlap <= result.max_holders
                             and result.lost == 0 and result.refused == 0 for result in results)
                and all(kured.taken == kured.given_back for kured in kured_rounds)}


def kured_cells(row: dict[str, Any]) -> list[Any]:
    kured = row.get("kured")
    if not isinstance(kured, dict):
        return ["–", "–"]
    return [f"{kured['places_taken']} / {kured['places_given_back']}", kured["refused"]]


def render(result: dict[str, Any]) -> str:
    rows = [[row["backend"], row["max_holders"], row["rounds"], *kured_cells(row), row["conflicts"], row["lost"],
             row["max_holders_seen"], row["max_overlap"], row["versions_watched"], row["seconds"]]
            for row in result["rows"]]
    text = table(["backend", "max holders", "rounds (our workers)", "kured places taken / given back",
                  "kured refusals", "conflicts retried", "lost entries", "max holders seen", "max overlap",
                  "lock versions watched", "seconds"], rows)
    kured = result.get("kured") or {}
    worker_rounds = result.get("total_worker_rounds", result["total_rounds"])
    text += (f"\n\n{result['workers']} worker processes per line; {result['total_rounds']} acquire/release rounds in "
             f"all, {result.get('total_kured_rounds', 0)} of them kured's ({worker_rounds} our workers'); "
             f"{result['total_conflicts']} write conflicts retried (ours; kured's are not counted), "
             f"{result['total_lost']} entries lost; never more holders than allowed: "
             f"{'yes' if result['sound'] else 'NO'}.")
    if kured.get("in_mix"):
        text += (f"\n\nkured: a real kured process on each DaemonSet line's lock, --concurrency = max holders, "
                 f"--period {kured['period_s']:g}s, its node's sentinel switched on again after each reboot while "
                 f"the workers ran; a kured round is a place taken, held through drain, reboot and restart, and "
                 f"given back. The Lease lines are {LEASE_ONLY_OURS}.")
    elif kured:
        text += (f"\n\n**kured was NOT in the mix: {kured['error']}.** The DaemonSet lines ran with our workers only; "
                 f"the Lease lines are {LEASE_ONLY_OURS}.")
    return text
