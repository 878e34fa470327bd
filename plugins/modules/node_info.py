#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: node_info
short_description: Facts about Kubernetes nodes for reboots, and waiting until a node is back
version_added: 0.1.0
description:
  - Nodes by name or label selector, each with what C(kubectl get nodes -o wide) shows plus the boot id, the AKS
    node image version and agent pool, taints, the kured and nodepatch annotations, and the reboot lock's holders.
  - With O(wait_ready=true) it waits, following a watch, until the named nodes are Ready, and with
    O(changed_boot_id_from) until their boot id differs from the one given; that is how a roll-out knows a node
    really rebooted.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube
  - nodepatch.kube.attributes
  - nodepatch.kube.attributes.info_module
options:
  names:
    description: Node names; all nodes (matching O(label_selector)) when empty.
    type: list
    elements: str
    default: []
  label_selector:
    description: Label selector, for example C(agentpool=nodepool1).
    type: str
  wait_ready:
    description: Wait until the named nodes are Ready. Needs O(names).
    type: bool
    default: false
  changed_boot_id_from:
    description:
      - With O(wait_ready), also wait until the boot id differs from this one. A string for a single node, or a
        dictionary of node name to old boot id.
    type: raw
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
  lock_backend:
    description:
      - Where to read the reboot lock's holders from (see M(nodepatch.kube.node_lock)); V(none) skips it.
      - A lock object that does not exist (no kured DaemonSet) gives a warning and no holders, not a failure.
    type: str
    choices: [daemonset, lease, none]
    default: daemonset
  lock_namespace:
    description: Namespace of the lock object.
    type: str
    default: kube-system
  lock_daemonset:
    description: DaemonSet carrying the lock annotation.
    type: str
    default: kured
  lock_annotation:
    description: Lock annotation.
    type: str
    default: weave.works/kured-node-lock
  lock_lease_name:
    description: Lease name prefix for O(lock_backend=lease).
    type: str
    default: nodepatch-reboot
"""

EXAMPLES = r"""
- name: Read every node of pool nodepool1
  nodepatch.kube.node_info:
    label_selector: agentpool=nodepool1
  register: pool

- name: Wait until the node is Ready with a new boot id
  nodepatch.kube.node_info:
    names: [aks-nodepool1-12345678-vmss000000]
    wait_ready: true
    changed_boot_id_from: "{{ boot_id_before }}"
    wait_timeout: 900
