# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Contention on the kured-compatible lock: 8 processes acquire and release it 200 rounds each, with max_holders 1
and then 3, while a watch on the DaemonSet counts the holders in every version of the annotation. The count never
exceeds the limit. The workers call the collection's module_utils directly (the same code node_lock runs), with
the least-privilege kubeconfig: 3200 acquisitions through ansible-playbook would take far longer on two cores.

The watcher parses kured's JSON on its own (not with the collection's parser), so it is an independent judge.

A real kured joins the mix (tests/integration/kured_peers.py): kured --concurrency=1 with max_holders 1, kured
--concurrency=3 with max_holders 3, on the kured peer group's own lock. Its node needs a reboot from the start, so
it asks for the lock every 3 s (its --period) until it gets a place, holds it through its drain, reboot and restart
(30-90 s, kured's start-up ticker), then releases it; the watcher counts its entry like any other. Without a kured
binary the workers contend alone and the test says so (under CI=true it fails instead).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from contention import ANNOTATION, WORKER, count_holders, max_overlap
from kured_peers import GROUPS, KuredPeers, require_kured

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

WORKERS = int(os.environ.get("NODEPATCH_CONTENTION_WORKERS", "8"))
ROUNDS = int(os.environ.get("NODEPATCH_CONTENTION_ROUNDS", "200"))


class Watcher(threading.Thread):
    """Follows every version of the DaemonSet (re-watching from the last resourceVersion) and counts holders."""

    def __init__(self, testbed: Testbed, namespace: str, resource_version: str, kured: str | None = None) -> None:
        super().__init__(daemon=True)
        self.testbed = testbed
        self.namespace = namespace
        self.resource_version = resource_version
        self.histogram: collections.Counter[int] = collections.Counter()
        self.events = 0
        self.kured = kured
        self.kured_held: list[float] = []  # when a version first showed kured holding, and when it stopped
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        apps = self.testbed.apps_v1()
        seen = self.resource_version  # the DaemonSet's own version as last seen
        try:
            while not self.done.is_set():
                stream = watch.Watch()
                try:
                    for event in stream.stream(apps.list_namespaced_daemon_set, self.namespace,
                                               field_selector="metadata.name=kured",
                                               resource_version=self.resource_version, timeout_seconds=5):
                        obj = event["object"]
                        self.resource_version = seen = obj.metadata.resource_version
                        self.events += 1
                        raw = (obj.metadata.annotations or {}).get(ANNOTATION)
                        self.histogram[count_holders(raw)] += 1
                        if self.kured and (self.kured in (raw or "")) != (len(self.kured_held) % 2 == 1):
                            self.kured_held.append(time.time())
                        if self.done.is_set():
                            break
                except ApiException as error:
                    # 410: the version we watch from was compacted away while the DaemonSet stood still (kured
                    # rebooting). Nothing was missed if the object is still at the version last seen.
                    listed = apps.list_namespaced_daemon_set(self.namespace, field_selector="metadata.name=kured")
                    if error.status != 410 or listed.items[0].metadata.resource_version != seen:
                        raise
                    self.resource_version = listed.metadata.resource_version
                stream.stop()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def finish(self, expected_version: str) -> None:
        deadline = time.monotonic() + 30
        while int(self.resource_version) < int(expected_version) and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.1)
        self.done.set()
        self.join(10)


@dataclass
class Contention:
    namespace: str
    peers: KuredPeers | None = None
    kured: str | None = None


@pytest.fixture
def contention(testbed: Testbed, kured_session: KuredPeers, request: pytest.FixtureRequest) -> Iterator[Contention]:
    """The lock to fight over: the kured peer group's (kured beside the workers), or without kured a fresh one."""
    marker = request.node.get_closest_marker("kured")
    group = GROUPS[marker.args[0]]
    peers = require_kured(kured_session, tuple(marker.args), optional=True)
    if peers is not None:
        kured = peers.node(group)
        testbed.sentinel(kured, on=False)
        testbed.apps_v1().patch_namespaced_daemon_set("kured", group.namespace,
                                                      {"metadata": {"annotations": {ANNOTATION: None}}})
        try:
            yield Contention(group.namespace, peers, kured)
        finally:
            testbed.sentinel(kured, on=False)
        return
    name = testbed.create_namespace("np-contention")
    labels = {"name": "kured"}
    testbed.apps_v1().create_namespaced_daemon_set(name, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kured"},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "nodeSelector": {"nodepatch.test/no-such-label": "none"},
            "containers": [{"name": "kured", "image": "ghcr.io/kubereboot/kured:1.17.1"}]}}}})
    try:
        yield Contention(name)
    finally:
        testbed.delete_namespace(name)


