# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A re-run started at once after a roll-out was killed with its node still down from the reboot command: the
boot id is still the old one, so only the `nodepatch.kube/reboot-requested` mark tells the re-run that the reboot
was sent. It must wait for the node and finish, not send a second reboot.

The run is the interruption cases' (tests/integration/reliability/test_interruptions.py: held at a task by the
test-only callback, SIGKILLed with every process it started) and its checks. The node stays down (the first
run's simulated reboot lasts 600 s) until the re-run waits for it, the callback signalling that its wait task
runs; then the test brings it back. So each of the re-run's looks at the node finds it down with its old boot id.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

from tests.integration.reliability.test_interruptions import Case, Runs, assert_finished_truly

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

WHILE_DOWN = Case("after the reboot command, re-run while the node is down", "reboot",
                  "Record that the node is expected back", watch="down", reboot_delay=600, rerun_at_once=True)


def test_a_rerun_started_while_the_node_is_down_waits_for_it_and_reboots_it_once(
        testbed: Testbed, collections_root: Path, tmp_path: Path) -> None:
    testbed.require_simulated("the case reboots a node")
    outcome = Runs(testbed, collections_root, tmp_path).run(WHILE_DOWN, signal.SIGKILL, testbed.nodes[0], 90)
    print(f"\n{outcome.seconds:.1f} s; the node as the re-run waited for it: {outcome.at_rerun}")
    assert not outcome.error, outcome.error + outcome.rerun_log[-4000:]
    assert outcome.at_rerun == {"waits": True, "ready": False, "boot_id": outcome.boot_before}, \
        f"the re-run did not wait for the node while it was down: {outcome.at_rerun}" + outcome.rerun_log[-4000:]
    assert_finished_truly(outcome)
