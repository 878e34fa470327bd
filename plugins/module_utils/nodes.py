# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node facts as the reboot cares about them, and waiting for a node to be back with a new boot id."""

from __future__ import annotations

import time
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.drain import cordoned_before
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import NODES, KubeClient
from ansible_collections.nodepatch.kube.plugins.module_utils.watch import follow

KURED_ANNOTATIONS = ("weave.works/kured-reboot-in-progress", "weave.works/kured-most-recent-reboot-needed")
OWN_PREFIX = "nodepatch.kube/"
ROLE_PREFIX = "node-role.kubernetes.io/"
AGENT_POOL_LABELS = ("kubernetes.azure.com/agentpool", "agentpool")
NODE_IMAGE_LABEL = "kubernetes.azure.com/node-image-version"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")


def first_label(labels: t.Mapping[str, str], keys: t.Iterable[str]) -> str | None:
    return next((labels[key] for key in keys if labels.get(key)), None)


def node_facts(node: t.Any) -> dict[str, t.Any]:
    """What `kubectl get nodes -o wide` shows, plus boot id, AKS image and pool, and the reboot annotations."""
    labels = dict(node.metadata.labels or {})
    annotations = dict(node.metadata.annotations or {})
    status = node.status
    info = status.node_info if status else None
    conditions = {condition.type: condition.status for condition in (status.conditions or [])} if status else {}
    addresses = {address.type: address.address for address in (status.addresses or [])} if status else {}
    unschedulable = bool(node.spec.unschedulable) if node.spec else False
    roles = sorted(key[len(ROLE_PREFIX):] for key in labels if key.startswith(ROLE_PREFIX))
    return {
        "name": node.metadata.name,
        "ready": conditions.get("Ready") == "True",
        "unschedulable": unschedulable,
        "was_unschedulable": cordoned_before(annotations, unschedulable),
        "kernel_version": info.kernel_version if info else None,
        "os_image": info.os_image if info else None,
        "architecture": labels.get("kubernetes.io/arch") or (info.architecture if info else None),
        "os": labels.get("kubernetes.io/os") or (info.operating_system if info else None),
        "kubelet_version": info.kubelet_version if info else None,
        "container_runtime": info.container_runtime_version if info else None,
        "boot_id": info.boot_id if info else None,
        "internal_ip": addresses.get("InternalIP"),
        "node_image_version": labels.get(NODE_IMAGE_LABEL),
        "agent_pool": first_label(labels, AGENT_POOL_LABELS),
        "zone": first_label(labels, ZONE_LABELS),
        "roles": roles or (["agent"] if first_label(labels, AGENT_POOL_LABELS) else []),
        "taints": [{"key": taint.key, "value": taint.value, "effect": taint.effect}
                   for taint in (node.spec.taints or [] if node.spec else [])],
        "labels": labels,
        "annotations": {key: value for key, value in annotations.items()
                        if key in KURED_ANNOTATIONS or key.startswith(OWN_PREFIX)},
    }


def list_nodes(client: KubeClient, names: t.Sequence[str] = (), label_selector: str | None = None) -> list[dict[str, t.Any]]:
    found = client.call(client.list, NODES, label_selector=label_selector or None, target="nodes", action="list")
    by_name = {node.metadata.name: node for node in found.items}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise NodepatchError(f"no node named {', '.join(missing)}", target="nodes",
                             hint=f"the cluster has {len(by_name)} node(s) matching the selector")
    chosen = [by_name[name] for name in names] if names else sorted(by_name.values(), key=lambda n: n.metadata.name)
    return [node_facts(node) for node in chosen]


def read_node(client: KubeClient, name: str) -> dict[str, t.Any]:
    """One node's facts with one GET, where list_nodes would list the whole cluster to pick one."""
    return node_facts(client.call(client.get, NODES, name, target=f"node/{name}", action="read"))


def is_back(facts: t.Mapping[str, t.Any], old_boot_id: str | None) -> bool:
    return bool(facts["ready"]) and (not old_boot_id or (facts["boot_id"] or "") != old_boot_id)


def wait_until_back(client: KubeClient, names: t.Sequence[str], old_boot_ids: t.Mapping[str, str], timeout: float) -> list[dict[str, t.Any]]:
    """Block until every named node is Ready (with a boot id other than the old one, where given), following one
    watch on the nodes rather than polling each."""
    deadline = time.monotonic() + timeout
    latest: dict[str, dict[str, t.Any]] = {}

    def on_list(items: list[t.Any]) -> None:
        by_name = {node.metadata.name: node for node in items}
        missing = [name for name in names if name not in by_name]
        if missing:
            raise NodepatchError(f"no node named {', '.join(missing)}", target="nodes",
                                 hint=f"the cluster has {len(by_name)} node(s) matching the selector")
        latest.update({name: node_facts(by_name[name]) for name in names})

    def on_event(_kind: str, node: t.Any) -> None:
        if node.metadata.name in latest:
            latest[node.metadata.name] = node_facts(node)

    def done() -> bool:
        return all(is_back(latest[name], old_boot_ids.get(name)) for name in names)

    selector = {"field_selector": f"metadata.name={names[0]}"} if len(names) == 1 else {}
    if follow(client, NODES, "nodes", "list", "watch", on_list, on_event, done, deadline, **selector):
        return [latest[name] for name in names]
    waiting = [name for name in names if not is_back(latest[name], old_boot_ids.get(name))]
    states = "; ".join(
        f"{name}: ready={latest[name]['ready']}, boot id {latest[name]['boot_id']}"
        + (" (unchanged)" if latest[name]["boot_id"] == old_boot_ids.get(name) else "") for name in waiting)
    raise NodepatchError(f"not back within {timeout:g} s: {states}", target="node/" + waiting[0],
                         hint="the node keeps the reboot lock; look at the machine, then re-run",
                         details={"nodes": list(latest.values())})
