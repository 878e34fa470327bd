# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nodepatch.kube.nodes inventory against the test bed, with the least-privilege kubeconfig: ansible-inventory
lists the cluster's nodes, and a playbook targets the groups it builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.integration.conftest import PlaybookRunner, Testbed


def write_config(tmp_path: Path, testbed: Testbed, extra: str = "") -> Path:
    config = tmp_path / "testbed.nodes.yml"
    config.write_text(f"plugin: nodepatch.kube.nodes\nkubeconfig: {testbed.kubeconfig}\n"
                      f"label_selector: agentpool=nodepool1\n{extra}")
    return config


def inventory_list(config: Path, collections_root: Path) -> dict[str, Any]:
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(config), "--list"],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections_root),
                               "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"})
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout, object_hook=unwrap))


def unwrap(value: dict[str, Any]) -> Any:
    # Values that came from the cluster are untrusted (never templated): ansible-inventory marks them so.
    return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else value


def internal_ip(testbed: Testbed, name: str) -> str:
    return str(next(a.address for a in testbed.node(name).status.addresses if a.type == "InternalIP"))


def test_by_default_every_node_is_reached_through_the_api_with_the_inventorys_kubeconfig(
        tmp_path: Path, testbed: Testbed, collections_root: Path) -> None:
    hostvars = inventory_list(write_config(tmp_path, testbed), collections_root)["_meta"]["hostvars"]
    for name in testbed.nodes:
        assert hostvars[name]["ansible_connection"] == "nodepatch.kube.node"
        assert hostvars[name]["nodepatch_node_name"] == name
        assert hostvars[name]["nodepatch_kube_kubeconfig"] == testbed.kubeconfig
        assert "ansible_host" not in hostvars[name]


def test_over_ssh_nodes_become_hosts_at_their_internal_ip_with_groups_and_facts(
        tmp_path: Path, testbed: Testbed, collections_root: Path) -> None:
    config = write_config(tmp_path, testbed, "node_connection: ssh\n"
                                             "keyed_groups:\n  - key: nodepatch_node_image_version\n"
                                             "    prefix: image\ncompose:\n  kernel: nodepatch_kernel_version\n")
    listed = inventory_list(config, collections_root)
    hostvars = listed["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(testbed.nodes)
    for name in testbed.nodes:
        node = testbed.node(name)
        assert hostvars[name]["ansible_host"] == internal_ip(testbed, name)
        assert "ansible_connection" not in hostvars[name]
        assert hostvars[name]["nodepatch_boot_id"] == node.status.node_info.boot_id
        assert hostvars[name]["kernel"] == node.status.node_info.kernel_version
    assert sorted(listed["pool_nodepool1"]["hosts"]) == sorted(testbed.nodes)
    assert sorted(listed["os_linux"]["hosts"]) == sorted(testbed.nodes)
    assert sorted(listed["role_agent"]["hosts"]) == sorted(testbed.nodes)
    ready = set(listed.get("ready", {}).get("hosts", []))
    not_ready = set(listed.get("not_ready", {}).get("hosts", []))
    assert ready | not_ready == set(testbed.nodes) and not ready & not_ready
    assert any(group.startswith("zone_eastus") for group in listed)
    assert any(group.startswith("image_AKSUbuntu") for group in listed)


def test_a_playbook_targets_a_group_of_the_inventory(tmp_path: Path, testbed: Testbed,
                                                     run_playbook: PlaybookRunner) -> None:
    config = write_config(tmp_path, testbed, "node_connection: ssh\ncompose:\n  ansible_connection: \"'local'\"\n")
    playbook = tmp_path / "nodes.yml"
    playbook.write_text(
        "- hosts: pool_nodepool1\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: \"NODE {{ inventory_hostname }} {{ ansible_host }} "
        "{{ nodepatch_kernel_version }}\"\n")
    proc = run_playbook(playbook, inventory=config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in testbed.nodes:
        assert f"NODE {name} {internal_ip(testbed, name)} " in proc.stdout


def test_an_unreachable_cluster_is_a_readable_inventory_error(tmp_path: Path, collections_root: Path) -> None:
    config = tmp_path / "broken.nodes.yml"
    config.write_text("plugin: nodepatch.kube.nodes\nhost: https://127.0.0.1:1\napi_key: x\nvalidate_certs: false\n")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(config), "--list"],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections_root),
                               "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"})
    assert proc.returncode != 0
    assert "cannot reach the API server at https://127.0.0.1:1" in proc.stderr
