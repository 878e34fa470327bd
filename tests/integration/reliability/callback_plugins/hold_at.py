# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only callback: tells the test when the play reaches a named task, and holds the play there, so that the
test kills it at a known step instead of after a guessed sleep.

NODEPATCH_HOLD_AT is JSON: {"task": NAME, "event": "task_start" | "runner_start", "hold": bool, "file": PATH}.
- task_start: the strategy is about to run the task (nothing of it has run: the kill lands after the task
  before). Holding blocks the play's main thread, so no further task starts.
- runner_start: a worker runs the task now (its module is running). The callback only signals; the test watches
  the cluster for the state it wants, then kills.
PATH receives {"task", "phase"} where phase is the host's safe_reboot_phase fact at that moment.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: hold_at
type: aggregate
short_description: signals (and holds) the play at a named task, for the interruption tests
description: Test-only; configured through the environment variable NODEPATCH_HOLD_AT.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hold_at"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.want = json.loads(os.environ.get("NODEPATCH_HOLD_AT") or "{}")
        self.done = False

    def _reached(self, task, host_name: str | None, event: str) -> None:
        if self.done or not self.want or task.name != self.want["task"] or event != self.want["event"]:
            return
        self.done = True
        facts = {}
        manager = getattr(task, "_variable_manager", None)
        if manager is not None:
            cache = manager._nonpersistent_fact_cache  # pylint: disable=protected-access
            facts = cache.get(host_name) if host_name else next(iter(cache.values()), {})
        path = self.want["file"]
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"task": task.name, "phase": (facts or {}).get("safe_reboot_phase")}, handle)
        os.replace(path + ".tmp", path)
        while self.want.get("hold"):
            time.sleep(1)  # until the test kills the play

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._reached(task, None, "task_start")

    def v2_runner_on_start(self, host, task) -> None:
        self._reached(task, host.get_name(), "runner_start")
