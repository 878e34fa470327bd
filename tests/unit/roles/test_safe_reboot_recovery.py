# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery table of safe_reboot names every phase its task files set, so renaming a phase fails here
instead of silently changing what a failed reboot undoes."""

from __future__ import annotations

from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "safe_reboot"
UNDO_STEPS = {"uncordon", "release"}  # uncordon clears the marks in the same patch


def phases_set_by_tasks() -> set[str]:
    phases = set()
    for path in (ROLE / "tasks").glob("*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            facts = task.get("ansible.builtin.set_fact") or {}
            if "safe_reboot_phase" in facts:
                phases.add(facts["safe_reboot_phase"])
    return phases


def recovery_table() -> dict[str, list[str]]:
    return yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["safe_reboot_recovery"]


def test_every_phase_the_tasks_enter_inside_the_block_has_a_recovery_entry() -> None:
    # "detect" is set before the guarded block; a failure there never reaches recover.yml.
    assert phases_set_by_tasks() - {"detect"} == set(recovery_table())


def test_the_recovery_table_names_only_known_undo_steps() -> None:
    for phase, steps in recovery_table().items():
        assert set(steps) <= UNDO_STEPS, phase


def test_before_the_reboot_everything_is_undone_and_from_the_reboot_on_nothing() -> None:
    table = recovery_table()
    assert {phase for phase, steps in table.items() if steps} == {"lock", "locked", "drain"}
    assert all(set(table[phase]) == UNDO_STEPS for phase in ("lock", "locked", "drain"))
