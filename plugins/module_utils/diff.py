# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before/after records for the fields a module manages, in the shape Ansible's diff mode prints. Modules hand one
to ``NodepatchModule.exit_json(diff=...)``, which returns it in diff mode only."""

from __future__ import annotations

import copy
import typing as t


class DiffRecorder:
    """Remember the managed fields before a change, then after it; ``changed`` compares the two."""

    def __init__(self, before: dict[str, t.Any] | None = None, header: str | None = None) -> None:
        self.before: dict[str, t.Any] = copy.deepcopy(before or {})
        self.after: dict[str, t.Any] = copy.deepcopy(before or {})
        self.header = header

    @classmethod
    def between(cls, before: dict[str, t.Any] | None, after: dict[str, t.Any] | None,
                header: str | None = None) -> DiffRecorder:
        """A record of a change already computed elsewhere (a plan, a drain)."""
        recorder = cls(before, header)
        recorder.after = copy.deepcopy(after or {})
        return recorder

    def set(self, field: str, value: t.Any) -> None:
        self.after[field] = copy.deepcopy(value)

    def record(self, field: str, before: t.Any, after: t.Any) -> None:
        """One field whose value before was not known when the recorder was made."""
        self.before[field] = copy.deepcopy(before)
        self.set(field, after)

    def update(self, fields: dict[str, t.Any]) -> None:
        for field, value in fields.items():
            self.set(field, value)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def as_diff(self) -> dict[str, t.Any]:
        diff: dict[str, t.Any] = {"before": self.before, "after": self.after}
        if self.header:
            diff.update(before_header=self.header, after_header=self.header)
        return diff
