# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nodepatch.kube.aks_upgrade_channel through the real Azure SDK against the ARM emulator."""

from __future__ import annotations

import copy
from typing import Any

import pytest

CLUSTER_PATH = "/managedClusters/aks-linux"


def cluster_puts(emulator: Any) -> list[dict[str, Any]]:
    return [r for r in emulator.writes()
            if r["method"] == "PUT" and r["path"].rsplit("/", 2)[1] == "managedClusters"]


def warnings_text(result: dict[str, Any]) -> str:
    parts = []
    for warning in result.get("warnings", []):
        parts.append(warning["event"]["msg"] if isinstance(warning, dict) else str(warning))
    return "\n".join(parts)


def test_channel_change_writes_only_the_auto_upgrade_profile(aks: Any, emulator: Any) -> None:
    before = emulator.cluster_body("rg-linux", "aks-linux")
    result = aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux",
                 upgrade_channel="patch", node_os_upgrade_channel="Unmanaged")
    assert result["changed"] is True, result
    assert (result["upgrade_channel"], result["node_os_upgrade_channel"]) == ("patch", "Unmanaged")
    assert result["previous"] == {"upgrade_channel": "stable", "node_os_upgrade_channel": "NodeImage"}
    assert result["provisioning_state"] == "Succeeded"

    puts = cluster_puts(emulator)
    assert len(puts) == 1
    sent = puts[0]["body"]
    expected = copy.deepcopy(before)
    expected["properties"]["autoUpgradeProfile"] = {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "Unmanaged"}
    assert sent == expected  # every other field, the unknown futureFeatureProfile included, exactly as read
    assert sent["properties"]["futureFeatureProfile"] == {"enabled": True, "mode": "Preview",
                                                          "notes": ["unknown to this SDK"]}
    assert puts[0]["if_match"].strip('"') == before["eTag"]  # optimistic concurrency on the eTag that was read
    after = emulator.cluster_body("rg-linux", "aks-linux")
    assert after["properties"]["autoUpgradeProfile"] == expected["properties"]["autoUpgradeProfile"]
    text = warnings_text(result)
    assert "reimages (rolls) the nodes" in text and "24 hours" in text and "safe_reboot" in text


def test_second_run_is_unchanged_and_writes_nothing(aks: Any, emulator: Any) -> None:
    aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux", upgrade_channel="rapid")
    emulator.requests.clear()
    again = aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux", upgrade_channel="rapid")
    assert again["changed"] is False
    assert emulator.writes() == []


def test_check_mode_reports_the_change_and_writes_nothing(aks: Any, emulator: Any) -> None:
    result = aks("aks_upgrade_channel", check=True, diff=True, resource_group="rg-linux", cluster_name="aks-linux",
                 node_os_upgrade_channel="SecurityPatch")
    assert result["changed"] is True
    assert result["diff"] == {"before": {"upgrade_channel": "stable", "node_os_upgrade_channel": "NodeImage"},
                              "after": {"upgrade_channel": "stable", "node_os_upgrade_channel": "SecurityPatch"}}
    assert emulator.writes() == []
    assert emulator.cluster_body("rg-linux", "aks-linux")["properties"]["autoUpgradeProfile"]["nodeOSUpgradeChannel"] \
        == "NodeImage"


def test_diff_without_change_has_equal_sides(aks: Any) -> None:
    result = aks("aks_upgrade_channel", diff=True, resource_group="rg-linux", cluster_name="aks-linux",
                 upgrade_channel="stable")
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]


def test_cluster_without_auto_upgrade_profile_gets_one(aks: Any, emulator: Any) -> None:
    info = aks("aks_upgrade_info", resource_group="rg-legacy", cluster_name="aks-legacy")
    assert info["cluster"]["upgrade_channel"] is None and info["cluster"]["node_os_upgrade_channel"] is None
    before = emulator.cluster_body("rg-legacy", "aks-legacy")
    assert "autoUpgradeProfile" not in before["properties"]
    result = aks("aks_upgrade_channel", diff=True, resource_group="rg-legacy", cluster_name="aks-legacy",
                 upgrade_channel="stable", node_os_upgrade_channel="NodeImage")
    assert result["changed"] is True
    assert result["diff"]["before"] == {"upgrade_channel": None, "node_os_upgrade_channel": None}
    sent = cluster_puts(emulator)[0]["body"]
    expected = copy.deepcopy(before)
    expected["properties"]["autoUpgradeProfile"] = {"upgradeChannel": "stable", "nodeOSUpgradeChannel": "NodeImage"}
    assert sent == expected
    assert aks("aks_upgrade_channel", resource_group="rg-legacy", cluster_name="aks-legacy",
               upgrade_channel="stable", node_os_upgrade_channel="NodeImage")["changed"] is False


