# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A realistic roll-out as the safe_reboot role records it: five nodes, three rebooted one at a time (lock
holders queue behind each other), one blocked by a firing alert, one that needed nothing."""

from __future__ import annotations

from typing import Any

T0 = 1732320000.0  # 2024-11-23 00:00:00 UTC


def rebooted(node: str, offset: float, lock_wait: float, drain: float, down: float, pods: int) -> dict[str, Any]:
    started = T0 + offset
    lock_requested = started + 2.1
    lock_acquired = lock_requested + lock_wait
    drain_started = lock_acquired + 1.4
    drain_finished = drain_started + drain
    reboot_started = drain_finished + 0.8
    node_ready = reboot_started + down
    uncordoned = node_ready + 1.2
    lock_released = uncordoned + 5.0  # release delay
    return {
        "node": node, "host": node, "needed": True, "reasons": ["sentinel /var/run/reboot-required exists",
                                                                "kernel 5.15.0-1064-azure installed, 5.15.0-1061-azure running"],
        "blocked": False, "blocked_reasons": [], "result": "rebooted", "error": None, "pods_evicted": pods,
        "kernel_before": "5.15.0-1061-azure", "kernel_after": "5.15.0-1064-azure",
        "boot_id_before": f"{node}-boot-1", "boot_id_after": f"{node}-boot-2", "was_unschedulable": False,
        "timeline": {"started": started, "lock_requested": lock_requested, "lock_acquired": lock_acquired,
                     "drain_started": drain_started, "drain_finished": drain_finished, "reboot_started": reboot_started,
                     "node_ready": node_ready, "uncordoned": uncordoned, "lock_released": lock_released,
                     "finished": lock_released + 0.3},
    }


def rollout_records() -> list[dict[str, Any]]:
    first = rebooted("aks-nodepool1-0", 0.0, 0.2, 21.5, 48.0, 9)
    second = rebooted("aks-nodepool1-1", 0.4, first["timeline"]["lock_released"] - T0 - 2.5 + 0.1, 14.0, 55.3, 6)
    third = rebooted("aks-nodepool1-2", 0.8, second["timeline"]["lock_released"] - T0 - 2.9 + 0.1, 33.2, 41.7, 12)
    third["was_unschedulable"] = False
    blocked = {
        "node": "aks-nodepool1-3", "host": "aks-nodepool1-3", "needed": True,
        "reasons": ["sentinel /var/run/reboot-required exists"], "blocked": True,
        "blocked_reasons": ["Prometheus alert firing: KubePodCrashLooping <prod> & \"payments\""],
        "result": "blocked", "error": None, "pods_evicted": 0, "kernel_before": "5.15.0-1061-azure",
        "kernel_after": None, "boot_id_before": "n3-boot-1", "boot_id_after": None, "was_unschedulable": False,
        "timeline": {"started": T0 + 1.2, "finished": T0 + 3.0},
    }
    not_needed = {
        "node": "aks-nodepool1-4", "host": "aks-nodepool1-4", "needed": False, "reasons": [], "blocked": False,
        "blocked_reasons": [], "result": "not-needed", "error": None, "pods_evicted": 0,
        "kernel_before": "5.15.0-1064-azure", "kernel_after": None, "boot_id_before": "n4-boot-1",
        "boot_id_after": None, "was_unschedulable": False, "timeline": {"started": T0 + 1.6, "finished": T0 + 2.4},
    }
    return [first, second, third, blocked, not_needed]
