# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No module returns a top-level key that Ansible reads as the task's own status."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import yaml

from ansible_collections.nodepatch.kube.plugins import modules

# Keys of a result that Ansible's TaskResult and callbacks read as the task's status, whatever a module meant.
RESERVED = {"skipped", "failed", "unreachable", "changed", "invocation", "ansible_facts", "exception", "warnings",
            "deprecations", "results", "skip_reason", "failed_when_result"}

MODULE_NAMES = sorted(info.name for info in pkgutil.iter_modules(modules.__path__))


def test_every_module_is_checked() -> None:
    assert "node_drain" in MODULE_NAMES and len(MODULE_NAMES) > 10


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_no_documented_return_key_is_one_ansible_reserves(name: str) -> None:
    code = importlib.import_module(f"{modules.__name__}.{name}")
    returned = set(yaml.safe_load(code.RETURN) or {})
    assert not returned & RESERVED, f"{name} returns {sorted(returned & RESERVED)}, which Ansible reads as task status"
