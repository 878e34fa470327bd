# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reboot plays of playbooks/patch_and_reboot.yml take the candidates in the inventory's order. The check
pass sorts them into a group with group_by, which adds a host as its result arrives: a loaded controller fills
that group out of order, and a play over the group alone would reboot the nodes in that order."""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.nativetypes
import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.filter.core import flatten

PLAYBOOK = Path(__file__).resolve().parents[3] / "playbooks" / "patch_and_reboot.yml"
NODES = [f"node-{index}" for index in range(1, 7)]
CANDIDATES_AS_THEIR_RESULTS_CAME = ["node-5", "node-2", "node-6", "node-1"]


def reboot_plays() -> dict[str, tuple[str, dict[str, str]]]:
    """Each play over the candidates, by name, with its hosts expression and its vars."""
    plays = yaml.safe_load(PLAYBOOK.read_text())
    return {play["name"]: (play["hosts"], play.get("vars", {})) for play in plays
            if "patch_and_reboot_candidates" in play["hosts"]}


@pytest.fixture
def inventory(tmp_path: Path) -> InventoryManager:
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {"bastion": {}}, "children": {
        "nodes": {"hosts": {name: {} for name in NODES}}}}}))
    manager = InventoryManager(loader=DataLoader(), sources=[str(path)])
    manager.add_group("patch_and_reboot_candidates")
    for name in CANDIDATES_AS_THEIR_RESULTS_CAME:
        manager.add_host(name, group="patch_and_reboot_candidates")
    return manager


def hosts_of(inventory: InventoryManager, play: tuple[str, dict[str, str]], **extra_vars: str | list[str]) -> list[str]:
    """The play's hosts as Ansible templates them: natively (they may be a list of patterns), with the play's own
    variables (the one the expression names rendered first, as Ansible would when it is referenced)."""
    expression, play_vars = play
    environment = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)
    environment.filters["flatten"] = flatten
    in_order = environment.from_string(play_vars["patch_and_reboot_candidates_in_order"]).render(extra_vars)
    pattern = environment.from_string(expression).render(
        {**extra_vars, "patch_and_reboot_candidates_in_order": in_order})
    return [host.name for host in inventory.get_hosts(pattern)]


def test_there_is_a_play_over_the_candidates_for_each_mode() -> None:
    assert len(reboot_plays()) == 3


@pytest.mark.parametrize("mode", ["batches", "lock_paced"])
def test_the_candidates_reboot_in_the_inventorys_order(inventory: InventoryManager, mode: str) -> None:
    expected = [name for name in NODES if name in CANDIDATES_AS_THEIR_RESULTS_CAME]
    ran = {name: hosts_of(inventory, play, patch_and_reboot_mode=mode, patch_and_reboot_hosts="nodes")
           for name, play in reboot_plays().items()}
    assert [hosts for hosts in ran.values() if hosts] == [expected] * (1 if mode == "batches" else 2), ran
    assert all(not hosts or hosts == expected for hosts in ran.values()), ran


def test_without_a_targeted_pattern_the_order_is_the_whole_inventorys(inventory: InventoryManager) -> None:
    batches = next(play for name, play in reboot_plays().items() if "one batch" in name)
    assert hosts_of(inventory, batches, patch_and_reboot_mode="batches") == [
        name for name in NODES if name in CANDIDATES_AS_THEIR_RESULTS_CAME]


@pytest.mark.parametrize("targeted", [["node-6", "nodes:!node-5"], "node-6,node-3,node-1,node-2"],
                         ids=["a list", "a comma-separated string"])
def test_targeted_patterns_are_honoured_in_their_order(inventory: InventoryManager, targeted: str | list[str]) -> None:
    batches = next(play for name, play in reboot_plays().items() if "one batch" in name)
    # Each pattern's hosts in turn: node-6 is named first, so it goes first.
    assert hosts_of(inventory, batches, patch_and_reboot_mode="batches",
                    patch_and_reboot_hosts=targeted) == ["node-6", "node-1", "node-2"]
