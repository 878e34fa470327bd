# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""run_module runs this collection's modules against the test bed's per-node sentinel files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed


def test_reboot_required_follows_the_test_beds_sentinel(testbed: Testbed, run_module: Any) -> None:
    node = testbed.nodes[4]
    args = {"detectors": ["file"], "sentinel_file": str(testbed.sentinel_path(node))}

    testbed.sentinel(node, on=False)
    assert run_module("reboot_required", args)["reboot_required"] is False

    testbed.sentinel(node, on=True)
    result = run_module("reboot_required", args, check=True)
    assert result["reboot_required"] is True
    assert result["changed"] is False

    testbed.reboot(node, delay=1, wait=True)
    assert run_module("reboot_required", args)["reboot_required"] is False
