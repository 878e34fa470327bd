# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Contention on the reboot lock, shared by tests/integration/kube/test_lease_contention.py (a count that fits the
suite) and benchmarks/lock.py (the 10,000-round run, both backends).

Worker processes acquire and release one lock in a loop through the collection's module_utils (the code node_lock
runs), while a watch follows every version of the lock object(s) and counts the holders in each. The watchers
parse what they see on their own (kured's JSON; the Leases' holderIdentity), not with the collection's parser,
so they judge independently. A watch on a namespace delivers events in etcd revision order, so the holders
rebuilt after each Lease event are the holders at that revision.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANNOTATION = "weave.works/kured-node-lock"

WORKER = textwrap.dedent("""
    import json, random, sys, time
    from ansible_collections.nodepatch.kube.plugins.module_utils.kube import KubeClient
    from ansible_collections.nodepatch.kube.plugins.module_utils.lock import LockSettings, RebootLock

    kubeconfig, backend, namespace, lease_name, holder, max_holders, rounds, start_at = sys.argv[1:9]
    client = KubeClient.from_params({"kubeconfig": kubeconfig})
    settings = LockSettings(backend, namespace, "kured", "weave.works/kured-node-lock", lease_name,
                            int(max_holders), 0, False)
    # Stale checks read the holder's Node; these holders are not nodes, and the count is what is under test.
    lock = RebootLock(client, settings, check_stale=False)
    while time.time() < float(start_at):
        time.sleep(0.01)
    held, refused, lost, intervals = 0, 0, 0, []
    for _ in range(int(rounds)):
        result = lock.acquire(holder, wait_timeout=600, wait_sleep=0.02 + random.random() * 0.03)
        if not result.acquired:
            refused += 1
            continue
        got = time.time()
        held += 1
        time.sleep(0.005)
        left = time.time()
        if not lock.release(holder).changed:
            lost += 1  # our entry was gone before we released it: somebody else's write dropped it
        intervals.append((got, left))
    print(json.dumps({"holder": holder, "held": held, "refused": refused, "lost": lost,
                      "conflicts": lock.conflicts, "intervals": intervals}))
""")


def count_holders(raw: str | None) -> int:
    """kured's reading of the annotation: one holder in the single form, len(locks) in the multi form."""
    if not raw:
        return 0
    value = json.loads(raw)
    if "locks" in value or "maxOwners" in value:
        return len({entry["nodeID"] for entry in value.get("locks") or []})
    return 1 if value.get("nodeID") else 0


