# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A node's annotations and labels set as asked: read, compare, and patch only the keys that differ (null removes
one), so a second run writes nothing."""

from __future__ import annotations

import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.k8s_names import check_keys
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import KubeClient

KINDS = ("annotations", "labels")


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


class MetadataChange(t.NamedTuple):
    changed: bool
    diff: DiffRecorder
    metadata: dict[str, dict[str, str]]  # every annotation and label of the node afterwards


def set_node_metadata(client: KubeClient, name: str, annotations: dict[str, t.Any], labels: dict[str, t.Any],
                      check_mode: bool = False) -> MetadataChange:
    target = f"node/{name}"
    wanted = {"annotations": stringify(annotations), "labels": stringify(labels)}
    try:
        check_keys("annotations", wanted["annotations"])
        check_keys("labels", wanted["labels"], label_values=True)
    except ValueError as error:
        raise NodepatchError(str(error), hint="nothing was written") from None
    node = client.call(client.core.read_node, name, target=target, action="read")
    current = metadata_of(node)
    patch = {kind: wanted_changes(current[kind], wanted[kind]) for kind in KINDS}
    patch = {kind: changes for kind, changes in patch.items() if changes}
    diff = DiffRecorder({kind: {key: current[kind].get(key) for key in wanted[kind]} for kind in KINDS})
    diff.update({kind: dict(wanted[kind]) for kind in KINDS})
    if patch and not check_mode:
        node = client.call(client.core.patch_node, name, {"metadata": patch}, target=target, action="patch")
        current = metadata_of(node)
    return MetadataChange(bool(patch), diff, current)
