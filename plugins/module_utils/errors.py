# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type module_utils raise, so every module fails the same way: what, on which object, what to do."""

from __future__ import annotations

import typing as t


class NodepatchError(Exception):
    """A failure a user can act on.

    ``message`` says what failed, ``target`` names the object (``node/aks-1``, ``poddisruptionbudget shop/web``),
    ``hint`` says what to do about it. ``details`` is extra structured data returned to the module's caller.
    ``status`` is the HTTP status of the API call that failed (Kubernetes or Azure), None when no call did.
    """

    def __init__(self, message: str, target: str | None = None, hint: str | None = None,
                 details: dict[str, t.Any] | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.hint = hint
        self.details = details or {}
        self.status = status

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_conflict(self) -> bool:
        """The object changed between our read and our write (or exists already): re-read and try again."""
        return self.status == 409

    def __str__(self) -> str:
        text = self.message
        if self.target and self.target not in text:
            text = f"{self.target}: {text}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


def is_conflict(error: BaseException) -> bool:
    """The retry predicate for read-modify-write loops (retry.call_with_retries)."""
    return isinstance(error, NodepatchError) and error.is_conflict


def fail_from_error(module: t.Any, error: NodepatchError, **result: t.Any) -> t.NoReturn:
    """Fail an AnsibleModule from a NodepatchError, keeping any partial result the module collected."""
    result.update(error.details)
    module.fail_json(msg=str(error), **result)
    raise AssertionError("fail_json returned")  # pragma: no cover - fail_json exits
