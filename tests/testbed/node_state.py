# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The files that make up one simulated node, under <state>/nodes/<node>/.

Standard library only: the shims on a node (tests/testbed/shims) and `testbed reboot` / `testbed sentinel` use it,
and those must start fast.

    run/                   the node's /run (and so /var/run) inside its simulated environment
    run/reboot-required    the sentinel, as Ubuntu writes it after a kernel upgrade (and run/reboot-required.pkgs)
    run/nodepatch-testbed.env   who this node is, for shims that lost their environment (sudo resets it)
    apt/                   the node's apt sources (none), /var/lib/apt and /var/cache/apt, mounted over the
                           machine's; with `testbed updates NODE apt` also its own dpkg database and repository
    packages.jsonl         one line per package-manager call: {"time", "tool", "argv", "installed"}
    systemctl.log          one line per systemctl / reboot / shutdown call
    kernel-running         the kernel the node booted (reported in status.nodeInfo.kernelVersion)
    kernel-available       the newer kernel its package managers would install (`testbed kernel-update`)
    kernel-installed       the kernel a simulated upgrade installed; the next reboot boots it
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

# What the test bed's nodes boot at first; each starts with the next ABI (5.15.0-1052-azure) available.
KERNEL_VERSION = "5.15.0-1051-azure"
# What Ubuntu's update-notifier hook writes after an unattended kernel upgrade.
SENTINEL_TEXT = "*** System restart required ***\n"
IDENTITY_FILE = "nodepatch-testbed.env"


@dataclass(frozen=True)
class NodeState:
    state_dir: Path
    node: str

    @property
    def root(self) -> Path:
        return self.state_dir / "nodes" / self.node

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def sentinel(self) -> Path:
        return self.run_dir / "reboot-required"

    @property
    def sentinel_pkgs(self) -> Path:
        return self.run_dir / "reboot-required.pkgs"

    @property
    def identity(self) -> Path:
        return self.run_dir / IDENTITY_FILE

    @property
    def package_log(self) -> Path:
        return self.root / "packages.jsonl"

    @property
    def systemctl_log(self) -> Path:
        return self.root / "systemctl.log"

    def kernel_file(self, which: str) -> Path:
        return self.root / f"kernel-{which}"

    def kernel(self, which: str) -> str | None:
        """The `running`, `available` or `installed` kernel, None when there is none."""
        try:
            return self.kernel_file(which).read_text().strip() or None
        except FileNotFoundError:
            return None

    def newest_kernel(self) -> str:
        return self.kernel("installed") or self.kernel("running") or KERNEL_VERSION

    def pending_kernel(self) -> str | None:
        """The kernel an upgrade would install now, if any."""
        available = self.kernel("available")
        return available if available and available != self.newest_kernel() else None

    def offer_kernel(self) -> str:
        """Publishes the next kernel ABI after the newest one this node has, for its package managers."""
        version = next_kernel(self.newest_kernel())
        self.kernel_file("available").write_text(version + "\n")
        return version

    def withdraw_kernel(self) -> None:
        self.kernel_file("available").unlink(missing_ok=True)

    def install_kernel(self) -> list[str]:
        """A kernel upgrade as Ubuntu does it: the sentinel and its package list; the next boot runs it."""
        version = self.pending_kernel()
        if version is None:
            return []
        self.kernel_file("installed").write_text(version + "\n")
        packages = kernel_packages(version)
        self.write_sentinel(packages)
        return packages

    def boot(self) -> str | None:
        """The kernel this boot runs (the installed one if any); None for a node the test bed did not create."""
        if self.kernel("running") is None:
            return None
        version = self.newest_kernel()
        self.kernel_file("running").write_text(version + "\n")
        self.kernel_file("installed").unlink(missing_ok=True)
        return version

    def write_sentinel(self, packages: list[str] | None = None) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.sentinel.write_text(SENTINEL_TEXT)
        listed = packages or kernel_packages(self.pending_kernel() or next_kernel(self.newest_kernel()))
        self.sentinel_pkgs.write_text("".join(f"{name}\n" for name in listed))

    def clear_sentinel(self) -> None:
        self.sentinel.unlink(missing_ok=True)
        self.sentinel_pkgs.unlink(missing_ok=True)

    def record(self, tool: str, argv: list[str], installed: list[str]) -> None:
        line = json.dumps({"time": time.time(), "tool": tool, "argv": argv, "installed": installed})
        with self.package_log.open("a") as log:
            log.write(line + "\n")

    def prepare(self, testbed_home: Path, python: str) -> None:
        """A fresh node: an empty /run holding only the identity file the shims fall back on."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.clear_sentinel()
        for sub in ("sources.list.d", "lib/lists/partial", "cache/archives/partial"):
            (self.root / "apt" / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "apt" / "sources.list").touch()
        self.kernel_file("running").write_text(KERNEL_VERSION + "\n")
        self.offer_kernel()
        self.identity.write_text("".join(f"{key}={value}\n" for key, value in self.env(testbed_home, python).items()))

    def env(self, testbed_home: Path, python: str) -> dict[str, str]:
        """The variables by which a shim knows its node (values without spaces or quotes: sourced by sh)."""
        return {
            "NODEPATCH_TESTBED_NODE": self.node,
            "NODEPATCH_TESTBED_DIR": str(self.state_dir),
            "NODEPATCH_TESTBED_HOME": str(testbed_home),
            "NODEPATCH_TESTBED_PYTHON": python,
        }


def next_kernel(version: str) -> str:
    """5.15.0-1051-azure -> 5.15.0-1052-azure: the next ABI of the same flavour."""
    match = re.fullmatch(r"(\d+\.\d+\.\d+-)(\d+)(.*)", version)
    if not match:
        return version + ".1"
    return f"{match[1]}{int(match[2]) + 1}{match[3]}"


def kernel_packages(version: str) -> list[str]:
    return [f"linux-image-{version}", "linux-base"]


def from_environment() -> NodeState:
    """The node a shim runs for: its environment, else the identity file in the node's own /run."""
    env = dict(os.environ)
    if not env.get("NODEPATCH_TESTBED_NODE"):
        identity = Path("/run") / IDENTITY_FILE
        if not identity.exists():
            raise SystemExit("nodepatch test bed: this command runs outside a simulated node; refusing")
        for line in identity.read_text().splitlines():
            key, value = line.split("=", 1)
            env[key] = value
    return NodeState(Path(env["NODEPATCH_TESTBED_DIR"]), env["NODEPATCH_TESTBED_NODE"])
