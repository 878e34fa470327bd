# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Node facts from plain Node objects, and the wait that follows a watch until a node is back with a new boot id."""

from __future__ import annotations

import typing as t
from types import SimpleNamespace as NS

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.nodes import is_back, list_nodes, node_facts, wait_until_back
from ansible_collections.nodepatch.kube.tests.unit.plugins.module_utils.fake_kube import FakeKube


def node(name: str, ready: bool = True, boot_id: str = "boot-1", unschedulable: bool | None = None,
         labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> NS:
    return NS(
        metadata=NS(name=name, labels=labels if labels is not None else {
            "kubernetes.azure.com/agentpool": "nodepool1", "kubernetes.io/os": "linux",
            "kubernetes.azure.com/node-image-version": "AKSUbuntu-2204gen2containerd-202311.07.0",
            "topology.kubernetes.io/zone": "eastus-1"}, annotations=annotations or {}),
        spec=NS(unschedulable=unschedulable, taints=[NS(key="k", value=None, effect="NoSchedule")]),
        status=NS(conditions=[NS(type="MemoryPressure", status="False"), NS(type="Ready", status=str(ready))],
                  addresses=[NS(type="Hostname", address=name), NS(type="InternalIP", address="10.224.0.4")],
                  node_info=NS(kernel_version="5.15.0-1051-azure", os_image="Ubuntu 22.04.3 LTS",
                               operating_system="linux", architecture="amd64", kubelet_version="v1.36.3",
                               container_runtime_version="containerd://1.7.5-1", boot_id=boot_id)))


def test_facts_like_kubectl_wide_plus_reboot_facts() -> None:
    facts = node_facts(node("aks-1", unschedulable=True, annotations={
        "weave.works/kured-reboot-in-progress": "2026-11-23T00:00:00Z", "nodepatch.kube/was-unschedulable": "false",
        "unrelated": "x"}))
    assert facts["ready"] is True and facts["unschedulable"] is True
    assert facts["internal_ip"] == "10.224.0.4" and facts["boot_id"] == "boot-1"
    assert facts["node_image_version"] == "AKSUbuntu-2204gen2containerd-202311.07.0"
    assert facts["agent_pool"] == "nodepool1" and facts["zone"] == "eastus-1" and facts["os"] == "linux"
    assert facts["roles"] == ["agent"]
    assert facts["taints"] == [{"key": "k", "value": None, "effect": "NoSchedule"}]
    assert facts["annotations"] == {"weave.works/kured-reboot-in-progress": "2026-11-23T00:00:00Z",
                                    "nodepatch.kube/was-unschedulable": "false"}
    assert facts["kubelet_version"] == "v1.36.3" and facts["container_runtime"] == "containerd://1.7.5-1"


def test_roles_from_labels_and_the_older_agentpool_label() -> None:
    facts = node_facts(node("cp", labels={"node-role.kubernetes.io/control-plane": "", "agentpool": "sys"}))
    assert facts["roles"] == ["control-plane"] and facts["agent_pool"] == "sys" and facts["zone"] is None


def test_a_node_without_status_does_not_crash() -> None:
    bare = NS(metadata=NS(name="new", labels=None, annotations=None), spec=None, status=None)
    facts = node_facts(bare)
    assert facts["ready"] is False and facts["boot_id"] is None and facts["roles"] == []


@pytest.mark.parametrize("ready, boot_id, old, back", [
    (True, "b2", "b1", True), (True, "b1", "b1", False), (False, "b2", "b1", False), (True, "b1", None, True),
])
def test_back_means_ready_with_a_different_boot_id(ready: bool, boot_id: str, old: str | None, back: bool) -> None:
    assert is_back({"ready": ready, "boot_id": boot_id}, old) is back


class FakeClient(FakeKube):
    def __init__(self, nodes: list[NS], events: list[tuple[str, NS]] | None = None) -> None:
        super().__init__()
        self.nodes = nodes
        self.events = events
        self.watched: dict[str, t.Any] = {}
        self.watch_closed = False

    def list_nodes(self, **_kwargs: t.Any) -> NS:
        return NS(items=list(self.nodes), metadata=NS(resource_version="1"))

    def watch_nodes(self, **kwargs: t.Any) -> t.Iterator[tuple[str, NS]]:
        """Plays the given events, then ends like a server-side watch timeout."""
        assert self.events is not None, "no watch expected"
        self.watched = kwargs
        try:
            yield from self.events
        finally:
            self.watch_closed = True


def test_list_by_names_keeps_the_order_and_names_what_is_missing() -> None:
    client = FakeClient([node("b"), node("a")])
    assert [facts["name"] for facts in list_nodes(client)] == ["a", "b"]
    assert [facts["name"] for facts in list_nodes(client, ["b", "a"])] == ["b", "a"]
    with pytest.raises(NodepatchError, match="no node named c"):
        list_nodes(client, ["a", "c"])


def test_wait_follows_the_watch_until_ready_with_a_new_boot_id() -> None:
    client = FakeClient([node("n1", ready=False, boot_id="old")],
                        [("MODIFIED", node("n1", ready=True, boot_id="old")),
                         ("MODIFIED", node("n1", ready=False, boot_id="new")),
                         ("MODIFIED", node("n1", ready=True, boot_id="new")),
                         ("MODIFIED", node("n1", ready=False, boot_id="newer"))])
    result = wait_until_back(client, ["n1"], {"n1": "old"}, 30)
    assert result[0]["boot_id"] == "new" and client.watch_closed
    assert client.watched["field_selector"] == "metadata.name=n1"


def test_wait_returns_at_once_when_already_back() -> None:
    client = FakeClient([node("n1", boot_id="new")])
    assert wait_until_back(client, ["n1"], {"n1": "old"}, 30)


def test_wait_times_out_naming_the_node_and_its_unchanged_boot_id() -> None:
    client = FakeClient([node("n1", boot_id="old")], [])
    with pytest.raises(NodepatchError, match=r"not back within 0.2 s: n1: ready=True, boot id old \(unchanged\)"):
        wait_until_back(client, ["n1"], {"n1": "old"}, 0.2)


@pytest.mark.parametrize("unschedulable, mark, was", [
    (True, "false", False),  # cordoned by our drain, which found it schedulable: not an administrator's cordon
    (True, "true", True),
    (True, None, True),  # no mark of ours: somebody else's cordon
    (False, None, False),
    (False, "true", True),  # uncordoned by hand during our reboot: still an administrator's node to leave
])
def test_was_unschedulable_comes_from_our_mark_while_the_node_carries_it(
        unschedulable: bool, mark: str | None, was: bool) -> None:
    annotations = {"nodepatch.kube/was-unschedulable": mark} if mark is not None else {}
    facts = node_facts(node("aks-1", unschedulable=unschedulable, annotations=annotations))
    assert facts["unschedulable"] is unschedulable
    assert facts["was_unschedulable"] is was
