# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role nodepatch.kube.aks_certificates and playbooks/aks_certificates.yml against the ARM emulator; the reboot lock
part also against the test bed's API server (the `testbed` fixture)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PLAYBOOK = "playbooks/aks_certificates.yml"
ANNOTATION = "weave.works/kured-node-lock"
CLUSTERS = [{"resource_group": "rg-certs", "name": "aks-2019"}, {"resource_group": "rg-certs", "name": "aks-recent"}]


def recap_changed(stdout: str) -> int:
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", stdout)
    assert match, stdout
    return int(match.group(1))


def rotations(emulator: Any) -> list[str]:
    return [w["path"].rsplit("/", 2)[1] for w in emulator.writes() if w["path"].endswith("/rotateClusterCertificates")]


@pytest.fixture
def play(run_playbook: Any, emulator: Any, auth: dict[str, str], azure_env: dict[str, str], seeds: Any,
         tmp_path: Path) -> Any:
    """play(**vars) → (process, output, report rows); asserts no secret of Azure or of the credentials leaked."""

    def run(check: bool = False, **extra: Any) -> tuple[Any, str, list[dict[str, Any]]]:
        report = tmp_path / f"report-{time.monotonic_ns()}.json"
        variables = {"aks_certificates_auth": auth, "aks_certificates_clusters": CLUSTERS,
                     "aks_certificates_report_file": str(report), **extra}
        proc = run_playbook(PLAYBOOK, variables, env=azure_env, args=("--check",) if check else ())
        out = proc.stdout + proc.stderr
        assert seeds.CLIENT_SECRET not in out
        secrets = emulator.certificate_secrets()
        assert secrets and not [s for s in secrets if s in out], "a key or token of the credentials leaked"
        rows = json.loads(report.read_text()) if report.exists() else []
        return proc, out, rows

    return run


def test_report_lists_both_clusters_and_outside_the_window_nothing_is_rotated(play: Any, emulator: Any) -> None:
    today = time.strftime("%a", time.gmtime()).lower()[:2]
    other_days = [d for d in ("su", "mo", "tu", "we", "th", "fr", "sa") if d != today]
    proc, out, rows = play(aks_certificates_rotate=True, aks_certificates_reboot_days=other_days)
    assert proc.returncode == 0, out
    assert re.search(r"CLUSTER\s+CA EXPIRES\s+CLIENT EXPIRES\s+DAYS LEFT\s+ACTION\s+STATUS", out)
    assert re.search(r"rg-certs/aks-2019\s+\d{4}-\d\d-\d\dT\S+Z\s+\S+Z\s+(19|20)\s+rotate\s+blocked", out)
    assert re.search(r"rg-certs/aks-recent\s+2054-02-22T08:00:00Z\s+2054-02-22T08:00:00Z\s+\d+\s+none\s+ok", out)
    by_cluster = {row["cluster"]: row for row in rows}
    old = by_cluster["rg-certs/aks-2019"]
    assert old["status"] == "blocked" and old["due"] and "outside the reboot window" in old["error"]
    assert by_cluster["rg-certs/aks-recent"]["action"] == "none"
    assert emulator.writes() == []


def test_rotation_rotates_the_near_cluster_only_notifies_and_is_idempotent(
        play: Any, emulator: Any, receiver: Any) -> None:
    webhooks = [{"url": receiver.url("/hooks/certs")}]
    proc, out, rows = play(aks_certificates_rotate=True, aks_certificates_notify_webhooks=webhooks)
    assert proc.returncode == 0, out
    assert rotations(emulator) == ["aks-2019"]
    old = next(row for row in rows if row["cluster"] == "rg-certs/aks-2019")
    assert old["action"] == "rotated" and old["status"] == "changed" and int(old["days_left"]) > 10900
    assert old["ca_expires"] > "2056"
    events = [r.body["event"] for r in receiver.requests]
    assert events == ["certificate_rotation_started", "certificate_rotation_finished"]
    assert "rg-certs/aks-2019" in json.dumps(receiver.requests[0].body)

    emulator.requests.clear()
    again, out, _rows = play(aks_certificates_rotate=True, aks_certificates_report_file="")  # a new file is a change
    assert again.returncode == 0, out
    assert recap_changed(again.stdout) == 0 and emulator.writes() == []
    assert re.search(r"rg-certs/aks-2019\s+\S+Z\s+\S+Z\s+\d+\s+none\s+ok", out)


