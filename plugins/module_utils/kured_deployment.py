# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kured installed or removed: its objects (kured_manifest) applied (apply), with what a diff shows and the guard
that keeps absent from dropping a lock someone holds."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.nodepatch.kube.plugins.module_utils.apply import Applier, Step
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import KubeClient
from ansible_collections.nodepatch.kube.plugins.module_utils.kured_manifest import (
    FLAGS,
    MANAGED_BY,
    KuredSpec,
    container_args,
    objects,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.lock import parse_annotation


@dataclass
class DeploymentResult:
    changed: bool
    objects: list[dict[str, t.Any]]
    args: list[str]
    before: dict[str, t.Any]
    after: dict[str, t.Any]


def summary(steps: t.Sequence[Step], state: str) -> dict[str, t.Any]:
    """Per object, whether it is there, before and after: the diff names objects, never a Secret's content."""
    before, after = {}, {}
    for step in steps:
        meta = step.obj["metadata"]
        name = f"{step.obj['kind']} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta['name']}"
        before[name] = "absent" if step.live is None else "present"
        if step.action == "delete":
            after[name] = "absent"
        elif step.action == "update":
            after[name] = "present (changed)"
        elif step.action == "create":
            after[name] = "present"
        else:
            after[name] = before[name] if state == "present" or step.action == "keep" else "absent"
    return {"before": before, "after": after}


def deploy(client: KubeClient, state: str, values: t.Mapping[str, t.Any], spec: KuredSpec,
           check_mode: bool = False) -> DeploymentResult:
    wanted = objects(values, spec)
    applier = Applier(client, MANAGED_BY, check_mode)
    steps = applier.plan(wanted, state)
    daemonset = steps[-1]
    if state == "absent" and daemonset.action == "delete":
        annotation = values.get("lock_annotation", FLAGS["lock_annotation"][2])
        raw = ((daemonset.live or {}).get("metadata", {}).get("annotations") or {}).get(annotation)
        holders = [holder.node_id for holder in parse_annotation(raw).holders]
        if holders:
            raise NodepatchError(
                f"kured's lock is held by {', '.join(holders)}; deleting the DaemonSet would drop the lock",
                target=f"daemonset {spec.namespace}/{spec.daemonset}",
                hint="resume kured (kured_pause: false) or wait for the node's reboot to finish, then remove it")
    applier.write()
    before_args = container_args(daemonset.live)
    after_args = [] if state == "absent" else container_args(daemonset.obj)
    objects_diff = summary(steps, state)
    return DeploymentResult(
        changed=applier.changed,
        objects=[step.report() for step in steps],
        args=after_args,
        before={"daemonset_args": before_args, "objects": objects_diff["before"]},
        after={"daemonset_args": after_args, "objects": objects_diff["after"]},
    )
