# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real kured and node_lock share one lock, both ways, in kured's single form (--concurrency=1) and its multi
form (--concurrency=2). The scenarios run in the background (conftest.py); each test judges one of them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.kured.conftest import Chains

pytestmark = pytest.mark.kured("single", "multi2")


def assert_kured_refused_while_we_held(facts: dict[str, Any]) -> None:
    assert all(result["acquired"] for result in facts["taken"]), facts["taken"]
    # Two of kured's periods saw the lock full and named its holders, and it left the node alone.
    assert len(facts["refusals"]) >= 2, facts["log"]
    assert facts["cordoned_while_ours"] is False
    assert facts["boot_while_ours"] == facts["boot_before"]
    assert facts["value_still"] == facts["value_held"], "kured wrote to a lock it did not get"


def assert_kured_rebooted_after_our_release(facts: dict[str, Any]) -> None:
    assert facts["released"]["changed"] and not facts["released"]["acquired"]
    # In the watcher's record our place went first, then kured came.
    assert facts["ours_left"] is not None and facts["kured_came"] is not None
    assert facts["ours_left"] <= facts["kured_came"], facts["transitions"]
    assert facts["boot_after"] != facts["boot_before"], f"kured did not reboot {facts['kured']}"
    assert facts["kured"] in facts["rebooting_seen"]
    assert facts["kured_starts"] >= 2, "kured's pod was not restarted after its reboot"


def assert_we_waited_for_kureds_release(facts: dict[str, Any], limit: int) -> None:
    waited = facts["waited"]
    assert waited["acquired"], waited
    assert facts["kured_released"] is not None, f"kured never released: {facts['transitions']}"
    # node_lock asked while kured held the last place, and got it only after kured released it, after its reboot.
    assert facts["wait_started"] < facts["kured_released"] <= facts["got_at"], facts["transitions"]
    assert facts["watch_error"] is None
    assert facts["max_holders"] <= limit, facts["transitions"]


def test_kured_refuses_our_single_lock_and_reboots_once_we_release_it(chains: Chains) -> None:
    facts = chains["interop-single"]
    assert json.loads(facts["value_held"])["nodeID"] == facts["ours"][0]
    assert facts["refusals"][0].endswith(f'Lock already held: {facts["ours"][0]}"')
    assert_kured_refused_while_we_held(facts)
    assert_kured_rebooted_after_our_release(facts)


def test_node_lock_waits_for_kureds_single_lock_until_kured_releases_it_after_reboot(chains: Chains) -> None:
    facts = chains["interop-single"]
    assert_we_waited_for_kureds_release(facts, 1)
    print(f"\nsingle form: kured took the lock {facts['kured_came'] - facts['ours_left']:.1f} s after our release, "
          f"held it {facts['kured_released'] - facts['kured_came']:.1f} s (reboot + kured's start-up), node_lock got it "
          f"{facts['got_at'] - facts['kured_released']:.1f} s after kured's release")


def test_kured_refuses_our_multi_lock_when_full_and_takes_the_place_we_free(chains: Chains) -> None:
    facts = chains["interop-multi"]
    value = json.loads(facts["value_held"])
    assert value["maxOwners"] == 2 and [entry["nodeID"] for entry in value["locks"]] == facts["ours"]
    assert facts["refusals"][0].endswith('Lock already held: "')  # kured names nobody in its multi form
    assert_kured_refused_while_we_held(facts)
    assert_kured_rebooted_after_our_release(facts)


def test_node_lock_waits_for_a_place_kured_holds_in_the_multi_lock(chains: Chains) -> None:
    facts = chains["interop-multi"]
    assert_we_waited_for_kureds_release(facts, 2)
    # While kured rebooted, the other place stayed ours: two holders, never more.
    assert facts["max_holders"] == 2
