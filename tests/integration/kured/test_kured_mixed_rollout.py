# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Mixed roll-outs: playbooks/patch_and_reboot.yml on some nodes, real kured on another, one lock, every node
needing a reboot at once; a 100 ms watcher counts lock holders and nodes down for a reboot. Also: a node an
administrator cordoned stays cordoned after our roll-out with kured in the loop, and a kured lock held by a node
that was deleted is reported stale and taken over only with break_stale. Scenarios: conftest.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.kured.conftest import Chains

pytestmark = pytest.mark.kured("single", "multi2")


def assert_mixed_rollout_kept_the_limit(facts: dict[str, Any], limit: int) -> None:
    assert facts["rc"] == 0, facts["output"]
    assert facts["watch_error"] is None
    print(f"\nconcurrency {limit}: ours on {len(facts['ours'])} node(s) and kured on 1; max holders "
          f"{facts['max_holders']}, max down for reboot {facts['max_rebooting']}, {facts['samples']} samples; "
          f"kured refused {facts['kured_refused']}x; our roll-out {facts['ours_seconds']} s, all {facts['wall_seconds']} s")
    assert facts["max_holders"] <= limit, facts["transitions"]
    assert facts["max_rebooting"] <= limit, facts["transitions"]
    assert facts["samples"] > 10
    assert facts["rebooted"] == sorted([*facts["ours"], facts["kured"]])
    assert set(facts["rebooting_seen"]) == {*facts["ours"], facts["kured"]}
    # They did compete: kured met the lock full at least once, or our roll-out waited for kured's place.
    assert facts["kured_refused"] > 0 or facts["ours_waited"], facts["kured_log"]
    assert facts["lock_after"] == [] and facts["marked_after"] == []


def test_mixed_rollout_with_kured_at_concurrency_1_never_has_two_nodes_down(chains: Chains) -> None:
    assert_mixed_rollout_kept_the_limit(chains["mixed-1"], 1)


def test_mixed_rollout_with_kured_at_concurrency_2_never_has_three_nodes_down(chains: Chains) -> None:
    facts = chains["mixed-2"]
    assert_mixed_rollout_kept_the_limit(facts, 2)
    assert facts["cordoned_after"] == []


def test_a_node_an_administrator_cordoned_stays_cordoned_after_our_rollout_beside_kured(chains: Chains) -> None:
    facts = chains["mixed-1"]
    admin = facts["ours"][0]
    assert admin in facts["rebooted"]
    # Ours stays cordoned (the administrator's), kured's own node was uncordoned by kured after its reboot.
    assert facts["cordoned_after"] == [admin]


def test_a_kured_lock_held_by_a_deleted_node_is_stale_and_taken_only_with_break_stale(chains: Chains) -> None:
    facts = chains["stale"]
    gone = facts["node"]
    blocked = facts["blocked"]
    assert blocked["acquired"] is False and not blocked["changed"]
    assert [(holder["holder"], holder["stale"]) for holder in blocked["holders"]] == [(gone, True)]
    assert "stale" in blocked["message"] and "break_stale" in blocked["message"]
    assert json.loads(facts["value_blocked"])["nodeID"] == gone, "without break_stale the lock was changed"
    taken = facts["taken"]
    assert taken["acquired"] and taken["changed"] and gone in taken["message"]
    assert json.loads(facts["value_taken"])["nodeID"] != gone
