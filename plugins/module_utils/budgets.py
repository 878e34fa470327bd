# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""When a PodDisruptionBudget refuses an eviction (HTTP 429), the drain asks again. kubectl drain asks again after
a fixed 5 s; the budget usually allows the next disruption sooner, as soon as the evicted pod's replacement is
ready and the disruption controller has updated the budget's status. ``BudgetWatch`` follows the budgets' status
with one watch and wakes the refused evictions of a namespace the moment one of its budgets allows a disruption,
the fixed delay staying the longest wait (for a watch that is refused, or a budget the watch missed)."""

from __future__ import annotations

import threading
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import BUDGETS, KubeClient
from ansible_collections.nodepatch.kube.plugins.module_utils.watch import follow


def allows_disruption(pdb: t.Any) -> bool:
    status = getattr(pdb, "status", None)
    return bool(status is not None and (status.disruptions_allowed or 0) > 0)


class BudgetWatch:
    """Started on the first refusal: a drain that no budget refuses costs no watch."""

    def __init__(self, client: KubeClient, deadline: float) -> None:
        self._client = client
        self._deadline = deadline
        self._changed = threading.Condition()
        # Per namespace, how many times one of its budgets has been seen allowing a disruption.
        self._allowed: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.error: str | None = None  # why the watch ended early; the waits then fall back to the fixed delay

    def wait(self, namespace: str, timeout: float, abort: threading.Event) -> bool:
        """Until a budget in ``namespace`` allows a disruption (news since this call), ``timeout`` seconds pass or
        ``abort`` is set; returns whether ``abort`` is set."""
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._follow, name="pdb-watch", daemon=True)
                self._thread.start()
            seen = self._allowed.get(namespace, 0)
            self._changed.wait_for(lambda: abort.is_set() or self._allowed.get(namespace, 0) != seen, timeout)
        return abort.is_set()

    def wake(self) -> None:
        """Wake every waiter now (to see an abort)."""
        with self._changed:
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def _record(self, pdb: t.Any) -> None:
        if allows_disruption(pdb):
            with self._changed:
                namespace = pdb.metadata.namespace
                self._allowed[namespace] = self._allowed.get(namespace, 0) + 1
                self._changed.notify_all()

    def _follow(self) -> None:
        def on_event(kind: str, pdb: t.Any) -> None:
            if kind != "DELETED":
                self._record(pdb)

        def on_list(items: list[t.Any]) -> None:
            for pdb in items:
                self._record(pdb)  # at worst one early retry, refused again if the status was stale

        try:
            follow(self._client, BUDGETS, "poddisruptionbudgets", "list", "watch", on_list, on_event,
                   lambda: self._stopped, self._deadline)
        except NodepatchError as error:
            self.error = error.message
