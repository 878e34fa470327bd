#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: aks_upgrade_channel
short_description: Set the automatic upgrade channels of an AKS cluster
version_added: 0.1.0
description:
  - Sets the cluster auto-upgrade channel (C(upgradeChannel)) and the node OS auto-upgrade channel
    (C(nodeOSUpgradeChannel)) of an Azure Kubernetes Service cluster.
  - Changes only C(properties.autoUpgradeProfile). The Azure SDK has no PATCH for clusters, so the module reads
    the cluster, changes that profile and writes back everything else exactly as it was read, guarded by the
    cluster's eTag; if the cluster changed in between, it reads again and retries.
  - The AKS rules are checked before anything is written. O(upgrade_channel=node-image) forces the node OS
    channel V(NodeImage) (asking for another is an error; leaving it unset adopts V(NodeImage)); while the cluster
    channel is V(node-image) the node OS channel cannot be changed; V(SecurityPatch) is refused on clusters with
    Windows node pools.
  - Warns where AKS behaviour surprises. A node OS channel change reimages (rolls) the nodes. A change can take up
    to 24 hours to apply. V(Unmanaged) behaves as V(None) on Windows pools. Under V(Unmanaged) nodes install
    updates but are not rebooted, so a reboot manager such as this collection's C(nodepatch.kube.safe_reboot)
    role is still needed.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.azure
  - nodepatch.kube.azure.cluster
  - nodepatch.kube.attributes
options:
  upgrade_channel:
    description:
      - Cluster auto-upgrade channel. V(none) turns automatic Kubernetes upgrades off; V(patch), V(stable) and
        V(rapid) follow Kubernetes releases; V(node-image) only upgrades node images (and forces the node OS
        channel V(NodeImage)).
      - Left as it is when not set.
    type: str
    choices: [none, patch, stable, rapid, node-image]
  node_os_upgrade_channel:
    description:
      - Node OS auto-upgrade channel. V(None) applies no OS updates; V(Unmanaged) lets the OS install its own
        updates (no reboots); V(SecurityPatch) has AKS apply security patches (not on Windows pools);
        V(NodeImage) rolls nodes to a newly patched node image every week.
      - Left as it is when not set.
    type: str
    choices: [None, Unmanaged, SecurityPatch, NodeImage]
  wait:
    description: Wait for the cluster update (a long-running operation) to finish.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait when O(wait=true).
    type: int
    default: 1800
attributes:
  check_mode:
    support: full
    details: Reads the cluster and validates; writes nothing.
  diff_mode:
    support: full
    details: Before and after of both channels.
  idempotent:
    support: full
seealso:
  - module: nodepatch.kube.aks_maintenance_window
  - module: nodepatch.kube.aks_upgrade_info
  - name: Automatically upgrade an AKS cluster
    description: The channels and their behaviour.
    link: https://learn.microsoft.com/azure/aks/auto-upgrade-cluster
"""

EXAMPLES = r"""
- name: Follow stable Kubernetes releases and roll weekly node images
  nodepatch.kube.aks_upgrade_channel:
    resource_group: rg-prod
    cluster_name: aks-prod
    upgrade_channel: stable
    node_os_upgrade_channel: NodeImage

- name: Let the node OS patch itself; this collection's safe_reboot role does the reboots
  nodepatch.kube.aks_upgrade_channel:
    resource_group: rg-prod
    cluster_name: aks-prod
    node_os_upgrade_channel: Unmanaged
    wait: false

- name: Same, with a service principal from variables and a private cloud's endpoints
  nodepatch.kube.aks_upgrade_channel:
    auth_source: env
    subscription_id: "{{ azure_subscription_id }}"
    client_id: "{{ azure_client_id }}"
    secret: "{{ azure_secret }}"
    tenant: "{{ azure_tenant }}"
    resource_manager_url: https://management.example.internal
    authority_host: https://login.example.internal
    resource_group: rg-prod
    cluster_name: aks-prod
    upgrade_channel: patch
"""

RETURN = r"""
upgrade_channel:
  description: The cluster auto-upgrade channel after the task (null when the cluster has none set).
  returned: always
  type: str
  sample: stable
node_os_upgrade_channel:
  description: The node OS auto-upgrade channel after the task (null when the cluster has none set).
  returned: always
  type: str
  sample: NodeImage
previous:
  description: Both channels before the task.
  returned: always
  type: dict
  contains:
    upgrade_channel:
      description: Cluster auto-upgrade channel before, or null.
      type: str
      returned: always
    node_os_upgrade_channel:
      description: Node OS auto-upgrade channel before, or null.
      type: str
      returned: always
  sample: {upgrade_channel: patch, node_os_upgrade_channel: Unmanaged}
provisioning_state:
  description: The cluster's provisioning state after the task (V(Updating) while a change applies without wait).
  returned: always
  type: str
  sample: Succeeded
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.aks import NODE_OS_UPGRADE_CHANNELS, UPGRADE_CHANNELS
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_api import set_channels
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_module import AzureModule
from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError


def main() -> None:
    module = AzureModule(
        argument_spec={
            "upgrade_channel": {"type": "str", "choices": list(UPGRADE_CHANNELS)},
            "node_os_upgrade_channel": {"type": "str", "choices": list(NODE_OS_UPGRADE_CHANNELS)},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 1800},
        },
        required_one_of=[("upgrade_channel", "node_os_upgrade_channel")],
        supports_check_mode=True,
    )
    module.require_at_least(wait_timeout=0)
    p = module.params
    try:
        plan, state = set_channels(module.api, p["resource_group"], p["cluster_name"], p["upgrade_channel"],
                                   p["node_os_upgrade_channel"], module.check_mode, p["wait"], p["wait_timeout"])
    except NodepatchError as error:
        module.fail_from(error)
    for warning in plan.warnings:
        module.warn(warning)
    result = {"changed": plan.changed, **plan.after.as_dict(), "previous": plan.before.as_dict(), **state}
    module.exit_json(diff=DiffRecorder.between(plan.before.as_dict(), plan.after.as_dict()), **result)


if __name__ == "__main__":
    main()
