#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: aks_upgrade_info
short_description: Report where an AKS cluster and each of its node pools stand on upgrades
version_added: 0.1.0
description:
  - Reads an Azure Kubernetes Service cluster's auto-upgrade channels, Kubernetes version and the versions it can
    upgrade to, every node pool's OS type and SKU, mode, node image version and the latest node image available,
    and the cluster's planned maintenance configurations.
  - Channels the cluster does not set are returned as null (a cluster created without an C(autoUpgradeProfile)).
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.azure
  - nodepatch.kube.azure.cluster
  - nodepatch.kube.attributes
  - nodepatch.kube.attributes.info_module
options:
  pools:
    description: Read the node pools and their latest node images (one request per pool).
    type: bool
    default: true
  maintenance:
    description: Read the planned maintenance configurations.
    type: bool
    default: true
seealso:
  - module: nodepatch.kube.aks_node_image_upgrade
  - module: nodepatch.kube.aks_upgrade_channel
"""

EXAMPLES = r"""
- name: Read where the cluster stands
  nodepatch.kube.aks_upgrade_info:
    resource_group: rg-prod
    cluster_name: aks-prod
  register: aks

- name: Say which pools are behind the latest node image
  ansible.builtin.debug:
    msg: "{{ aks.cluster.node_image_upgrades_available }}"
"""

RETURN = r"""
cluster:
  description: The cluster's upgrade facts.
  returned: success
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
      returned: always
    resource_group:
      description: Resource group.
      type: str
      returned: always
    id:
      description: Azure resource ID.
      type: str
      returned: always
    location:
      description: Azure region.
      type: str
      returned: always
    provisioning_state:
      description: Provisioning state, for example V(Succeeded) or V(Updating).
      type: str
      returned: always
    power_state:
      description: V(Running) or V(Stopped).
      type: str
      returned: always
    kubernetes_version:
      description: Requested Kubernetes version.
      type: str
      returned: always
    current_kubernetes_version:
      description: Kubernetes version the control plane runs.
      type: str
      returned: always
    available_upgrades:
      description: Kubernetes versions the control plane can upgrade to, oldest first.
      type: list
      elements: str
      returned: always
    upgrade_channel:
      description: Cluster auto-upgrade channel, null when not set.
      type: str
      returned: always
    node_os_upgrade_channel:
      description: Node OS auto-upgrade channel, null when not set.
      type: str
      returned: always
    auto_upgrade_profile_present:
      description: Whether the cluster has an C(autoUpgradeProfile) at all.
      type: bool
      returned: always
    pools:
      description: One entry per node pool.
      type: list
      elements: dict
      returned: when O(pools=true)
      contains:
        name:
          description: Pool name.
          type: str
          returned: always
        mode:
          description: V(System) or V(User).
          type: str
          returned: always
        os_type:
          description: V(Linux) or V(Windows).
          type: str
          returned: always
        os_sku:
          description: For example V(Ubuntu), V(AzureLinux), V(Windows2022).
          type: str
          returned: always
        count:
          description: Number of nodes.
          type: int
          returned: always
        vm_size:
          description: VM size.
          type: str
          returned: always
        orchestrator_version:
          description: Kubernetes version of the pool.
          type: str
          returned: always
        provisioning_state:
          description: For example V(Succeeded) or V(UpgradingNodeImageVersion).
          type: str
          returned: always
        node_image_version:
          description: The node image the pool runs (the nodes' C(kubernetes.azure.com/node-image-version) label).
          type: str
          returned: always
        latest_node_image_version:
          description: The newest node image available to the pool.
          type: str
          returned: always
        node_image_upgrade_available:
          description: Whether the two differ.
          type: bool
          returned: always
        kubernetes_upgrades:
          description: Kubernetes versions the pool can upgrade to.
          type: list
          elements: str
          returned: always
    node_image_upgrades_available:
      description: Names of the pools behind their latest node image.
      type: list
      elements: str
      returned: when O(pools=true)
    maintenance_configurations:
      description: The planned maintenance configurations, as M(nodepatch.kube.aks_maintenance_window) returns them.
      type: list
      elements: dict
      returned: when O(maintenance=true)
  sample:
    name: aks-prod
    upgrade_channel: stable
    node_os_upgrade_channel: NodeImage
    kubernetes_version: 1.33.2
    available_upgrades: [1.33.5, 1.34.1]
    pools:
      - name: system
        os_type: Linux
        os_sku: Ubuntu
        mode: System
        node_image_version: AKSUbuntu-2204gen2containerd-202509.10.0
        latest_node_image_version: AKSUbuntu-2204gen2containerd-202511.07.0
        node_image_upgrade_available: true
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.aks_api import gather_info
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_module import AzureModule
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError


def main() -> None:
    module = AzureModule(
        argument_spec={
            "pools": {"type": "bool", "default": True},
            "maintenance": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        info = gather_info(module.api, p["resource_group"], p["cluster_name"], p["pools"], p["maintenance"])
    except NodepatchError as error:
        module.fail_from(error)
    module.exit_json(changed=False, cluster=info)


if __name__ == "__main__":
    main()
