# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.nodepatch.kube.plugins.module_utils.base_module import declared_secrets

SPEC = {
    "secret": {"type": "str", "no_log": True, "aliases": ["password"]},
    "name": {"type": "str"},
    "webhooks": {"type": "list", "elements": "dict", "options": {
        "url": {"type": "str", "no_log": True},
        "headers": {"type": "dict", "no_log": True},
        "format": {"type": "str"}}},
}


def test_every_no_log_value_is_found_at_any_depth_and_by_alias() -> None:
    params = {"password": "s3cret-value", "name": "visible",
              "webhooks": [{"url": "https://hooks.example/T1/B2", "headers": {"Authorization": "Bearer abc"},
                            "format": "slack"}]}
    assert declared_secrets(SPEC, params) == {"s3cret-value", "https://hooks.example/T1/B2", "Bearer abc"}


def test_values_of_the_wrong_shape_are_still_found_and_nothing_else() -> None:
    # What ansible-core has not validated yet: a suboption dict given as a string, a list where a dict goes.
    assert declared_secrets(SPEC, {"secret": ["a-list-secret"], "webhooks": "not-a-list", "name": "x"}) == {
        "a-list-secret"}
    assert declared_secrets(SPEC, None) == set()
