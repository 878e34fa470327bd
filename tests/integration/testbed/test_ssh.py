# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test bed's sshd is a real SSH server; Ansible reaches it through the generated inventory."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

HERE = Path(__file__).resolve().parent


def test_ssh_runs_a_command_with_the_generated_key(testbed: Testbed) -> None:
    ssh = testbed.ssh
    proc = subprocess.run(
        ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={ssh['known_hosts']}",
         "-o", "StrictHostKeyChecking=yes", "-i", ssh["private_key"], "-p", str(ssh["port"]),
         f"{ssh['user']}@{ssh['host']}", "echo nodepatch-over-ssh"],
        capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "nodepatch-over-ssh"


def test_a_playbook_reboots_the_ssh_node_over_ssh_with_the_simulated_reboot(testbed: Testbed, run_playbook: Any) -> None:
    node = testbed.ssh["node"]
    testbed.sentinel(node, on=True)
    before = testbed.boot_id(node)

    proc = run_playbook(HERE / "reboot_over_ssh.yml", inventory=testbed.inventory)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sentinel present: True" in proc.stdout
    testbed.wait_until(lambda: testbed.node_ready(node) and testbed.boot_id(node) != before, 30,
                       f"{node} back with a new boot id")
    assert not testbed.sentinel_path(node).exists()