def test_node_image_adopts_node_image_os_channel(aks: Any, emulator: Any) -> None:
    result = aks("aks_upgrade_channel", resource_group="rg-mixed", cluster_name="aks-windows",
                 upgrade_channel="node-image")
    assert result["changed"] is True
    assert result["node_os_upgrade_channel"] == "NodeImage"
    assert "forces the node OS channel NodeImage" in warnings_text(result)
    profile = emulator.cluster_body("rg-mixed", "aks-windows")["properties"]["autoUpgradeProfile"]
    assert profile == {"upgradeChannel": "node-image", "nodeOSUpgradeChannel": "NodeImage"}


@pytest.mark.parametrize(("cluster", "options", "message"), [
    (("rg-linux", "aks-linux"), {"upgrade_channel": "node-image", "node_os_upgrade_channel": "Unmanaged"},
     "upgrade_channel=node-image requires node_os_upgrade_channel=NodeImage, not Unmanaged"),
    (("rg-mixed", "aks-windows"), {"node_os_upgrade_channel": "SecurityPatch"},
     "node_os_upgrade_channel=SecurityPatch is not supported on Windows node pools (win22)"),
    (("rg-linux", "aks-linux"), {"upgrade_channel": "weekly"}, "value of upgrade_channel must be one of: none, patch"),
    (("rg-linux", "aks-linux"), {"node_os_upgrade_channel": "Patch"},
     "value of node_os_upgrade_channel must be one of: None, Unmanaged, SecurityPatch, NodeImage"),
    (("rg-linux", "aks-linux"), {}, "one of the following is required: upgrade_channel, node_os_upgrade_channel"),
])
def test_validation_errors_write_nothing(aks: Any, emulator: Any, cluster: tuple[str, str], options: dict[str, str],
                                         message: str) -> None:
    result = aks("aks_upgrade_channel", resource_group=cluster[0], cluster_name=cluster[1], **options)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert emulator.writes() == []


def test_node_os_channel_locked_while_cluster_channel_is_node_image(aks: Any, emulator: Any) -> None:
    aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux", upgrade_channel="node-image")
    emulator.requests.clear()
    result = aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux",
                 node_os_upgrade_channel="Unmanaged")
    assert result["failed"] is True
    assert "cannot be set while the cluster's upgrade_channel is node-image" in result["msg"]
    assert "managedCluster rg-linux/aks-linux" in result["msg"]
    assert emulator.writes() == []


def test_unmanaged_on_windows_warns_it_behaves_as_none(aks: Any) -> None:
    result = aks("aks_upgrade_channel", resource_group="rg-mixed", cluster_name="aks-windows",
                 node_os_upgrade_channel="Unmanaged", upgrade_channel="stable")
    assert result["changed"] is True
    assert "behaves as None on the Windows node pools win22" in warnings_text(result)


def test_no_wait_returns_while_the_update_runs(aks: Any, emulator: Any) -> None:
    emulator.operation_polls = 1000
    result = aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux", upgrade_channel="patch",
                 wait=False)
    assert result["changed"] is True and result["provisioning_state"] == "Updating"
    assert not [r for r in emulator.requests if "/operations/" in r["path"]]  # nothing polled


def test_wait_timeout_names_the_running_operation(aks: Any, emulator: Any) -> None:
    emulator.operation_polls = 100000
    result = aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux", upgrade_channel="patch",
                 wait_timeout=1)
    assert result["failed"] is True
    assert "the update of managed cluster aks-linux did not finish within the timeout" in result["msg"]
    assert "continues in Azure" in result["msg"]


def test_concurrent_write_is_retried_on_a_fresh_read(aks: Any, emulator: Any) -> None:
    emulator.fail_next_cluster_put = 412
    result = aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux", upgrade_channel="rapid")
    assert result["changed"] is True, result
    gets = [r for r in emulator.arm_requests() if r["method"] == "GET" and r["path"].endswith(CLUSTER_PATH)]
    assert len(cluster_puts(emulator)) == 2 and len(gets) >= 2


def test_missing_cluster_says_which_and_what_to_check(aks: Any, emulator: Any) -> None:
    result = aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="nope", upgrade_channel="patch")
    assert result["failed"] is True
    assert "managedCluster rg-linux/nope" in result["msg"] and "HTTP 404" in result["msg"]
    assert "check resource_group, cluster_name and subscription_id" in result["msg"]
    assert emulator.writes() == []


def test_name_alias_and_module_output_never_contain_the_secret(aks: Any) -> None:
    result = aks("aks_upgrade_channel", resource_group="rg-linux", name="aks-linux", upgrade_channel="stable")
    assert result["changed"] is False
    assert result["invocation"]["module_args"]["secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_server_error_on_the_put_is_retried_by_the_sdk(aks: Any, emulator: Any) -> None:
    emulator.fail_next_cluster_put = 500
    result = aks("aks_upgrade_channel", resource_group="rg-linux", cluster_name="aks-linux", upgrade_channel="patch")
    assert result["changed"] is True, result
    assert len(cluster_puts(emulator)) == 2
