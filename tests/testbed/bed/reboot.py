# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulated reboot of a node: NotReady, sentinel gone, then a new boot id and Ready (standard library only).

Roles use `testbed reboot NODE` as their reboot command, so this path stays light: state, api and node_state.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from node_state import NodeState

from bed.api import Api
from bed.kwok import REBOOTING_ANNOTATION
from bed.procs import pid_alive
from bed.state import HERE, PATHS, TestbedError, log, now_rfc3339


def ready_condition(status: str, reason: str, message: str) -> dict[str, str]:
    now = now_rfc3339()
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now}


def go_down(api: Api, nodes: list[str], node: str, delay: float, wait: bool) -> None:
    """Takes the node down; it comes back after `delay` (in the foreground with `wait`, else detached)."""
    path = f"/api/v1/nodes/{node}"
    if api.request("GET", path)[0] == 404:
        raise TestbedError(f"no node {node}; nodes: {', '.join(nodes)}")
    # A reboot already in flight for this node is superseded by this one.
    pid_file = PATHS.reboots / f"{node}.pid"
    if pid_file.exists():
        try:
            old = int(pid_file.read_text())
            if pid_alive(old):
                os.killpg(old, signal.SIGTERM)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
        pid_file.unlink(missing_ok=True)
    # Going down: first tell kwok to keep its hands off (annotation), then report NotReady like a kubelet
    # that stopped; the sentinel goes with the old boot (/var/run is a tmpfs).
    api.merge_patch(path, {"metadata": {"annotations": {REBOOTING_ANNOTATION: now_rfc3339()}}})
    api.strategic_patch(f"{path}/status", {"status": {"conditions": [
        ready_condition("False", "KubeletNotReady", "node is rebooting (nodepatch test bed)")]}})
    NodeState(PATHS.root, node).clear_sentinel()
    log(f"{node}: rebooting, back in {delay:g} s")
    if wait:
        time.sleep(delay)
        come_back(api, node)
        return
    PATHS.reboots.mkdir(parents=True, exist_ok=True)
    with PATHS.component_log("reboots").open("ab") as logfile:
        proc = subprocess.Popen([sys.executable, str(HERE / "testbed.py"), "_come-back", node, "--delay", str(delay)],
                                stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    pid_file.write_text(str(proc.pid))


def come_back(api: Api, node: str) -> str:
    """The node has booted: a new boot id and Ready, reported first, then kwok may manage it again."""
    boot_id = str(uuid.uuid4())
    path = f"/api/v1/nodes/{node}"
    node_info = {"bootID": boot_id}
    kernel = NodeState(PATHS.root, node).boot()  # a kernel installed by a simulated upgrade runs from now on
    if kernel:
        node_info["kernelVersion"] = kernel
    api.strategic_patch(f"{path}/status", {"status": {
        "nodeInfo": node_info,
        "conditions": [ready_condition("True", "KubeletReady", "kubelet is posting ready status")]}})
    api.merge_patch(path, {"metadata": {"annotations": {REBOOTING_ANNOTATION: None}}})
    log(f"{node}: back, boot id {boot_id}")
    return boot_id