"""

RETURN = r"""
nodes:
  description: The nodes, in the order asked (else sorted by name).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
    ready:
      description: Whether the Ready condition is True.
      type: bool
    unschedulable:
      description: Whether the node is cordoned.
      type: bool
    was_unschedulable:
      description:
        - Whether the node was cordoned before nodepatch came, so that its reboot leaves it cordoned.
        - From the C(nodepatch.kube/was-unschedulable) annotation while a drain of ours has the node (it is
          cordoned by us then, not by an administrator); otherwise the same as RV(nodes[].unschedulable).
      type: bool
    kernel_version:
      description: Kernel release the kubelet reports.
      type: str
    os_image:
      description: OS image, for example C(Ubuntu 22.04.3 LTS).
      type: str
    os:
      description: Operating system, V(linux) or V(windows).
      type: str
    architecture:
      description: CPU architecture.
      type: str
    kubelet_version:
      description: Kubelet version.
      type: str
    container_runtime:
      description: Container runtime and version.
      type: str
    boot_id:
      description: Boot id; it changes with every boot.
      type: str
    internal_ip:
      description: InternalIP address.
      type: str
    node_image_version:
      description: AKS node image version (label C(kubernetes.azure.com/node-image-version)).
      type: str
    agent_pool:
      description: AKS agent pool (label C(kubernetes.azure.com/agentpool) or C(agentpool)).
      type: str
    zone:
      description: Topology zone.
      type: str
    roles:
      description: Roles from the C(node-role.kubernetes.io/*) labels; V(agent) for AKS pool nodes without one.
      type: list
      elements: str
    taints:
      description: Taints, each with key, value and effect.
      type: list
      elements: dict
    labels:
      description: All labels.
      type: dict
    annotations:
      description: kured's reboot annotations and the C(nodepatch.kube/*) ones.
      type: dict
    lock_holder:
      description: Whether this node holds the reboot lock.
      type: bool
  sample:
    - name: aks-nodepool1-12345678-vmss000000
      ready: true
      unschedulable: false
      kernel_version: 5.15.0-1051-azure
      boot_id: 6f1c2d9e-0b7e-4b8a-9a51-2b1c1d0e9f00
      lock_holder: false
nodes_by_name:
  description: The same nodes, keyed by name.
  returned: always
  type: dict
lock_holders:
  description: Holders of the reboot lock (see M(nodepatch.kube.node_lock)); empty with O(lock_backend=none).
  returned: always
  type: list
  elements: dict
waited_seconds:
  description: How long the task waited for the nodes.
  returned: when O(wait_ready=true)
  type: float
"""

import time

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube_module import KubeModule
from ansible_collections.nodepatch.kube.plugins.module_utils.lock import LockSettings, RebootLock
from ansible_collections.nodepatch.kube.plugins.module_utils.nodes import list_nodes, wait_until_back
from ansible_collections.nodepatch.kube.plugins.module_utils.selectors import check_selector


def old_boot_ids(value: object, names: list[str]) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if isinstance(value, dict):
        return {str(name): str(boot_id) for name, boot_id in value.items() if boot_id}
    if len(names) != 1:
        raise ValueError("changed_boot_id_from is a single boot id: give exactly one name, or a dict name -> boot id")
    return {names[0]: str(value)}


def main() -> None:
    module = KubeModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", default=[]),
            label_selector=dict(type="str"),
            wait_ready=dict(type="bool", default=False),
            changed_boot_id_from=dict(type="raw"),
            wait_timeout=dict(type="int", default=600),
            lock_backend=dict(type="str", choices=["daemonset", "lease", "none"], default="daemonset"),
            lock_namespace=dict(type="str", default="kube-system"),
            lock_daemonset=dict(type="str", default="kured"),
            lock_annotation=dict(type="str", default="weave.works/kured-node-lock"),
            lock_lease_name=dict(type="str", default="nodepatch-reboot"),
        ),
        supports_check_mode=True,
    )
    module.require_at_least(wait_timeout=0)
    params = module.params
    names = params["names"]
    if params["wait_ready"] and not names:
        module.fail_json(msg="wait_ready needs names: the nodes to wait for")
    try:
        boot_ids = old_boot_ids(params["changed_boot_id_from"], names)
        check_selector("label_selector", params["label_selector"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    try:
        client = module.client
        waited = None
        if params["wait_ready"]:
            started = time.monotonic()
            nodes = wait_until_back(client, names, boot_ids, params["wait_timeout"])
            waited = round(time.monotonic() - started, 3)
        else:
            nodes = list_nodes(client, names, params["label_selector"])
        holders = []
        if params["lock_backend"] != "none":
            settings = LockSettings(params["lock_backend"], params["lock_namespace"], params["lock_daemonset"],
                                    params["lock_annotation"], params["lock_lease_name"], 1, 0)
            try:
                holders = RebootLock(client, settings).holders()
            except NodepatchError as error:
                if not error.is_not_found:
                    raise
                module.warn(f"no lock holders read: {error}")
    except NodepatchError as error:
        module.fail_from(error)
    holding = {entry["holder"] for entry in holders}
    for node in nodes:
        node["lock_holder"] = node["name"] in holding
    result = dict(changed=False, nodes=nodes, nodes_by_name={node["name"]: node for node in nodes},
                  lock_holders=holders)
    if waited is not None:
        result["waited_seconds"] = waited
    module.exit_json(**result)


if __name__ == "__main__":
    main()
