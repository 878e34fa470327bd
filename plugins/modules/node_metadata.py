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
  - Holds annotations while the node is in hand (the cluster autoscaler's
    C(cluster-autoscaler.kubernetes.io/scale-down-disabled) during a reboot) and restores them afterwards to what an
    administrator had, the way M(nodepatch.kube.node_drain) keeps an administrator's cordon; see
    O(held_annotations) and O(restored_annotations).
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube
  - nodepatch.kube.node_metadata
  - nodepatch.kube.attributes
options:
  name:
    description: The node.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details: Reports what would change and writes nothing.
  diff_mode:
    support: full
    details: Shows the managed annotations and labels (held ones with their records) before and after.
  idempotent:
    support: full
    details: A second run with the same input reports no change.
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

- name: Keep the cluster autoscaler from removing the node while it reboots
  nodepatch.kube.node_metadata:
    name: aks-nodepool1-12345678-vmss000000
    held_annotations:
      cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"

- name: Put back what an administrator had (or remove it)
  nodepatch.kube.node_metadata:
    name: aks-nodepool1-12345678-vmss000000
    restored_annotations:
      - cluster-autoscaler.kubernetes.io/scale-down-disabled
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

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube_module import KubeModule
from ansible_collections.nodepatch.kube.plugins.module_utils.metadata import (
    METADATA_ARGUMENT_SPEC,
    MetadataRequest,
    set_node_metadata,
)


def main() -> None:
    module = KubeModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            **METADATA_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        request = MetadataRequest.from_params(params, f"node/{params['name']}")
        change = set_node_metadata(module.client, params["name"], request, module.check_mode)
    except NodepatchError as error:
        module.fail_from(error)
    module.exit_json(changed=change.changed, diff=change.diff, **change.metadata)


if __name__ == "__main__":
    main()
