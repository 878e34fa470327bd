# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real kured processes as peers in the integration tests and benchmarks/lock.py, through `tests/testbed/testbed kured`
(kured.py).

kured's first lock check comes 30-90 s after each start (a one-minute ticker with a random start, whatever
--period is) and after each simulated reboot, since its supervisor restarts it then. So the session shares a
few long-lived peers, each in a lock group of its own (its own lock DaemonSet, never kube-system/kured, which the
roll-out suites use), started as early as the session allows (conftest.py) and stopped after the last test
that uses them: a peer reboots its node whenever that node's sentinel is on, so no other suite may run beside
it.

| group | node | kured flags | used by |
|---|---|---|---|
| single | nodes[3] | --concurrency=1, lock kured-peer-single/kured | contention (max_holders 1), interop single, mixed roll-out at concurrency 1 |
| multi3 | nodes[4] | --concurrency=3, lock kured-peer-multi3/kured | contention (max_holders 3), interop multi |
| multi2 | nodes[4] | --concurrency=2, lock kured-peer-multi2/kured | mixed roll-out at concurrency 2 (restarted from multi3 after the contention test) |
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TESTBED_CLI = REPO / "tests" / "testbed" / "testbed"
NO_KURED = 3  # `testbed kured start` exit code: no kured binary and no source to build one from
REFUSED = "Lock already held"  # kured's log line when it asked for a place and found the lock full


@dataclass(frozen=True)
class Group:
    name: str
    node_index: int
    concurrency: int

    @property
    def namespace(self) -> str:
        return f"kured-peer-{self.name}"

    def flags(self) -> list[str]:
        # --annotate-nodes: kured marks the node it reboots as we do, which the roll-out watchers count.
        return [f"--concurrency={self.concurrency}", f"--ds-namespace={self.namespace}", "--ds-name=kured",
                "--period=3s", "--annotate-nodes"]


SINGLE = Group("single", 3, 1)
MULTI3 = Group("multi3", 4, 3)
MULTI2 = Group("multi2", 4, 2)
GROUPS = {group.name: group for group in (SINGLE, MULTI3, MULTI2)}


class KuredUnavailable(Exception):
    """No kured to run (no NODEPATCH_KURED_BIN / NODEPATCH_KURED_SRC here, and `go install` refused)."""


class KuredPeers:
    """The session's kured peers: start them in their groups, wait until they run, read their logs."""

    def __init__(self, state_dir: Path, nodes: list[str]) -> None:
        self.state_dir = state_dir
        self.nodes = nodes
        self.error: str | None = None  # why there is no peer: no kured binary (skip), or a failure (fail)
        self.broken = False

    def _cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(TESTBED_CLI), "kured", *args], text=True, capture_output=True, check=False,
                              env={**os.environ, "NODEPATCH_TESTBED_DIR": str(self.state_dir)})
        if proc.returncode == NO_KURED:
            raise KuredUnavailable(proc.stderr.strip())
        if check and proc.returncode != 0:
            raise RuntimeError(f"testbed kured {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def node(self, group: Group) -> str:
        return self.nodes[group.node_index]

    def states(self) -> dict[str, dict[str, Any]]:
        return dict(json.loads(self._cli("status", "--json").stdout))

    def state(self, node: str) -> dict[str, Any]:
        return self.states().get(node, {})

    def start(self, node: str, flags: list[str], reboot_delay: float = 3.0, env: dict[str, str] | None = None) -> None:
        settings = [f"--env={name}={value}" for name, value in (env or {}).items()]
        self._cli("start", node, "--reboot-delay", str(reboot_delay), *settings, "--", *flags)

    def ensure(self, *groups: Group) -> None:
        """Starts each group's peer unless it already runs with the group's flags (a restart costs 30-90 s)."""
        states = self.states()
        for group in groups:
            state = states.get(self.node(group), {})
            if state.get("phase") in (None, "stopped", "crashed") or state.get("lock") != f"{group.namespace}/kured":
                self.start(self.node(group), group.flags())

    def prepare(self, plan: list[tuple[str, ...]]) -> None:
        """Starts, on each node, the group the next tests in `plan` (group names per test, in order) need first.
        Records what went wrong instead of raising: the tests that need the peers report it."""
        first: dict[int, Group] = {}
        for names in plan:
            for name in names:
                first.setdefault(GROUPS[name].node_index, GROUPS[name])
        try:
            self.ensure(*first.values())
        except KuredUnavailable as error:
            self.error = str(error)
        except RuntimeError as error:
            self.error, self.broken = str(error), True

    def stop(self, *nodes: str) -> None:
        self._cli("stop", *nodes, check=False)

    def wait_ready(self, nodes: list[str], timeout: float = 150) -> dict[str, float]:
        """Until every peer has left kured's start-up loop (its first sentinel check); returns when, per node."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            pending = [node for node in nodes if states.get(node, {}).get("phase") != "ready"]
            if not pending:
                return {node: float(states[node]["ready_at"]) for node in nodes}
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {node} ({states.get(node, {}).get('phase')}) ---\n{self.tail(node)}"
                                  for node in pending)
                raise AssertionError(f"kured peers not running their period after {timeout:.0f} s:\n{tails}")
            time.sleep(0.5)

    def log(self, node: str) -> Path:
        return self.state_dir / "logs" / f"kured-{node}.log"

    def offset(self, node: str) -> int:
        path = self.log(node)
        return path.stat().st_size if path.exists() else 0

    def since(self, node: str, offset: int) -> str:
        with self.log(node).open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def tail(self, node: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.log(node).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def refusals(self, node: str, offset: int) -> int:
        """How often kured found the lock full since `offset` of its log."""
        return self.since(node, offset).count(REFUSED)

    def wait_log(self, node: str, pattern: str, offset: int, timeout: float, count: int = 1) -> list[str]:
        """Waits until kured's log has `count` lines matching `pattern` after `offset`; returns them."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.since(node, offset).splitlines() if regex.search(line)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"kured on {node} did not log /{pattern}/ {count}x within {timeout:.0f} s:\n"
                                     f"{self.since(node, offset)[-3000:]}")
            time.sleep(0.2)


def require_kured(peers: KuredPeers, groups: tuple[str, ...], optional: bool = False) -> KuredPeers | None:
    """The peers of these groups, running their period. Without kured: skips, or returns None if `optional`;
    under CI=true it fails either way."""
    import pytest  # here, not at the top: benchmarks/lock.py runs KuredPeers without pytest

    if peers.error is None:
        try:
            peers.ensure(*(GROUPS[name] for name in groups))
        except KuredUnavailable as error:
            peers.error = str(error)
    if peers.error is not None:
        message = f"no kured peer: {peers.error}"
        if peers.broken:
            pytest.fail(message)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: the kured tests must run; give NODEPATCH_KURED_SRC or NODEPATCH_KURED_BIN, or ../shared/kured beside the clone)")
        if optional:
            return None
        pytest.skip(message)
    peers.wait_ready([peers.node(GROUPS[name]) for name in groups])
    return peers
