# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.nodepatch.kube.plugins.module_utils.metadata import stringify, wanted_changes


def test_values_become_the_strings_kubernetes_stores() -> None:
    assert stringify({"a": True, "b": False, "c": 3, "d": None, "e": "x"}) == {
        "a": "true", "b": "false", "c": "3", "d": None, "e": "x"}


def test_only_differing_keys_are_patched_and_null_removes_only_what_exists() -> None:
    current = {"keep": "1", "change": "old", "drop": "x"}
    wanted = {"keep": "1", "change": "new", "drop": None, "absent": None}
    assert wanted_changes(current, wanted) == {"change": "new", "drop": None}


def test_nothing_to_patch_when_everything_matches() -> None:
    assert wanted_changes({"a": "1"}, {"a": "1", "gone": None}) == {}
