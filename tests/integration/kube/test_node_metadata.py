# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

MARK = "nodepatch.kube/test-mark"


@pytest.fixture
def node(testbed):
    name = testbed.nodes[-1]
    yield name
    testbed.core_v1().patch_node(name, {"metadata": {"annotations": {MARK: None}, "labels": {MARK: None}}})


def args(testbed, name, **extra):
    return {"kubeconfig": testbed.kubeconfig, "name": name, **extra}


def test_marks_are_set_once_then_reported_unchanged(testbed, run_module, node) -> None:
    wanted = args(testbed, node, annotations={MARK: "rebooting"}, labels={MARK: True})
    first = run_module("node_metadata", wanted, diff=True)
    assert first["changed"] is True
    assert first["diff"]["before"] == {"annotations": {MARK: None}, "labels": {MARK: None}}
    assert first["diff"]["after"] == {"annotations": {MARK: "rebooting"}, "labels": {MARK: "true"}}
    stored = testbed.core_v1().read_node(node).metadata
    assert stored.annotations[MARK] == "rebooting" and stored.labels[MARK] == "true"
    assert run_module("node_metadata", wanted)["changed"] is False


def test_null_removes_a_mark(testbed, run_module, node) -> None:
    run_module("node_metadata", args(testbed, node, annotations={MARK: "x"}))
    result = run_module("node_metadata", args(testbed, node, annotations={MARK: None}))
    assert result["changed"] is True
    assert MARK not in (testbed.core_v1().read_node(node).metadata.annotations or {})


def test_check_mode_writes_nothing(testbed, run_module, node) -> None:
    result = run_module("node_metadata", args(testbed, node, annotations={MARK: "x"}), check=True)
    assert result["changed"] is True
    assert MARK not in (testbed.core_v1().read_node(node).metadata.annotations or {})


def test_a_missing_node_is_a_clear_error(testbed, run_module) -> None:
    result = run_module("node_metadata", args(testbed, "no-such-node", annotations={MARK: "x"}))
    assert result["failed"] is True
    assert "node/no-such-node" in result["msg"] and "404" in result["msg"]


def test_the_api_key_never_appears_in_the_output(testbed, run_module, node) -> None:
    secret = "not-a-real-token-but-secret"
    result = run_module("node_metadata", {"host": testbed.api_url, "api_key": secret, "validate_certs": False,
                                          "name": node, "annotations": {MARK: "x"}})
    assert result["failed"] is True and "401" in result["msg"]
    assert secret not in str(result)


SCALE_DOWN = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
RECORD = "nodepatch.kube/scale-down-disabled-before"


@pytest.fixture
def held_node(testbed):
    name = testbed.nodes[-1]
    yield name
    testbed.core_v1().patch_node(name, {"metadata": {"annotations": {SCALE_DOWN: None, RECORD: None}}})


def test_a_held_annotation_keeps_the_administrators_value_and_gives_it_back(testbed, run_module, held_node) -> None:
    testbed.core_v1().patch_node(held_node, {"metadata": {"annotations": {SCALE_DOWN: "false"}}})
    hold = args(testbed, held_node, held_annotations={SCALE_DOWN: True})
    checked = run_module("node_metadata", hold, check=True, diff=True)
    assert checked["changed"] is True
    assert checked["diff"] == {"before": {"annotations": {SCALE_DOWN: "false", RECORD: None}, "labels": {}},
                               "after": {"annotations": {SCALE_DOWN: "true", RECORD: '"false"'}, "labels": {}}}
    assert annotations_of(testbed, held_node) == {SCALE_DOWN: "false"}, "check mode wrote"
    assert run_module("node_metadata", hold)["changed"] is True
    assert annotations_of(testbed, held_node) == {SCALE_DOWN: "true", RECORD: '"false"'}
    assert run_module("node_metadata", hold)["changed"] is False

    restore = args(testbed, held_node, restored_annotations=[SCALE_DOWN])
    checked = run_module("node_metadata", restore, check=True, diff=True)
    assert checked["diff"]["after"]["annotations"] == {SCALE_DOWN: "false", RECORD: None}
    assert annotations_of(testbed, held_node) == {SCALE_DOWN: "true", RECORD: '"false"'}, "check mode wrote"
    assert run_module("node_metadata", restore)["changed"] is True
    assert annotations_of(testbed, held_node) == {SCALE_DOWN: "false"}
    assert run_module("node_metadata", restore)["changed"] is False


def test_options_fighting_over_an_annotation_are_refused_before_any_read(testbed, run_module, held_node) -> None:
    result = run_module("node_metadata", args(testbed, "no-such-node", held_annotations={SCALE_DOWN: "true"},
                                              restored_annotations=[SCALE_DOWN]))
    assert result["failed"] is True
    assert "held_annotations and restored_annotations both name" in result["msg"] and "404" not in result["msg"]


def annotations_of(testbed, name):
    stored = testbed.core_v1().read_node(name).metadata.annotations or {}
    return {key: value for key, value in stored.items() if key in (SCALE_DOWN, RECORD)}