@pytest.mark.parametrize("max_holders", [pytest.param(1, marks=pytest.mark.kured("single")),
                                         pytest.param(3, marks=pytest.mark.kured("multi3"))])
def test_holders_never_exceed_the_limit_under_contention(testbed: Testbed, contention: Contention, max_holders: int,
                                                         collections_root: Path) -> None:
    apps = testbed.apps_v1()
    namespace, kured = contention.namespace, contention.kured
    watcher = Watcher(testbed, namespace, apps.read_namespaced_daemon_set("kured", namespace).metadata.resource_version,
                      kured)
    watcher.start()
    if kured is not None:
        assert contention.peers is not None
        boot_before, log_offset = testbed.boot_id(kured), contention.peers.offset(kured)
        testbed.sentinel(kured)
    start_at = time.time() + 3  # every worker has imported the client by then, so they really start together
    env = {**os.environ, "PYTHONPATH": str(collections_root)}
    started = time.monotonic()
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, testbed.kubeconfig, "daemonset", namespace, "unused",
                                 f"worker-{index}", str(max_holders), str(ROUNDS), str(start_at)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for index in range(WORKERS)]
    reports = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=1800)
        assert worker.returncode == 0, stderr
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    elapsed = time.monotonic() - started - 3
    workers_done = time.time()
    if kured is not None:
        # kured gives its place back only after its reboot, once its restarted process has ticked.
        testbed.wait_until(lambda: testbed.boot_id(kured) != boot_before and kured not in (
            (apps.read_namespaced_daemon_set("kured", namespace).metadata.annotations or {}).get(ANNOTATION) or ""),
            300, f"kured on {kured} to reboot and release the lock")
    final = apps.read_namespaced_daemon_set("kured", namespace).metadata
    watcher.finish(final.resource_version)
    assert watcher.error is None, watcher.error

    intervals = [tuple(interval) for report in reports for interval in report["intervals"]]
    overlap = max_overlap(intervals)  # type: ignore[arg-type]
    held = sum(report["held"] for report in reports)
    conflicts = sum(report["conflicts"] for report in reports)
    print(f"\nmax_holders={max_holders}: {WORKERS} workers x {ROUNDS} rounds = {held} acquisitions in {elapsed:.1f} s;"
          f" {conflicts} write conflicts (409, re-read and retried); {watcher.events} DaemonSet versions watched;"
          f" holders seen per version: {dict(sorted(watcher.histogram.items()))}; max seen {max(watcher.histogram)};"
          f" max overlap of client-side holding intervals {overlap}")
    if kured is None:
        print("kured: not in the mix (no kured binary; see docs/testbed.md)")
    else:
        assert contention.peers is not None
        refused = contention.peers.refusals(kured, log_offset)
        spans = watcher.kured_held
        print(f"kured on {kured}: asked every 3 s, refused {refused}x, got a place "
              f"{spans[0] - start_at:.1f} s after the workers started and held it {spans[1] - spans[0]:.1f} s "
              f"(drain, reboot, restart)" if len(spans) >= 2 else f"kured on {kured}: holding times {spans}")
        # kured competed with the workers (it got its place before they were done), once, and gave it back.
        assert len(spans) == 2 and spans[0] < workers_done, spans

    assert held == WORKERS * ROUNDS and all(report["refused"] == 0 for report in reports)
    assert sum(report["lost"] for report in reports) == 0, "a release found its entry gone"
    assert max(watcher.histogram) <= max_holders, watcher.histogram
    assert overlap <= max_holders
    # Every acquisition and every release is one write, and the watch saw each version.
    assert watcher.events >= 2 * held
    if max_holders > 1:
        assert max(watcher.histogram) > 1, "the workers never held the lock together: no contention was tested"
    assert not (final.annotations or {}).get(ANNOTATION) or count_holders(final.annotations[ANNOTATION]) == 0
