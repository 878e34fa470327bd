# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The state directory of one test bed and its description, testbed.json (standard library only)."""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]  # tests/testbed
REPO = HERE.parents[1]
STATE = Path(os.environ.get("NODEPATCH_TESTBED_DIR") or REPO / ".build" / "testbed").resolve()


def log(message: str) -> None:
    print(f"[testbed] {message}", file=sys.stderr, flush=True)


class TestbedError(Exception):
    """A failure with a message meant for the person running the test bed."""


class Paths:
    """Where each part of a test bed keeps its files, under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.info = root / "testbed.json"
        self.pids = root / "pids.json"
        self.logs = root / "logs"
        self.pki = root / "pki"
        self.nodes = root / "nodes"
        self.admin_kubeconfig = root / "admin-kubeconfig.yaml"
        self.kubeconfig = root / "nodepatch-kubeconfig.yaml"
        self.fault_kubeconfig = root / "fault-proxy-kubeconfig.yaml"
        self.inventory = root / "inventory.yml"
        self.prometheus = root / "prometheus"
        self.ssh = root / "ssh"
        self.reboots = root / "reboots"
        self.etcd = root / "etcd"
        self.audit_policy = root / "audit-policy.yaml"
        self.audit_log = root / "logs" / "audit.log"

    def sentinel(self, node: str) -> Path:
        from node_state import NodeState

        return NodeState(self.root, node).sentinel

    def component_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def component_kubeconfig(self, name: str) -> Path:
        return self.root / f"{name}.kubeconfig"


PATHS = Paths(STATE)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_info() -> dict[str, Any]:
    if not PATHS.info.exists():
        raise TestbedError(f"the test bed is not up (no {PATHS.info}); run: tests/testbed/testbed up")
    return dict(read_json(PATHS.info))
