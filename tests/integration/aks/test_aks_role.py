# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role nodepatch.kube.aks_auto_upgrade and playbooks/aks_auto_upgrade.yml end to end against the ARM emulator."""

from __future__ import annotations

import re
from typing import Any

PLAYBOOK = "playbooks/aks_auto_upgrade.yml"


def clusters() -> list[dict[str, Any]]:
    return [
        {"resource_group": "rg-linux", "name": "aks-linux", "upgrade_channel": "patch",
         "node_os_upgrade_channel": "Unmanaged",
         "maintenance_windows": [
             {"config_name": "aksManagedAutoUpgradeSchedule", "state": "absent"},
             {"config_name": "aksManagedNodeOSUpgradeSchedule", "schedule": {"daily": {"interval_days": 1}},
              "duration_hours": 4, "start_time": "01:00", "utc_offset": "+01:00",
              "not_allowed_dates": [{"start": "2026-12-20", "end": "2027-01-03"}]}]},
        {"resource_group": "rg-legacy", "name": "aks-legacy", "upgrade_channel": "stable",
         "node_os_upgrade_channel": "NodeImage", "node_image_upgrade": True,
         "maintenance_windows": [
             {"config_name": "aksManagedNodeOSUpgradeSchedule",
              "schedule": {"relative_monthly": {"day_of_week": "Sunday", "week_index": "First"}},
              "duration_hours": 6, "start_time": "02:00"}]},
    ]


def recap_changed(stdout: str) -> int:
    match = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", stdout)
    assert match, stdout
    return int(match.group(1))


def extra_vars(emulator: Any, auth: dict[str, str], cluster_list: list[dict[str, Any]]) -> dict[str, Any]:
    return {"aks_auto_upgrade_auth": auth, "aks_auto_upgrade_clusters": cluster_list}


def test_playbook_applies_channels_and_windows_then_is_idempotent(
        run_playbook: Any, emulator: Any, auth: Any, azure_env: dict[str, str], seeds: Any) -> None:
    proc = run_playbook(PLAYBOOK, extra_vars(emulator, auth, clusters()), env=azure_env, args=("--diff", "-v"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert seeds.CLIENT_SECRET not in out
    linux = emulator.cluster_body("rg-linux", "aks-linux")["properties"]["autoUpgradeProfile"]
    assert linux == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "Unmanaged"}
    legacy = emulator.cluster_body("rg-legacy", "aks-legacy")
    assert legacy["properties"]["autoUpgradeProfile"] == {"upgradeChannel": "stable", "nodeOSUpgradeChannel": "NodeImage"}
    assert legacy["properties"]["agentPoolProfiles"][0]["nodeImageVersion"] == seeds.UBUNTU_NEW
    assert set(emulator.maintenance[("rg-linux", "aks-linux")]) == {"aksManagedNodeOSUpgradeSchedule"}
    # The table: a header and one line per cluster.
    assert re.search(r"CLUSTER\s+CHANNEL\s+NODE OS\s+VERSION\s+WINDOWS\s+IMAGE BEHIND\s+CHANGED\s+STATUS", out)
    assert re.search(r"rg-linux/aks-linux\s+patch\s+Unmanaged\s+1\.33\.2\s+aksManagedNodeOSUpgradeSchedule", out)
    assert re.search(r"rg-legacy/aks-legacy\s+stable\s+NodeImage .*image:nodepool1\s+changed", out)
    assert "Unmanaged install updates but are never rebooted" in out or "never rebooted by AKS" in out

    emulator.requests.clear()
    again = run_playbook(PLAYBOOK, extra_vars(emulator, auth, clusters()), env=azure_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert recap_changed(again.stdout) == 0
    assert emulator.writes() == []
    assert re.search(r'rg-linux/aks-linux\s+patch\s+Unmanaged\s.*\s-\s+ok"', again.stdout)


def test_check_mode_writes_nothing(run_playbook: Any, emulator: Any, auth: Any, azure_env: dict[str, str]) -> None:
    proc = run_playbook(PLAYBOOK, extra_vars(emulator, auth, clusters()), env=azure_env, args=("--check", "--diff"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap_changed(proc.stdout) > 0
    assert emulator.writes() == []


def test_a_failing_cluster_is_reported_and_the_others_still_run(
        run_playbook: Any, emulator: Any, auth: Any, azure_env: dict[str, str]) -> None:
    cluster_list = [
        {"resource_group": "rg-mixed", "name": "aks-windows", "node_os_upgrade_channel": "SecurityPatch"},
        {"resource_group": "rg-linux", "name": "aks-linux", "upgrade_channel": "rapid"},
    ]
    proc = run_playbook(PLAYBOOK, extra_vars(emulator, auth, cluster_list), env=azure_env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.search(r"rg-mixed/aks-windows\s+-\s+-\s+.*failed", out)
    assert "not supported on Windows node pools (win22)" in out
    assert emulator.cluster_body("rg-linux", "aks-linux")["properties"]["autoUpgradeProfile"]["upgradeChannel"] == "rapid"
    assert [w for w in emulator.writes() if "aks-windows" in w["path"]] == []


def test_role_arguments_are_validated(run_playbook: Any, emulator: Any, auth: Any, azure_env: dict[str, str]) -> None:
    proc = run_playbook(PLAYBOOK, extra_vars(emulator, auth, [{"resource_group": "rg-linux", "name": "aks-linux",
                                                               "upgrade_channel": "weekly"}]), env=azure_env)
    assert proc.returncode != 0
    assert "upgrade_channel" in proc.stdout and "weekly" in proc.stdout
    assert emulator.requests == []
