#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: aks_node_image_upgrade
short_description: Upgrade AKS node pools to their latest node image
version_added: 0.1.0
description:
  - Starts a node image upgrade on every selected node pool of an Azure Kubernetes Service cluster whose node image
    is behind the latest one AKS offers it. AKS then reimages the pool's nodes, honouring the pool's surge settings.
  - Pools already on their latest image, and pools already upgrading, are left alone.
  - With O(wait=true) the module follows every started long-running operation until it finishes or
    O(wait_timeout) passes; the upgrades run in parallel.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.azure
  - nodepatch.kube.azure.cluster
  - nodepatch.kube.attributes
options:
  pools:
    description: Names of the node pools to upgrade; all pools when empty.
    type: list
    elements: str
    default: []
  wait:
    description: Wait for the upgrades to finish.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for all upgrades together when O(wait=true).
    type: int
    default: 3600
attributes:
  check_mode:
    support: full
    details: Reports which pools would be upgraded (RV(pools[].action=would_upgrade)); starts nothing.
  diff_mode:
    support: full
    details: Node image version of each selected pool before and after (the latest image for a started upgrade).
  idempotent:
    support: full
    details: A pool on its latest image is not touched again.
seealso:
  - module: nodepatch.kube.aks_upgrade_info
"""

EXAMPLES = r"""
- name: Bring every pool to its latest node image and wait
  nodepatch.kube.aks_node_image_upgrade:
    resource_group: rg-prod
    cluster_name: aks-prod

- name: Start the upgrade of one pool and move on
  nodepatch.kube.aks_node_image_upgrade:
    resource_group: rg-prod
    cluster_name: aks-prod
    pools: [user]
    wait: false
"""

RETURN = r"""
pools:
  description: One entry per selected pool.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Pool name.
      type: str
      returned: always
    os_type:
      description: V(Linux) or V(Windows).
      type: str
      returned: always
    node_image_version:
      description: Node image before the task.
      type: str
      returned: always
    latest_node_image_version:
      description: Latest node image available to the pool.
      type: str
      returned: always
    action:
      description:
        - V(up_to_date), V(in_progress) (an upgrade was already running), V(would_upgrade) (check mode),
          V(upgrade_started) (O(wait=false)) or V(upgraded).
      type: str
      returned: always
    node_image_version_after:
      description: Node image after the upgrade finished.
      type: str
      returned: when RV(pools[].action=upgraded)
  sample:
    - name: system
      os_type: Linux
      node_image_version: AKSUbuntu-2204gen2containerd-202509.10.0
      latest_node_image_version: AKSUbuntu-2204gen2containerd-202511.07.0
      action: upgraded
      node_image_version_after: AKSUbuntu-2204gen2containerd-202511.07.0
upgraded:
  description: Names of the pools upgraded, started, or (check mode) that would be.
  returned: success
  type: list
  elements: str
  sample: [system]
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.aks_api import upgrade_node_images
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_module import AzureModule
from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

CHANGING = ("would_upgrade", "upgrade_started", "upgraded")


def main() -> None:
    module = AzureModule(
        argument_spec={
            "pools": {"type": "list", "elements": "str", "default": []},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 3600},
        },
        supports_check_mode=True,
    )
    module.require_at_least(wait_timeout=0)
    p = module.params
    try:
        pools = upgrade_node_images(module.api, p["resource_group"], p["cluster_name"], p["pools"] or None,
                                    module.check_mode, p["wait"], p["wait_timeout"])
    except NodepatchError as error:
        module.fail_from(error)
    upgraded = [pool["name"] for pool in pools if pool["action"] in CHANGING]
    result = {"changed": bool(upgraded), "pools": pools, "upgraded": upgraded}
    diff = DiffRecorder({pool["name"]: pool["node_image_version"] for pool in pools})
    diff.update({pool["name"]: pool.get("node_image_version_after") or (
        pool["latest_node_image_version"] if pool["action"] in CHANGING else pool["node_image_version"])
        for pool in pools})
    module.exit_json(diff=diff, **result)


if __name__ == "__main__":
    main()
