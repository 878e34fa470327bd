# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every version of one node the API server stores while a block runs, from a watch (nothing sampled): what a test
reads to say "in every version while it was down" or "never in one version without the other"."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed


@dataclass(frozen=True)
class NodeVersion:
    ready: bool
    unschedulable: bool
    annotations: dict[str, str]
    labels: dict[str, str]


class NodeVersions:
    def __init__(self, bed: Testbed, node: str) -> None:
        self.bed, self.node = bed, node
        self.versions: list[NodeVersion] = []
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from kubernetes import watch

        core = self.bed.core_v1()
        listed = core.list_node(field_selector=f"metadata.name={self.node}")
        self._record(listed.items[0])
        version = listed.metadata.resource_version
        self._started.set()
        while not self._stop.is_set():
            stream = watch.Watch()
            for event in stream.stream(core.list_node, field_selector=f"metadata.name={self.node}",
                                       resource_version=version, timeout_seconds=1):
                self._record(event["object"])
                version = event["object"].metadata.resource_version

    def _record(self, node: Any) -> None:
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        self.versions.append(NodeVersion(ready, bool(node.spec.unschedulable), dict(node.metadata.annotations or {}),
                                         dict(node.metadata.labels or {})))

    def values(self, annotation: str, ready: bool | None = None) -> list[str | None]:
        """The annotation's value in each version (of the Ready ones, or of the others, when asked)."""
        return [version.annotations.get(annotation) for version in self.versions
                if ready is None or version.ready == ready]

    def __enter__(self) -> NodeVersions:
        self._thread.start()
        assert self._started.wait(30), "the watch on the node did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)
