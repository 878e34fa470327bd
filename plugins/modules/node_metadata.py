#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: node_metadata
short_description: Set or remove annotations and labels on a Kubernetes node
version_added: 0.1.0
description:
  - Marks a node for the duration of a reboot (kured's C(weave.works/kured-reboot-in-progress), this collection's
    C(nodepatch.kube/boot-id-before)) and applies pre- and post-reboot labels.
  - Only the keys given are touched; a key whose value is null is removed. One merge patch, sent only when
    something differs.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube
options:
  name:
    description: The node.
    type: str
    required: true
  annotations:
    description: Annotations to set; a null value removes the annotation.
    type: dict
    default: {}
  labels:
    description: Labels to set; a null value removes the label.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Reports what would change and writes nothing.
  diff_mode:
    support: full
    description: Shows the managed annotations and labels before and after.
  idempotent:
    support: full
    description: A second run with the same input reports no change.
"""

EXAMPLES = r"""
- name: Mark the node as rebooting, the way kured does
  nodepatch.kube.node_metadata:
    name: aks-nodepool1-12345678-vmss000000
    annotations:
      weave.works/kured-reboot-in-progress: "2024-05-31T06:31:37Z"
    labels:
      nodepatch.kube/rebooting: "true"

- name: Clear the mark
  nodepatch.kube.node_metadata:
    name: aks-nodepool1-12345678-vmss000000
    annotations:
      weave.works/kured-reboot-in-progress: null
    labels:
      nodepatch.kube/rebooting: null
"""

RETURN = r"""
annotations:
  description: The node's annotations after the change (all of them).
  returned: success
  type: dict
  sample: {weave.works/kured-reboot-in-progress: "2024-05-31T06:31:37Z"}
labels:
  description: The node's labels after the change (all of them).
  returned: success
  type: dict
  sample: {kubernetes.io/os: linux, agentpool: nodepool1}
"""

import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube_module import KubeModule


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


def main() -> None:
    module = KubeModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            annotations=dict(type="dict", default={}),
            labels=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    target = f"node/{name}"
    wanted = {"annotations": stringify(module.params["annotations"]), "labels": stringify(module.params["labels"])}
    try:
        client = module.client
        node = client.call(client.core.read_node, name, target=target, action="read")
        current = {"annotations": dict(node.metadata.annotations or {}), "labels": dict(node.metadata.labels or {})}
        patch = {kind: wanted_changes(current[kind], wanted[kind]) for kind in wanted}
        patch = {kind: changes for kind, changes in patch.items() if changes}
        diff = DiffRecorder({kind: {key: current[kind].get(key) for key in wanted[kind]} for kind in wanted})
        diff.update({kind: dict(wanted[kind]) for kind in wanted})
        result = dict(current)
        if patch and not module.check_mode:
            node = client.call(client.core.patch_node, name, {"metadata": patch}, target=target, action="patch")
            result = {"annotations": dict(node.metadata.annotations or {}), "labels": dict(node.metadata.labels or {})}
    except NodepatchError as error:
        module.fail_from(error)
    module.exit_json(changed=bool(patch), diff=diff.as_diff(), **result)


if __name__ == "__main__":
    main()
