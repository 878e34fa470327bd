# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nodepatch.kube.aks_upgrade_info and aks_node_image_upgrade through the real Azure SDK against the ARM emulator."""

from __future__ import annotations

from typing import Any


def test_info_reports_channels_versions_pools_and_windows(aks: Any, emulator: Any, seeds: Any) -> None:
    result = aks("aks_upgrade_info", check=True, resource_group="rg-mixed", cluster_name="aks-windows")
    assert result["changed"] is False
    cluster = result["cluster"]
    assert (cluster["upgrade_channel"], cluster["node_os_upgrade_channel"]) == ("patch", "Unmanaged")
    assert cluster["kubernetes_version"] == seeds.KUBERNETES_VERSION
    assert cluster["available_upgrades"] == ["1.33.5", "1.34.1"]
    pools = {p["name"]: p for p in cluster["pools"]}
    assert pools["win22"]["os_type"] == "Windows" and pools["win22"]["os_sku"] == "Windows2022"
    assert pools["win22"]["mode"] == "User"
    assert pools["win22"]["node_image_version"] == seeds.WINDOWS_OLD
    assert pools["win22"]["latest_node_image_version"] == seeds.WINDOWS_NEW
    assert pools["system"]["node_image_upgrade_available"] is True
    assert cluster["node_image_upgrades_available"] == ["system", "win22"]
    assert cluster["maintenance_configurations"] == []
    assert emulator.writes() == []


def test_info_on_a_cluster_without_profile_has_null_channels(aks: Any) -> None:
    cluster = aks("aks_upgrade_info", resource_group="rg-legacy", cluster_name="aks-legacy")["cluster"]
    assert cluster["upgrade_channel"] is None and cluster["node_os_upgrade_channel"] is None
    assert cluster["auto_upgrade_profile_present"] is False
    assert cluster["maintenance_configurations"][0]["config_name"] == "default"
    assert cluster["maintenance_configurations"][0]["time_in_week"] == [{"day": "Saturday", "hourSlots": [1, 2, 3, 4]}]


def test_info_can_skip_pools_and_maintenance(aks: Any, emulator: Any) -> None:
    cluster = aks("aks_upgrade_info", resource_group="rg-linux", cluster_name="aks-linux", pools=False,
                  maintenance=False)["cluster"]
    assert "pools" not in cluster and "maintenance_configurations" not in cluster
    assert not [r for r in emulator.arm_requests() if "/agentPools" in r["path"] or "/maintenance" in r["path"]]


def test_check_mode_names_the_pools_that_would_change(aks: Any, emulator: Any, seeds: Any) -> None:
    result = aks("aks_node_image_upgrade", check=True, diff=True, resource_group="rg-linux", cluster_name="aks-linux")
    assert result["changed"] is True
    assert result["upgraded"] == ["system"]
    actions = {p["name"]: p["action"] for p in result["pools"]}
    assert actions == {"system": "would_upgrade", "user": "up_to_date"}
    assert result["diff"]["after"]["system"] == seeds.UBUNTU_NEW
    assert emulator.writes() == []


def test_upgrade_waits_for_the_operation_and_is_idempotent(aks: Any, emulator: Any, seeds: Any) -> None:
    emulator.operation_polls = 3
    result = aks("aks_node_image_upgrade", resource_group="rg-mixed", cluster_name="aks-windows")
    assert result["changed"] is True, result
    pools = {p["name"]: p for p in result["pools"]}
    assert pools["system"]["action"] == "upgraded" and pools["system"]["node_image_version_after"] == seeds.UBUNTU_NEW
    assert pools["win22"]["node_image_version_after"] == seeds.WINDOWS_NEW
    posts = [r["path"].rsplit("/", 2)[1] for r in emulator.writes() if r["path"].endswith("/upgradeNodeImageVersion")]
    assert sorted(posts) == ["system", "win22"]
    polls = [r for r in emulator.requests if "/operations/" in r["path"]]
    assert len(polls) >= 2 * 3
    emulator.requests.clear()
    again = aks("aks_node_image_upgrade", resource_group="rg-mixed", cluster_name="aks-windows")
    assert again["changed"] is False and {p["action"] for p in again["pools"]} == {"up_to_date"}
    assert emulator.writes() == []


def test_named_pool_only(aks: Any, emulator: Any) -> None:
    result = aks("aks_node_image_upgrade", resource_group="rg-mixed", cluster_name="aks-windows", pools=["win22"])
    assert [p["name"] for p in result["pools"]] == ["win22"]
    assert [r["path"].rsplit("/", 2)[1] for r in emulator.writes()] == ["win22"]


def test_unknown_pool_lists_the_pools_and_writes_nothing(aks: Any, emulator: Any) -> None:
    result = aks("aks_node_image_upgrade", resource_group="rg-linux", cluster_name="aks-linux", pools=["gpu"])
    assert result["failed"] is True
    assert "agent pool(s) gpu not found" in result["msg"] and "pools of this cluster: system, user" in result["msg"]
    assert emulator.writes() == []


def test_no_wait_starts_and_returns(aks: Any, emulator: Any) -> None:
    emulator.operation_polls = 1000
    result = aks("aks_node_image_upgrade", resource_group="rg-linux", cluster_name="aks-linux", wait=False)
    assert result["changed"] is True and result["pools"][0]["action"] == "upgrade_started"
    assert not [r for r in emulator.requests if "/operations/" in r["path"]]
    # A second run sees the upgrade in progress and leaves it alone.
    emulator.requests.clear()
    again = aks("aks_node_image_upgrade", resource_group="rg-linux", cluster_name="aks-linux", pools=["system"])
    assert again["changed"] is False and again["pools"][0]["action"] == "in_progress"
    assert emulator.writes() == []


def test_wait_timeout_fails_naming_the_pool(aks: Any, emulator: Any) -> None:
    emulator.operation_polls = 100000
    result = aks("aks_node_image_upgrade", resource_group="rg-linux", cluster_name="aks-linux", wait_timeout=1)
    assert result["failed"] is True
    assert "the node image upgrade of agent pool system did not finish within the timeout" in result["msg"]
