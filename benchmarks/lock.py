# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reboot lock under contention at scale: worker processes acquire and release it in a loop on both backends
(the kured-compatible DaemonSet annotation and the Lease slots), each at max_holders 1 and 3, while an independent
watch counts the holders in every version of the lock (tests/integration/contention.py, which the suite's
contention test runs at a smaller count, beside real kured processes). Prints rounds, conflicts retried, lost
entries and the most holders ever seen; `benchmarks/run.sh --only lock` (default 10,400 rounds in all)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

from common import REPO, Testbed, log, table

sys.path.insert(0, str(REPO / "tests" / "integration"))
from contention import Result, Watcher, close, contend  # noqa: E402

PLAN = [("daemonset", 1), ("daemonset", 3), ("lease", 1), ("lease", 3)]


class LockBench:
    def __init__(self, testbed: Testbed, collections_root: Path) -> None:
        self.testbed = testbed
        self.collections_root = collections_root

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

    def run(self, workers: int, rounds: int) -> dict[str, Any]:
        from kubernetes import client

        api = self.testbed.client()
        results: list[Result] = []
        for backend, max_holders in PLAN:
            namespace = self._namespace(api)
            try:
                watcher = Watcher(api, backend, namespace, lease_name="np-bench")
                result = close(contend(self.testbed.info["kubeconfig"], self.collections_root, backend, namespace,
                                       max_holders, workers, rounds, watcher, lease_name="np-bench"), watcher)
            finally:
                client.CoreV1Api(api).delete_namespace(namespace)
            log(result.line())
            results.append(result)
        rows = [result.as_dict() for result in results]
        return {"workers": workers, "rounds_per_worker": rounds, "rows": rows,
                "total_rounds": sum(row["rounds"] for row in rows),
                "total_conflicts": sum(row["conflicts"] for row in rows),
                "total_lost": sum(row["lost"] for row in rows),
                "sound": all(result.max_seen <= result.max_holders and result.overlap <= result.max_holders
                             and result.lost == 0 and result.refused == 0 for result in results)}


def render(result: dict[str, Any]) -> str:
    rows = [[row["backend"], row["max_holders"], row["rounds"], row["conflicts"], row["lost"], row["max_holders_seen"],
             row["max_overlap"], row["versions_watched"], row["seconds"]] for row in result["rows"]]
    text = table(["backend", "max holders", "rounds", "conflicts retried", "lost entries", "max holders seen",
                  "max overlap", "lock versions watched", "seconds"], rows)
    text += (f"\n\n{result['workers']} worker processes per line; {result['total_rounds']} acquire/release rounds in "
             f"all, {result['total_conflicts']} write conflicts retried, {result['total_lost']} entries lost; "
             f"never more holders than allowed: {'yes' if result['sound'] else 'NO'}.")
    return text
