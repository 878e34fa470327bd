# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nodepatch.kube.plugins.module_utils.metadata import (
    option_problems,
    plan_patch,
    stringify,
    wanted_changes,
)


def test_values_become_the_strings_kubernetes_stores() -> None:
    assert stringify({"a": True, "b": False, "c": 3, "d": None, "e": "x"}) == {
        "a": "true", "b": "false", "c": "3", "d": None, "e": "x"}


def test_only_differing_keys_are_patched_and_null_removes_only_what_exists() -> None:
    current = {"keep": "1", "change": "old", "drop": "x"}
    wanted = {"keep": "1", "change": "new", "drop": None, "absent": None}
    assert wanted_changes(current, wanted) == {"change": "new", "drop": None}


def test_nothing_to_patch_when_everything_matches() -> None:
    assert wanted_changes({"a": "1"}, {"a": "1", "gone": None}) == {}


KEY = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
MARK = "nodepatch.kube/scale-down-disabled-before"


def test_held_and_plain_annotations_go_into_one_patch() -> None:
    current = {"annotations": {"in-progress": "old"}, "labels": {}}
    wanted = {"annotations": {"in-progress": "now"}, "labels": {"l": "1"}}
    assert plan_patch(current, wanted, {KEY: "true"}, []) == {
        "annotations": {"in-progress": "now", KEY: "true", MARK: "null"}, "labels": {"l": "1"}}


def test_a_restore_with_nothing_of_ours_on_the_node_patches_nothing() -> None:
    current = {"annotations": {KEY: "false"}, "labels": {}}
    assert plan_patch(current, {"annotations": {}, "labels": {}}, {}, [KEY]) == {}


def test_options_that_would_fight_over_an_annotation_are_refused() -> None:
    assert option_problems({}, {KEY: "true"}, []) == []
    both = option_problems({}, {KEY: "true"}, [KEY])
    assert len(both) == 1 and "both name" in both[0]
    plain = option_problems({MARK: None}, {KEY: "true"}, [])
    assert len(plain) == 1 and MARK in plain[0] and "one option only" in plain[0]
    shared = option_problems({}, {KEY: "true", "other.io/scale-down-disabled": "true"}, [])
    assert len(shared) == 1 and f"share the mark {MARK}" in shared[0]
    nulls = option_problems({}, {KEY: None}, [])
    assert len(nulls) == 1 and "needs a value" in nulls[0]
    own = option_problems({}, {}, ["nodepatch.kube/boot-id-before"])
    assert len(own) == 1 and own[0].startswith("restored_annotations: nodepatch.kube/boot-id-before cannot be restored")