def test_check_mode_rotates_nothing(play: Any, emulator: Any) -> None:
    proc, out, _rows = play(check=True, aks_certificates_rotate=True)
    assert proc.returncode == 0, out
    assert emulator.writes() == []


# ------------------------------------------------------------------------------------------------ the lock


@pytest.fixture
def lock_namespace(testbed: Any) -> Iterator[str]:
    """A fresh namespace with a DaemonSet named kured that selects no node, so the shared lock stays untouched."""
    namespace = testbed.create_namespace("np-certs")
    labels = {"name": "kured"}
    testbed.apps_v1().create_namespaced_daemon_set(namespace, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kured"},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "nodeSelector": {"nodepatch.test/no-such-label": "none"},
            "containers": [{"name": "kured", "image": "ghcr.io/kubereboot/kured:1.17.1"}]}}}})
    try:
        yield namespace
    finally:
        testbed.delete_namespace(namespace)


class LockWatch:
    """Records the lock annotation whenever the emulator shows the cluster rotating."""

    def __init__(self, testbed: Any, emulator: Any, namespace: str) -> None:
        self.testbed, self.emulator, self.namespace = testbed, emulator, namespace
        self.seen_while_rotating: list[str | None] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def value(self) -> str | None:
        ds = self.testbed.apps_v1().read_namespaced_daemon_set("kured", self.namespace)
        return (ds.metadata.annotations or {}).get(ANNOTATION)

    def run(self) -> None:
        while not self.stop.is_set():
            state = self.emulator.cluster_body("rg-certs", "aks-2019")["properties"]["provisioningState"]
            if state == "RotatingClusterCertificates":
                self.seen_while_rotating.append(self.value())
            time.sleep(0.05)

    def __enter__(self) -> LockWatch:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.mark.parametrize(("fail", "places"), [(False, 2), (True, 1)], ids=["rotation_succeeds", "rotation_fails"])
def test_the_reboot_lock_is_held_during_the_rotation_and_released_after(
        play: Any, emulator: Any, testbed: Any, lock_namespace: str, receiver: Any, fail: bool, places: int) -> None:
    emulator.operation_polls = 40  # about two seconds of rotation at the emulator's 50 ms Retry-After
    if fail:
        emulator.fail_next_rotation = "Rotating certificates failed: etcd is unhealthy."
    clusters = [{**CLUSTERS[0], "kubeconfig": testbed.kubeconfig}]
    with LockWatch(testbed, emulator, lock_namespace) as watch:
        proc, out, rows = play(aks_certificates_rotate=True, aks_certificates_clusters=clusters,
                               aks_certificates_lock_namespace=lock_namespace, aks_certificates_lock_max_holders=places,
                               aks_certificates_notify_webhooks=[{"url": receiver.url("/hooks/certs")}])
    assert rotations(emulator) == ["aks-2019"]
    assert watch.seen_while_rotating, "the watch never saw the cluster rotating"
    expected = ["aks-certificate-rotation", "aks-certificate-rotation-2"][:places]
    for value in watch.seen_while_rotating:
        lock = json.loads(value or "{}")
        holders = [entry["nodeID"] for entry in lock["locks"]] if places > 1 else [lock.get("nodeID")]
        assert holders == expected, value
    assert watch.value() in (None, '{"maxOwners":2,"locks":[]}'), f"the lock was not released: {watch.value()}"
    events = [r.body["event"] for r in receiver.requests]
    if fail:
        assert proc.returncode != 0
        assert rows[0]["status"] == "failed" and "etcd is unhealthy" in rows[0]["error"]
        assert events == ["certificate_rotation_started", "certificate_rotation_failed"]
    else:
        assert proc.returncode == 0, out
        assert rows[0]["action"] == "rotated"
        assert events == ["certificate_rotation_started", "certificate_rotation_finished"]
