# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kwok's stages: the data file kwok-stages.yaml beside this module, given to kwok as it is (`--config`)."""

from __future__ import annotations

from pathlib import Path

from bed.state import PATHS, TestbedError

STAGES = Path(__file__).resolve().parent / "kwok-stages.yaml"
# Annotation that makes the kwok stages leave a node alone while it is "rebooting" (see kwok-stages.yaml):
# without it kwok's node-initialize stage would set Ready=True again within milliseconds.
REBOOTING_ANNOTATION = "nodepatch.testbed/rebooting"


def stages_file() -> Path:
    """kwok's --config, written into the state directory from the data file's items (kwok reads one Stage per
    YAML document); refused if the stages no longer name the annotation the simulated reboot sets."""
    import yaml

    text = STAGES.read_text()
    if f'.metadata.annotations["{REBOOTING_ANNOTATION}"]' not in text:
        raise TestbedError(f"{STAGES} does not select on the annotation {REBOOTING_ANNOTATION} that `testbed reboot` "
                           "sets: kwok would mark a rebooting node Ready at once")
    target = PATHS.root / "kwok-stages.yaml"
    target.write_text(yaml.safe_dump_all(yaml.safe_load(text)["items"], sort_keys=False, width=1000))
    return target
