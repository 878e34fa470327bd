# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The objects the test bed creates in its cluster, and the inventory that describes its nodes to Ansible."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import node_exec
import yaml
from node_state import KERNEL_VERSION

from bed.api import Api
from bed.pki import kubeconfig_yaml
from bed.state import PATHS, REPO, TestbedError

RBAC_MANIFEST = REPO / "deploy" / "rbac.yml"
NODE_POOL = "nodepool1"
NODE_IMAGE_VERSION = "AKSUbuntu-2204gen2containerd-202311.07.0"
OS_IMAGE = "Ubuntu 22.04.3 LTS"
SA_NAMESPACE = "nodepatch-system"
SA_NAME = "nodepatch"
TOKEN_SECONDS = 365 * 24 * 3600

# Collection path of each kind the RBAC manifest may hold (namespaced paths take {ns}).
KIND_PATHS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


def apply_manifest(api: Api, path: Path) -> None:
    docs: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "List":  # one YAML document (yamllint's rule), many objects
            docs.extend(doc.get("items") or [])
        elif doc:
            docs.append(doc)
    for doc in docs:
        kind = doc["kind"]
        if kind not in KIND_PATHS:
            raise TestbedError(f"{path}: kind {kind} is not supported by the test bed's applier")
        collection = KIND_PATHS[kind].format(ns=doc["metadata"].get("namespace", "default"))
        status, payload = api.request("POST", collection, doc)
        if status == 409:  # already there (a namespace from a previous apply): replace it with ours
            name = doc["metadata"]["name"]
            current = api.get(f"{collection}/{name}")
            doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            api.call("PUT", f"{collection}/{name}", doc)
        elif status not in (200, 201):
            raise TestbedError(f"applying {kind} {doc['metadata']['name']} from {path}: HTTP {status}: {payload}")


def service_account_token(api: Api, namespace: str, name: str) -> str:
    """A one-year token of a ServiceAccount (TokenRequest)."""
    return str(api.call("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": TOKEN_SECONDS}})["status"]["token"])


# --------------------------------------------------------------------------------------------------- nodes


def node_names(count: int) -> list[str]:
    # AKS names VMSS instances with six base-36 digits: aks-<pool>-<hash>-vmss00000a.
    def base36(number: int) -> str:
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        text = ""
        while True:
            number, rest = divmod(number, 36)
            text = digits[rest] + text
            if number == 0:
                return text.rjust(6, "0")

    return [f"aks-{NODE_POOL}-31415926-vmss{base36(index)}" for index in range(count)]


def node_manifest(name: str, index: int, kube_version: str, kubelet_port: int) -> dict[str, Any]:
    zone = f"eastus-{index % 3 + 1}"
    labels = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/role": "agent",
        "node.kubernetes.io/instance-type": "Standard_D4s_v3",
        "topology.kubernetes.io/region": "eastus",
        "topology.kubernetes.io/zone": zone,
        "agentpool": NODE_POOL,
        "kubernetes.azure.com/agentpool": NODE_POOL,
        "kubernetes.azure.com/mode": "system",
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/os-sku": "Ubuntu",
        "kubernetes.azure.com/node-image-version": NODE_IMAGE_VERSION,
        "type": "kwok",
    }
    resources = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "120Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"}},
        "spec": {"providerID": f"azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                               f"mc_nodepatch/providers/Microsoft.Compute/virtualMachineScaleSets/"
                               f"aks-{NODE_POOL}-31415926-vmss/virtualMachines/{index}"},
        "status": {
            # Loopback only: the API server dials this address for exec and logs (see node_exec.py).
            "addresses": [{"type": "InternalIP", "address": node_exec.NODE_ADDRESS},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": "containerd://1.7.5-1",
                "kernelVersion": KERNEL_VERSION,
                "kubeProxyVersion": f"v{kube_version}",
                "kubeletVersion": f"v{kube_version}",
                "machineID": uuid.uuid4().hex,
                "operatingSystem": "linux",
                "osImage": OS_IMAGE,
                "systemUUID": str(uuid.uuid4()),
            },
        },
    }


def kured_daemonset() -> dict[str, Any]:
    # Only the object matters (it carries kured's lock annotation); its pods are kwok-simulated like any
    # DaemonSet's, so drains meet a kured pod on every node as they would on a real cluster.
    labels = {"name": "kured"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kured", "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostPID": True,
                    "restartPolicy": "Always",
                    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "kured",
                        "image": "ghcr.io/kubereboot/kured:1.17.1",
                        "command": ["/usr/bin/kured", "--period=1h", "--reboot-command=/bin/true"],
                        "env": [{"name": "KURED_NODE_ID",
                                 "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    }],
                },
            },
        },
    }


def populate(api: Api, api_url: str, names: list[str], kube_version: str, kubelet_port: int,
             fault_proxy_url: str) -> dict[str, Any]:
    """Nodes, each node's exec files, deploy/rbac.yml, kube-system/kured, the least-privilege kubeconfig (and
    the same identity through the fault proxy).

    Returns what testbed.json says about exec.
    """
    for index, name in enumerate(names):
        api.call("POST", "/api/v1/nodes", node_manifest(name, index, kube_version, kubelet_port))
    exec_info = node_exec.prepare(api, PATHS.root, names)
    apply_manifest(api, RBAC_MANIFEST)
    api.call("POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", kured_daemonset())
    token = service_account_token(api, SA_NAMESPACE, SA_NAME)
    PATHS.kubeconfig.write_text(kubeconfig_yaml(api_url, PATHS.pki / "ca.crt", {"token": token}, "nodepatch-testbed"))
    PATHS.kubeconfig.chmod(0o600)
    PATHS.fault_kubeconfig.write_text(kubeconfig_yaml(fault_proxy_url, PATHS.pki / "ca.crt", {"token": token},
                                                      "nodepatch-testbed-fault-proxy"))
    PATHS.fault_kubeconfig.chmod(0o600)
    return exec_info


# --------------------------------------------------------------------------------------------------- inventory


def write_inventory(info: dict[str, Any]) -> None:
    reboot = info["reboot_command"]
    common = {
        "ansible_python_interpreter": sys.executable,
        "nodepatch_testbed_kubeconfig": info["kubeconfig"],
        "nodepatch_testbed_admin_kubeconfig": info["admin_kubeconfig"],
    }
    hosts: dict[str, Any] = {}
    for name in info["nodes"]:
        hosts[name] = {
            "ansible_connection": "local",
            "nodepatch_node_name": name,
            "nodepatch_sentinel_file": info["sentinels"][name],
            "nodepatch_testbed_reboot_command": f"{reboot} {name}",
        }
    ssh = info["ssh"]
    ssh_host = {
        "ssh-node": {
            "ansible_host": ssh["host"],
            "ansible_port": ssh["port"],
            "ansible_user": ssh["user"],
            "ansible_ssh_private_key_file": ssh["private_key"],
            # The test bed's own known_hosts holds its generated host key: checking stays on and passes.
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={ssh['known_hosts']} -o StrictHostKeyChecking=yes",
            "nodepatch_node_name": ssh["node"],
            "nodepatch_sentinel_file": info["sentinels"][ssh["node"]],
            "nodepatch_testbed_reboot_command": f"{reboot} {ssh['node']}",
        }
    }
    inventory = {
        "all": {
            "vars": common,
            "children": {
                "testbed_nodes": {"hosts": hosts},
                "testbed_ssh": {"hosts": ssh_host},
            },
        }
    }
    header = "# Written by tests/testbed/testbed up; one host per simulated node, plus ssh-node over real SSH.\n"
    PATHS.inventory.write_text(header + yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False, width=1000))
