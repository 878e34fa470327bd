# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's annotations and labels set as asked: read, compare, and patch only the keys that differ (null removes
one), so a second run writes nothing. Held annotations (the cluster autoscaler's scale-down-disabled while the
role has the node) are set over what an administrator had, which a mark of ours keeps until they are restored
(before_marks)."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.nodepatch.kube.plugins.module_utils.before_marks import (
    annotation_mark,
    hold,
    mark_name_problem,
    restore,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError, is_conflict
from ansible_collections.nodepatch.kube.plugins.module_utils.k8s_names import check_keys
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import NODES, KubeClient
from ansible_collections.nodepatch.kube.plugins.module_utils.retry import call_with_retries

KINDS = ("annotations", "labels")
# A node's resourceVersion moves with every status update; a lost patch re-reads the node at once, 5 tries in all.
CONFLICT_ATTEMPTS = 5


def stringify(values: dict[str, t.Any]) -> dict[str, str | None]:
    """Kubernetes metadata values are strings; YAML gives booleans and numbers unless quoted."""
    converted: dict[str, str | None] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            converted[key] = "true" if value else "false"
        else:
            converted[key] = None if value is None else str(value)
    return converted


def wanted_changes(current: dict[str, str], wanted: dict[str, str | None]) -> dict[str, str | None]:
    return {key: value for key, value in wanted.items() if current.get(key) != value}


def metadata_of(node: t.Any) -> dict[str, dict[str, str]]:
    return {"annotations": dict(node.metadata.annotations or {}), "labels": dict(node.metadata.labels or {})}


def held_keys(keys: t.Iterable[str]) -> set[str]:
    """The annotations that holding (or restoring) ``keys`` touches: each key and its mark."""
    return {name for key in keys for name in (key, annotation_mark(key).name)}


def option_problems(annotations: t.Mapping[str, t.Any], held: t.Mapping[str, t.Any],
                    restored: t.Iterable[str]) -> list[str]:
    """What is wrong with the options together, found before the node is read."""
    restored = list(restored)
    problems = []
    for option, verb, keys in (("held_annotations", "held", list(held)),
                               ("restored_annotations", "restored", restored)):
        for key in keys:
            why = mark_name_problem(key)
            if why is not None:
                problems.append(f"{option}: {key} cannot be {verb}: {why}")
    nulls = sorted(key for key, value in held.items() if value is None)
    if nulls:
        problems.append(f"held_annotations: {', '.join(nulls)} needs a value (null is none); list it in "
                        "restored_annotations to put back what it was")
    both = sorted(set(held) & set(restored))
    if both:
        problems.append(f"held_annotations and restored_annotations both name {', '.join(both)}: hold an "
                        "annotation while the node is in hand, restore it afterwards, not both at once")
    plain = sorted(set(annotations) & held_keys([*held, *restored]))
    if plain:
        problems.append(f"annotations names {', '.join(plain)}, which held_annotations or restored_annotations "
                        "manage: set each annotation through one option only")
    marks: dict[str, set[str]] = {}
    for key in {*held, *restored}:
        marks.setdefault(annotation_mark(key).name, set()).add(key)
    problems += [f"held_annotations and restored_annotations: {', '.join(sorted(keys))} would share the mark "
                 f"{mark}: hold only one of them" for mark, keys in sorted(marks.items()) if len(keys) > 1]
    return problems


def plan_patch(current: dict[str, dict[str, str]], wanted: dict[str, dict[str, str | None]],
               held: dict[str, str], restored: list[str]) -> dict[str, dict[str, str | None]]:
    """The metadata to patch, by kind; a kind with nothing to change is left out."""
    patch = {kind: wanted_changes(current[kind], wanted[kind]) for kind in KINDS}
    patch["annotations"].update(hold(current["annotations"], held))
    patch["annotations"].update(restore(current["annotations"], restored))
    return {kind: changes for kind, changes in patch.items() if changes}