class Watcher(threading.Thread):
    """Follows every version of the lock (re-watching from the last resourceVersion) and counts its holders."""

    def __init__(self, api_client: Any, backend: str, namespace: str, lease_name: str = "",
                 kured: str | None = None) -> None:
        super().__init__(daemon=True)
        from kubernetes import client

        self.backend = backend
        self.namespace = namespace
        self.prefix = lease_name + "-"
        self.apps = client.AppsV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.histogram: collections.Counter[int] = collections.Counter()
        self.events = 0
        self.kured = kured
        self.kured_held: list[float] = []  # when a version first showed kured holding, and when it stopped
        self.slots: dict[str, str] = {}
        self.done = threading.Event()
        self.error: BaseException | None = None
        listed = self._list()
        self.resource_version = self.seen = listed.metadata.resource_version
        if backend == "lease":
            self.slots = {lease.metadata.name: lease.spec.holder_identity for lease in listed.items
                          if self._slot(lease.metadata.name) and lease.spec.holder_identity}

    def _slot(self, name: str) -> bool:
        return name.startswith(self.prefix) and name[len(self.prefix):].isdigit()

    def _list(self, **kwargs: Any) -> Any:
        if self.backend == "daemonset":
            return self.apps.list_namespaced_daemon_set(self.namespace, field_selector="metadata.name=kured", **kwargs)
        return self.coordination.list_namespaced_lease(self.namespace, **kwargs)

    def _count(self, event: dict[str, Any]) -> None:
        obj = event["object"]
        if self.backend == "daemonset":
            raw = (obj.metadata.annotations or {}).get(ANNOTATION)
            self.histogram[count_holders(raw)] += 1
            if self.kured and (self.kured in (raw or "")) != (len(self.kured_held) % 2 == 1):
                self.kured_held.append(time.time())
            return
        if not self._slot(obj.metadata.name):
            return
        if event["type"] == "DELETED" or not obj.spec.holder_identity:
            self.slots.pop(obj.metadata.name, None)
        else:
            self.slots[obj.metadata.name] = obj.spec.holder_identity
        self.histogram[len(set(self.slots.values()))] += 1

    def run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        list_call = (self.apps.list_namespaced_daemon_set if self.backend == "daemonset"
                     else self.coordination.list_namespaced_lease)
        selector = {"field_selector": "metadata.name=kured"} if self.backend == "daemonset" else {}
        try:
            while not self.done.is_set():
                stream = watch.Watch()
                try:
                    for event in stream.stream(list_call, self.namespace, resource_version=self.resource_version,
                                               timeout_seconds=5, **selector):
                        self.resource_version = self.seen = event["object"].metadata.resource_version
                        self.events += 1
                        self._count(event)
                        if self.done.is_set():
                            break
                except ApiException as error:
                    # 410: the version we watch from was compacted away while the lock stood still (kured
                    # rebooting). Nothing was missed if the lock is still at the version last seen.
                    listed = self._list()
                    versions = [item.metadata.resource_version for item in listed.items]
                    if error.status != 410 or self.seen not in versions:
                        raise
                    self.resource_version = listed.metadata.resource_version
                stream.stop()
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            self.error = error

    def finish(self) -> None:
        """Stops once the watch has seen the lock's current version(s)."""
        latest = max((int(item.metadata.resource_version) for item in self._list().items), default=0)
        deadline = time.monotonic() + 30
        while int(self.seen) < latest and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.1)
        self.done.set()
        self.join(10)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one moment. Each interval lies inside its holder's real holding time (taken after
    the acquiring write returned, before the releasing write began), so an overlap here is a real one."""
    points = sorted([(start, 1) for start, _end in intervals] + [(end, -1) for _start, end in intervals],
                    key=lambda point: (point[0], point[1]))
    current = peak = 0
    for _moment, step in points:
        current += step
        peak = max(peak, current)
    return peak


@dataclass
class Result:
    backend: str
    max_holders: int
    workers: int
    rounds: int  # per worker
    held: int = 0
    refused: int = 0
    lost: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    versions: int = 0
    histogram: dict[int, int] = field(default_factory=dict)
    overlap: int = 0

    @property
    def max_seen(self) -> int:
        return max(self.histogram, default=0)

    def line(self) -> str:
        return (f"{self.backend} max_holders={self.max_holders}: {self.workers} workers x {self.rounds} rounds = "
                f"{self.held} acquire/release rounds in {self.seconds:.1f} s; {self.conflicts} write conflicts "
                f"(409, re-read and retried); {self.lost} lost entries; {self.versions} lock versions watched; "
                f"holders seen per version: {dict(sorted(self.histogram.items()))}; max holders seen "
                f"{self.max_seen}; max overlap of client-side holding intervals {self.overlap}")

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "max_holders": self.max_holders, "workers": self.workers,
                "rounds_per_worker": self.rounds, "rounds": self.held, "refused": self.refused, "lost": self.lost,
                "conflicts": self.conflicts, "seconds": round(self.seconds, 1), "versions_watched": self.versions,
                "max_holders_seen": self.max_seen, "max_overlap": self.overlap,
                "holders_per_version": {str(key): value for key, value in sorted(self.histogram.items())}}


def contend(kubeconfig: str, collections_root: Path, backend: str, namespace: str, max_holders: int, workers: int,
            rounds: int, watcher: Watcher, lease_name: str = "np-contention", on_start: Any = None) -> Result:
    """Runs the workers to the end, with `watcher` started before them; returns the figures (not judged here)."""
    watcher.start()
    if on_start is not None:
        on_start()
    start_at = time.time() + 3  # every worker has imported the client by then, so they really start together
    env = {**os.environ, "PYTHONPATH": str(collections_root)}
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, kubeconfig, backend, namespace, lease_name,  # noqa: S603
                               f"worker-{index}", str(max_holders), str(rounds), str(start_at)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for index in range(workers)]
    reports = []
    errors = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            errors.append(stderr[-2000:])
            continue
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    if errors:
        watcher.done.set()
        raise RuntimeError("a contention worker failed:\n" + "\n".join(errors))
    result = Result(backend, max_holders, workers, rounds, seconds=time.monotonic() - started - 3)
    result.held = sum(report["held"] for report in reports)
    result.refused = sum(report["refused"] for report in reports)
    result.lost = sum(report["lost"] for report in reports)
    result.conflicts = sum(report["conflicts"] for report in reports)
    intervals = [tuple(interval) for report in reports for interval in report["intervals"]]
    result.overlap = max_overlap(intervals)  # type: ignore[arg-type]
    return result


def close(result: Result, watcher: Watcher) -> Result:
    """After the workers (and anything else holding the lock) are done: the watcher's figures into the result."""
    watcher.finish()
    if watcher.error is not None:
        raise RuntimeError(f"the lock watcher failed: {watcher.error}")
    result.versions = watcher.events
    result.histogram = dict(watcher.histogram)
    return result
