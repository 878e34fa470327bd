# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nodes
short_description: A Kubernetes cluster's nodes as inventory hosts
version_added: 0.1.0
description:
  - One host per node of the cluster (optionally only nodes matching O(label_selector)), reached through the
    Kubernetes API by default (O(node_connection)), or over SSH at the node's InternalIP.
  - Groups by agent pool (C(pool_<name>)), operating system (C(os_<os>)), zone (C(zone_<zone>)), role
    (C(role_<role>)), readiness (C(ready) or C(not_ready)) and scheduling (C(schedulable) or C(unschedulable)).
    Group names are sanitised like every Ansible group name.
  - Host variables carry the node facts of M(nodepatch.kube.node_info), prefixed with C(nodepatch_) (for example
    C(nodepatch_boot_id), C(nodepatch_kernel_version), C(nodepatch_node_image_version)).
  - The configuration file's name must end with C(.nodes.yml) or C(.nodes.yaml).
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube.inventory
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; it makes the file a configuration of it.
    required: true
    type: str
    choices: [nodepatch.kube.nodes]
  label_selector:
    description: Only nodes matching this label selector, for example C(agentpool=nodepool1).
    type: str
  fact_prefix:
    description: Prefix of the host variables holding the node facts.
    type: str
    default: nodepatch_
  node_connection:
    description:
      - How playbooks reach the nodes' hosts.
      - V(api) sets C(ansible_connection=nodepatch.kube.node) and C(nodepatch_node_name) for every host, and the
        connection's Kubernetes options (C(nodepatch_kube_kubeconfig), C(nodepatch_kube_context), ...) from this
        inventory's own options, so that C(ansible-playbook) reaches every node with nothing but the kubeconfig,
        through the API server (see the C(nodepatch.kube.node) connection). O(api_key) is not copied into host
        variables, which C(ansible-inventory --list) would show; give the token through E(K8S_AUTH_API_KEY), which
        the connection reads too, or through the kubeconfig.
      - V(ssh) leaves the connection to Ansible's defaults and sets C(ansible_host) to the node's InternalIP (see
        O(ansible_host_from_internal_ip)), for controllers that can reach the node VMs.
    type: str
    choices: [api, ssh]
    default: api
  ansible_host_from_internal_ip:
    description:
      - With O(node_connection=ssh), set C(ansible_host) to the node's InternalIP; without one, the node name stays
        the address.
    type: bool
    default: true
"""

EXAMPLES = r"""
# cluster.nodes.yml: every node reached through the Kubernetes API (the default, node_connection: api)
#   ansible-playbook -i cluster.nodes.yml nodepatch.kube.patch_and_reboot
plugin: nodepatch.kube.nodes
kubeconfig: ~/.kube/config
label_selector: kubernetes.io/os=linux
keyed_groups:
  - key: nodepatch_node_image_version
    prefix: image
groups:
  drain_first: nodepatch_unschedulable

# ssh.nodes.yml: over SSH to the nodes' InternalIPs, where the controller can reach the VMs
plugin: nodepatch.kube.nodes
node_connection: ssh
compose:
  ansible_user: "'azureuser'"
"""

import typing as t

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, KubeClient
from ansible_collections.nodepatch.kube.plugins.module_utils.nodes import list_nodes

CONNECTION_OPTIONS = ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert",
                      "client_key", "proxy")
# The options the nodepatch.kube.node connection gets as host variables; the token stays out of them.
API_CONNECTION_OPTIONS = tuple(option for option in CONNECTION_OPTIONS if option != "api_key")


def api_connection_vars(name: str, options: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Host variables that make a node reachable through the nodepatch.kube.node connection."""
    found = {"ansible_connection": "nodepatch.kube.node", "nodepatch_node_name": name}
    found.update({f"nodepatch_kube_{option}": options[option] for option in API_CONNECTION_OPTIONS
                  if options.get(option) is not None})
    return found


def node_groups(facts: t.Mapping[str, t.Any]) -> list[str]:
    """The plugin's own groups for one node, before sanitising."""
    groups = ["ready" if facts.get("ready") else "not_ready",
              "unschedulable" if facts.get("unschedulable") else "schedulable"]
    if facts.get("agent_pool"):
        groups.append(f"pool_{facts['agent_pool']}")
    if facts.get("os"):
        groups.append(f"os_{facts['os']}")
    if facts.get("zone"):
        groups.append(f"zone_{facts['zone']}")
    groups.extend(f"role_{role}" for role in facts.get("roles") or [])
    return groups


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "nodepatch.kube.nodes"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith((".nodes.yml", ".nodes.yaml"))

    def parse(self, inventory: t.Any, loader: t.Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        nodes = None
        if use_cache:
            try:
                nodes = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if nodes is None:
            nodes = self._fetch()
        if update_cache:
            self._cache[cache_key] = nodes
        self._populate(nodes)

    def _fetch(self) -> list[dict[str, t.Any]]:
        if not HAS_KUBERNETES:
            raise AnsibleError("the nodepatch.kube.nodes inventory needs the kubernetes Python library: "
                               f"{KUBERNETES_IMPORT_ERROR}")
        params = self._auth_options()
        try:
            return list_nodes(KubeClient.from_params(params, agent="inventory-nodes"), label_selector=self.get_option("label_selector"))
        except NodepatchError as error:
            raise AnsibleError(f"nodepatch.kube.nodes: {error}") from error

    def _auth_options(self) -> dict[str, t.Any]:
        return {option: self.get_option(option) for option in CONNECTION_OPTIONS}

    def _populate(self, nodes: list[dict[str, t.Any]]) -> None:
        prefix = self.get_option("fact_prefix")
        strict = self.get_option("strict")
        for facts in nodes:
            name = facts["name"]
            self.inventory.add_host(name)
            for group in node_groups(facts):
                group_name = self._sanitize_group_name(group)
                self.inventory.add_group(group_name)
                self.inventory.add_child(group_name, name)
            hostvars = {f"{prefix}{key}": value for key, value in facts.items()}
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            if self.get_option("node_connection") == "ssh":
                if self.get_option("ansible_host_from_internal_ip") and facts.get("internal_ip"):
                    self.inventory.set_variable(name, "ansible_host", facts["internal_ip"])
            else:
                for key, value in api_connection_vars(name, self._auth_options()).items():
                    self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