# The options of every module that sets node metadata (node_metadata, and node_drain in its cordon or uncordon patch);
# documented in the doc fragment nodepatch.kube.node_metadata.
METADATA_ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = dict(
    annotations=dict(type="dict", default={}),
    labels=dict(type="dict", default={}),
    held_annotations=dict(type="dict", default={}),
    restored_annotations=dict(type="list", elements="str", default=[]),
)


@dataclass(frozen=True)
class MetadataRequest:
    """What a task asks of a node's metadata, checked before the node is read; ``patch_for`` plans it against the
    node as read, so a patch built from it can go with another change of the node (a cordon) in one request."""

    annotations: dict[str, str | None]
    labels: dict[str, str | None]
    held: dict[str, str]
    restored: list[str]

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any], target: str,
                    reserved: t.Collection[str] = ()) -> MetadataRequest:
        """From the module's options (METADATA_ARGUMENT_SPEC); raises NodepatchError naming what is wrong.
        ``reserved``: annotations the calling module writes itself, which no option may name."""
        annotations, held = params.get("annotations") or {}, params.get("held_annotations") or {}
        restored = list(params.get("restored_annotations") or [])
        problems = option_problems(annotations, held, restored)
        taken = sorted(set(reserved) & ({*annotations, *held, *restored}))
        if taken:
            problems.append(f"{', '.join(taken)} is written by this module itself: leave it out of annotations, "
                            "held_annotations and restored_annotations")
        if problems:
            raise NodepatchError("; ".join(problems), target=target, hint="nothing was changed")
        request = cls(stringify(annotations), stringify(params.get("labels") or {}),
                      {key: str(value) for key, value in stringify(held).items()}, restored)
        try:
            check_keys("annotations", request.annotations)
            check_keys("held_annotations", request.held)
            check_keys("restored_annotations", dict.fromkeys(request.restored))
            check_keys("labels", request.labels, label_values=True)
        except ValueError as error:
            raise NodepatchError(str(error), target=target, hint="nothing was written") from None
        return request

    @property
    def empty(self) -> bool:
        return not (self.annotations or self.labels or self.held or self.restored)

    @property
    def reads_before_writing(self) -> bool:
        """Whether the patch records what the node held: then it must carry the resourceVersion it was planned on."""
        return bool(self.held or self.restored)

    def managed(self) -> dict[str, set[str]]:
        return {"annotations": set(self.annotations) | held_keys([*self.held, *self.restored]),
                "labels": set(self.labels)}

    def patch_for(self, current: dict[str, dict[str, str]]) -> dict[str, dict[str, str | None]]:
        return plan_patch(current, {"annotations": self.annotations, "labels": self.labels}, self.held,
                          self.restored)

    def diff_between(self, current: dict[str, dict[str, str]],
                     patch: dict[str, dict[str, str | None]]) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
        """The managed keys before and after the patch, by kind."""
        managed = self.managed()
        before = {kind: {key: current[kind].get(key) for key in sorted(managed[kind])} for kind in KINDS}
        return before, {kind: {**before[kind], **patch.get(kind, {})} for kind in KINDS}


class MetadataChange(t.NamedTuple):
    changed: bool
    diff: DiffRecorder
    metadata: dict[str, dict[str, str]]  # every annotation and label of the node afterwards


def set_node_metadata(client: KubeClient, name: str, request: MetadataRequest,
                      check_mode: bool = False) -> MetadataChange:
    target = f"node/{name}"

    def step() -> MetadataChange:
        node = client.call(client.get, NODES, name, target=target, action="read")
        current = metadata_of(node)
        patch = request.patch_for(current)
        diff = DiffRecorder.between(*request.diff_between(current, patch))
        if patch and not check_mode:
            body: dict[str, t.Any] = dict(patch)
            if request.reads_before_writing:
                # What the marks record must be what the node held when we read it: a write in between (an
                # administrator's annotate) fails this patch with a conflict, and the step starts over.
                body["resourceVersion"] = node.metadata.resource_version
            node = client.call(client.patch, NODES, name, {"metadata": body}, target=target, action="patch")
            current = metadata_of(node)
        return MetadataChange(bool(patch), diff, current)

    return call_with_retries(step, is_conflict, attempts=CONFLICT_ATTEMPTS, base=0)
