# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nodepatch.kube.plugins.module_utils.before_marks import (
    annotation_mark,
    hold,
    mark_name_problem,
    restore,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.drain import WAS_UNSCHEDULABLE_MARK

KEY = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
MARK = "nodepatch.kube/scale-down-disabled-before"


def apply(annotations: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """A merge patch of annotations, as the API server applies it."""
    merged = {**annotations, **changes}
    return {key: value for key, value in merged.items() if value is not None}


def test_the_mark_of_an_annotation_is_named_after_it_in_our_prefix() -> None:
    assert annotation_mark(KEY).name == MARK
    assert annotation_mark("plain").name == "nodepatch.kube/plain-before"


def test_holding_an_absent_annotation_records_that_it_was_absent_and_restoring_removes_it() -> None:
    held = apply({}, hold({}, {KEY: "true"}))
    assert held == {KEY: "true", MARK: "null"}
    assert apply(held, restore(held, [KEY])) == {}


def test_an_administrators_value_is_recorded_and_put_back_exactly() -> None:
    for value in ("false", "true", ""):
        node = {KEY: value, "other": "x"}
        held = apply(node, hold(node, {KEY: "true"}))
        assert held[KEY] == "true" and held[MARK] == f'"{value}"'
        assert apply(held, restore(held, [KEY])) == node, value


def test_holding_what_is_already_held_changes_nothing_and_keeps_the_first_record() -> None:
    held = {KEY: "true", MARK: '"false"'}
    assert hold(held, {KEY: "true"}) == {}
    # A re-run after a crash finds the node as we left it; the administrator's "false" survives.
    assert hold({KEY: "false", MARK: "null"}, {KEY: "true"}) == {KEY: "true"}


def test_restoring_without_our_record_leaves_the_annotation_alone() -> None:
    assert restore({KEY: "true"}, [KEY]) == {}
    assert restore({}, [KEY]) == {}


def test_a_record_written_by_hand_that_is_not_json_is_taken_as_the_value() -> None:
    assert restore({KEY: "true", MARK: "false"}, [KEY]) == {KEY: "false", MARK: None}
    assert restore({KEY: "true", MARK: "7"}, [KEY]) == {KEY: "7", MARK: None}


def test_restoring_a_value_already_back_only_drops_the_record() -> None:
    assert restore({KEY: "false", MARK: '"false"'}, [KEY]) == {MARK: None}


def test_keys_whose_mark_would_be_invalid_or_our_own_are_refused() -> None:
    assert mark_name_problem(KEY) is None
    assert "longer than 63" in str(mark_name_problem("example.com/" + "x" * 60))
    assert "nodepatch.kube itself" in str(mark_name_problem("nodepatch.kube/boot-id-before"))


def test_the_cordon_mark_keeps_its_encoding() -> None:
    assert WAS_UNSCHEDULABLE_MARK.record({}, True) == {"nodepatch.kube/was-unschedulable": "true"}
    assert WAS_UNSCHEDULABLE_MARK.record({}, False) == {"nodepatch.kube/was-unschedulable": "false"}
    assert WAS_UNSCHEDULABLE_MARK.before({"nodepatch.kube/was-unschedulable": "false"}, True) is False
    assert WAS_UNSCHEDULABLE_MARK.before({}, True) is True
