# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A mark of ours on a node that keeps what something was before nodepatch first changed it, so that undoing the
change puts back the administrator's state — also from a later run, after a crash. The drain's cordon
(``nodepatch.kube/was-unschedulable``) and the annotations the role holds during a reboot
(``nodepatch.kube/<name>-before``) share it.

The rules: the mark is written in the same patch as the change; an existing mark is never overwritten (a re-run
keeps what the first run saw); while the mark is there it, not the node as it is now, says what was before; the
undo removes it in the same patch. The functions return the annotation changes to merge into that patch."""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass

T = t.TypeVar("T")

OWN_PREFIX = "nodepatch.kube/"
# Kubernetes' limit on the name part of an annotation key (after the prefix and the slash).
NAME_LIMIT = 63


@dataclass(frozen=True)
class BeforeMark(t.Generic[T]):
    """The annotation ``name`` holding a value of type T, written with ``encode`` and read back with ``decode``."""

    name: str
    encode: t.Callable[[T], str]
    decode: t.Callable[[str], T]

    def recorded(self, annotations: t.Mapping[str, str] | None) -> bool:
        return self.name in (annotations or {})

    def before(self, annotations: t.Mapping[str, str] | None, current: T) -> T:
        """What was there before we came: the mark where we left one, else ``current`` (nothing of ours yet)."""
        raw = (annotations or {}).get(self.name)
        return current if raw is None else self.decode(raw)

    def record(self, annotations: t.Mapping[str, str] | None, current: T) -> dict[str, str]:
        """The mark to write with the change: ``current``, unless a mark is already there."""
        return {} if self.recorded(annotations) else {self.name: self.encode(current)}

    def forget(self, annotations: t.Mapping[str, str] | None) -> dict[str, str | None]:
        """Removes the mark, where there is one."""
        return {self.name: None} if self.recorded(annotations) else {}


def decode_annotation(raw: str) -> str | None:
    """An annotation's value as encoded by ``annotation_mark`` (JSON: a string, or null when it was absent); a
    value written by hand that is not a JSON string is taken as the value itself."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if value is None or isinstance(value, str) else raw


def annotation_mark(key: str) -> BeforeMark[str | None]:
    """The mark that keeps what annotation ``key`` held: ``nodepatch.kube/<name of key>-before``, in JSON so that
    an annotation that was absent (``null``) and one that was empty (``""``) are told apart."""
    name = key.rsplit("/", 1)[-1] + "-before"
    return BeforeMark(OWN_PREFIX + name, json.dumps, decode_annotation)


def mark_name_problem(key: str) -> str | None:
    """Why ``key`` cannot be held (its mark would be no valid annotation key), or None."""
    name = annotation_mark(key).name.split("/", 1)[1]
    if len(name) > NAME_LIMIT:
        return f"its mark {OWN_PREFIX}{name} would be longer than {NAME_LIMIT} characters after the prefix"
    if key.startswith(OWN_PREFIX):
        return f"it is an annotation of nodepatch.kube itself ({OWN_PREFIX}...)"
    return None


def hold(annotations: t.Mapping[str, str], held: t.Mapping[str, str]) -> dict[str, str | None]:
    """Set each held annotation, recording first what it was (absent included), never over an earlier record."""
    changes: dict[str, str | None] = {}
    for key, value in held.items():
        current = annotations.get(key)
        changes.update(annotation_mark(key).record(annotations, current))
        if current != value:
            changes[key] = value
    return changes


def restore(annotations: t.Mapping[str, str], keys: t.Iterable[str]) -> dict[str, str | None]:
    """Put back what each held annotation was before and drop the record. An annotation without our record was
    not set by us (or is restored already) and is left as it is."""
    changes: dict[str, str | None] = {}
    for key in keys:
        mark = annotation_mark(key)
        if not mark.recorded(annotations):
            continue
        before = mark.before(annotations, None)
        if annotations.get(key) != before:
            changes[key] = before
        changes.update(mark.forget(annotations))
    return changes
