# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type module_utils raise, so every module fails the same way: what, on which object, what to do."""

from __future__ import annotations

import typing as t


class NodepatchError(Exception):
    """A failure a user can act on.

    ``message`` says what failed, ``target`` names the object (``node/aks-1``, ``poddisruptionbudget shop/web``),
    ``hint`` says what to do about it. ``details`` is extra structured data returned to the module's caller.
    """

    def __init__(self, message: str, target: str | None = None, hint: str | None = None,
                 details: dict[str, t.Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.hint = hint
        self.details = details or {}

    def __str__(self) -> str:
        text = self.message
        if self.target and self.target not in text:
            text = f"{self.target}: {text}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


def fail_from_error(module: t.Any, error: NodepatchError, **result: t.Any) -> t.NoReturn:
    """Fail an AnsibleModule from a NodepatchError, keeping any partial result the module collected."""
    result.update(error.details)
    module.fail_json(msg=str(error), **result)
    raise AssertionError("fail_json returned")  # pragma: no cover - fail_json exits
