# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before/after records for the fields a module manages, in the shape Ansible's diff mode prints."""

from __future__ import annotations

import copy
import typing as t


class DiffRecorder:
    """Remember the managed fields before a change, then after it; ``changed`` compares the two."""

    def __init__(self, before: dict[str, t.Any] | None = None) -> None:
        self.before: dict[str, t.Any] = copy.deepcopy(before or {})
        self.after: dict[str, t.Any] = copy.deepcopy(before or {})

    def set(self, field: str, value: t.Any) -> None:
        self.after[field] = copy.deepcopy(value)

    def update(self, fields: dict[str, t.Any]) -> None:
        for field, value in fields.items():
            self.set(field, value)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def as_diff(self) -> dict[str, dict[str, t.Any]]:
        return {"before": self.before, "after": self.after}
