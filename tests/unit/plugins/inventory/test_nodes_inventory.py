# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nodes inventory: which groups a node lands in, which files the plugin claims, hosts and variables."""

from __future__ import annotations

import typing as t

import pytest
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19 trusts every template string; the declared floor is 2.17
    def trust_as_template(value: str) -> str:
        return value

from ansible_collections.nodepatch.kube.plugins.inventory import nodes as plugin
from ansible_collections.nodepatch.kube.plugins.inventory.nodes import InventoryModule, api_connection_vars, node_groups

FACTS = [
    {"name": "aks-1", "ready": True, "unschedulable": False, "agent_pool": "nodepool1", "os": "linux",
     "zone": "eastus-1", "roles": ["agent"], "internal_ip": "10.224.0.4", "kernel_version": "5.15.0-1051-azure"},
    {"name": "aks-2", "ready": False, "unschedulable": True, "agent_pool": None, "os": "windows", "zone": None,
     "roles": [], "internal_ip": None, "kernel_version": "10.0.20348"},
]


def test_groups_by_readiness_scheduling_pool_os_zone_and_role() -> None:
    assert node_groups(FACTS[0]) == ["ready", "schedulable", "pool_nodepool1", "os_linux", "zone_eastus-1",
                                     "role_agent"]
    assert node_groups(FACTS[1]) == ["not_ready", "unschedulable", "os_windows"]


@pytest.mark.parametrize("name, claimed", [("prod.nodes.yml", True), ("prod.nodes.yaml", True),
                                           ("prod.yml", False), ("nodes.yml", False)])
def test_only_nodes_config_files_are_claimed(tmp_path: t.Any, name: str, claimed: bool) -> None:
    path = tmp_path / name
    path.write_text("plugin: nodepatch.kube.nodes\n")
    assert InventoryModule().verify_file(str(path)) is claimed


def test_populate_builds_hosts_groups_and_prefixed_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    """Options are given directly here; the real configuration file path runs in the integration test
    (ansible-inventory against the test bed)."""
    options: dict[str, t.Any] = {
        "host": "https://127.0.0.1:1", "api_key": "x", "label_selector": "kubernetes.io/os=linux",
        "fact_prefix": "nodepatch_", "ansible_host_from_internal_ip": True, "strict": False, "node_connection": "ssh",
        # Expressions from a configuration file are trusted templates; these are marked the same way.
        "keyed_groups": [{"key": trust_as_template("nodepatch_kernel_version"), "prefix": "kernel"}],
        "groups": {"drain_first": trust_as_template("nodepatch_unschedulable")},
        "compose": {"pool": trust_as_template("nodepatch_agent_pool")},
        "leading_separator": True, "use_extra_vars": False,
    }
    seen: dict[str, t.Any] = {}

    def fake_list(client: t.Any, names: t.Sequence[str] = (), label_selector: str | None = None) -> list[dict[str, t.Any]]:
        seen.update(host=client.host, selector=label_selector)
        return [dict(facts) for facts in FACTS]

    monkeypatch.setattr(plugin, "list_nodes", fake_list)
    loader = DataLoader()
    module = InventoryModule()
    module.get_option = lambda name, hostvars=None: options.get(name)  # type: ignore[method-assign]
    module.inventory = InventoryData()
    module.loader = loader
    module.templar = Templar(loader=loader)
    module._populate(module._fetch())  # pylint: disable=protected-access
    inventory = module.inventory
    assert seen == {"host": "https://127.0.0.1:1", "selector": "kubernetes.io/os=linux"}
    assert set(inventory.hosts) == {"aks-1", "aks-2"}
    aks1 = inventory.get_host("aks-1").vars
    assert aks1["ansible_host"] == "10.224.0.4" and aks1["nodepatch_zone"] == "eastus-1"
    assert aks1["pool"] == "nodepool1"
    assert "ansible_host" not in inventory.get_host("aks-2").vars
    groups = inventory.groups
    assert {host.name for host in groups["ready"].get_hosts()} == {"aks-1"}
    assert {host.name for host in groups["unschedulable"].get_hosts()} == {"aks-2"}
    assert {host.name for host in groups["drain_first"].get_hosts()} == {"aks-2"}
    assert "zone_eastus_1" in groups and "pool_nodepool1" in groups and "role_agent" in groups
    assert any(name.startswith("kernel_5_15_0") for name in groups)


def test_the_api_connection_gets_the_inventorys_options_but_not_its_token() -> None:
    options = {"kubeconfig": "/etc/kube/prod", "context": "prod", "host": None, "api_key": "secret-token",
               "validate_certs": False, "ca_cert": None, "client_cert": None, "client_key": None, "proxy": None}
    assert api_connection_vars("aks-1", options) == {
        "ansible_connection": "nodepatch.kube.node", "nodepatch_node_name": "aks-1",
        "nodepatch_kube_kubeconfig": "/etc/kube/prod", "nodepatch_kube_context": "prod",
        "nodepatch_kube_validate_certs": False}
