# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seed resources for the ARM emulator, shaped like the Microsoft.ContainerService REST examples.

Three clusters: a Linux-only one with both channels and a window, one with a Windows pool, and a legacy one
whose GET carries no autoUpgradeProfile at all. Two more, in rg-certs, for the certificate modules: ``aks-2019``
(created January 2019, local accounts, certificates that expire in 20 days) and ``aks-recent`` (created 2024,
30-year certificates). Each carries fields this SDK version does not model
(`properties.futureFeatureProfile`) so tests can prove a read-modify-write keeps what it does not understand.
"""

from __future__ import annotations

import copy
from typing import Any

SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
TENANT = "00000000-0000-4000-8000-0000000000aa"
CLIENT_ID = "00000000-0000-4000-8000-0000000000c1"
CLIENT_SECRET = "np-emulator-s3cret-Value~42"  # noqa: S105 - test credential, asserted never to appear in output
LOCATION = "westeurope"
KUBERNETES_VERSION = "1.33.2"

UBUNTU_OLD = "AKSUbuntu-2204gen2containerd-202509.10.0"
UBUNTU_NEW = "AKSUbuntu-2204gen2containerd-202511.07.0"
AZURELINUX_OLD = "AKSAzureLinux-V3gen2-202509.10.0"
AZURELINUX_NEW = "AKSAzureLinux-V3gen2-202511.07.0"
WINDOWS_OLD = "AKSWindows-2022-containerd-20348.4171.250910"
WINDOWS_NEW = "AKSWindows-2022-containerd-20348.4294.251107"


def _pool(name: str, os_type: str, os_sku: str, mode: str, image: str, latest: str, count: int = 3,
          vm_size: str = "Standard_D4s_v5") -> dict[str, Any]:
    return {
        "name": name,
        "latest": latest,
        "properties": {
            "count": count,
            "vmSize": vm_size,
            "osDiskSizeGB": 128,
            "osDiskType": "Managed",
            "kubeletDiskType": "OS",
            "maxPods": 30 if os_type == "Windows" else 110,
            "type": "VirtualMachineScaleSets",
            "availabilityZones": ["1", "2", "3"],
            "enableAutoScaling": False,
            "enableNodePublicIP": False,
            "orchestratorVersion": KUBERNETES_VERSION,
            "currentOrchestratorVersion": KUBERNETES_VERSION,
            "mode": mode,
            "osType": os_type,
            "osSKU": os_sku,
            "nodeImageVersion": image,
            "upgradeSettings": {"maxSurge": "10%"},
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "enableFIPS": False,
            "nodeLabels": {"team": "platform"} if mode == "User" else {},
        },
    }


def _cluster(name: str, rg: str, pools: list[dict[str, Any]], auto_upgrade: dict[str, Any] | None,
             windows: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "kubernetesVersion": KUBERNETES_VERSION,
        "currentKubernetesVersion": KUBERNETES_VERSION,
        "dnsPrefix": f"{name}-dns",
        "fqdn": f"{name}-dns-k8p2q1z7.hcp.{LOCATION}.azmk8s.io",
        "azurePortalFQDN": f"{name}-dns-k8p2q1z7.portal.hcp.{LOCATION}.azmk8s.io",
        "linuxProfile": {"adminUsername": "azureuser",
                         "ssh": {"publicKeys": [{"keyData": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 emulator"}]}},
        "servicePrincipalProfile": {"clientId": "msi"},
        "addonProfiles": {"azurepolicy": {"enabled": True, "config": None},
                          "omsagent": {"enabled": False}},
        "nodeResourceGroup": f"MC_{rg}_{name}_{LOCATION}",
        "enableRBAC": True,
        "supportPlan": "KubernetesOfficial",
        "networkProfile": {
            "networkPlugin": "azure", "networkPluginMode": "overlay", "networkPolicy": "cilium",
            "networkDataplane": "cilium", "podCidr": "10.244.0.0/16", "serviceCidr": "10.0.0.0/16",
            "dnsServiceIP": "10.0.0.10", "outboundType": "loadBalancer", "loadBalancerSku": "standard",
            "loadBalancerProfile": {"managedOutboundIPs": {"count": 2}, "allocatedOutboundPorts": 0,
                                    "idleTimeoutInMinutes": 30},
            "podCidrs": ["10.244.0.0/16"], "serviceCidrs": ["10.0.0.0/16"], "ipFamilies": ["IPv4"],
        },
        "aadProfile": {"managed": True, "enableAzureRBAC": True, "tenantID": TENANT},
        "maxAgentPools": 100,
        "disableLocalAccounts": True,
        "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://{LOCATION}.oic.prod-aks.azure.com/{TENANT}/x/"},
        "securityProfile": {"workloadIdentity": {"enabled": True}, "imageCleaner": {"enabled": True,
                                                                                    "intervalHours": 168}},
        "storageProfile": {"diskCSIDriver": {"enabled": True}, "fileCSIDriver": {"enabled": True},
                           "snapshotController": {"enabled": True}},
        "workloadAutoScalerProfile": {},
        "resourceUID": "6721c0e2a7e4f80001f9b3a1",
        "futureFeatureProfile": {"enabled": True, "mode": "Preview", "notes": ["unknown to this SDK"]},
    }
    if windows:
        props["windowsProfile"] = {"adminUsername": "azureuser", "enableCSIProxy": True}
    if auto_upgrade is not None:
        props["autoUpgradeProfile"] = auto_upgrade
    return {
        "location": LOCATION,
        "tags": {"env": "test", "owner": "sre"},
        "sku": {"name": "Base", "tier": "Standard"},
        "identity": {"type": "SystemAssigned", "principalId": "4d3c2b1a-0000-4000-8000-00000000beef",
                     "tenantId": TENANT},
        "kind": "Base",
        "properties": props,
        "_pools": pools,
    }


def seed_clusters() -> dict[tuple[str, str], dict[str, Any]]:
    """(resource group, cluster) → cluster record (body without the id/name/type envelope, plus `_pools`)."""
    clusters = {
        ("rg-linux", "aks-linux"): _cluster(
            "aks-linux", "rg-linux",
            [_pool("system", "Linux", "Ubuntu", "System", UBUNTU_OLD, UBUNTU_NEW),
             _pool("user", "Linux", "AzureLinux", "User", AZURELINUX_NEW, AZURELINUX_NEW, count=5)],
            {"upgradeChannel": "stable", "nodeOSUpgradeChannel": "NodeImage"}),
        ("rg-mixed", "aks-windows"): _cluster(
            "aks-windows", "rg-mixed",
            [_pool("system", "Linux", "Ubuntu", "System", UBUNTU_OLD, UBUNTU_NEW),
             _pool("win22", "Windows", "Windows2022", "User", WINDOWS_OLD, WINDOWS_NEW, count=2)],
            {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "Unmanaged"}, windows=True),
        ("rg-legacy", "aks-legacy"): _cluster(
            "aks-legacy", "rg-legacy",
            [_pool("nodepool1", "Linux", "Ubuntu", "System", UBUNTU_OLD, UBUNTU_NEW)],
            None),
    }
    clusters.update(_certificate_clusters())
    return copy.deepcopy(clusters)


def _certificate_clusters() -> dict[tuple[str, str], dict[str, Any]]:
    """Non-Entra clusters with local accounts, a creation date (systemData) and certificates of chosen lifetimes:
    ``_certificates`` gives each certificate's validity in days from now, or as dates."""
    made: dict[tuple[str, str], dict[str, Any]] = {}
    for name, created, spec in (
            ("aks-2019", "2019-01-15T09:30:12.4567891Z", {"ca": (-710, 20), "client": (-710, 20)}),
            ("aks-recent", "2024-03-01T08:00:00.1234567Z", {"ca": ("2024-03-01T08:00:00Z", "2054-02-22T08:00:00Z"),
                                                            "client": ("2024-03-01T08:00:00Z", "2054-02-22T08:00:00Z")})):
        record = _cluster(name, "rg-certs", [_pool("nodepool1", "Linux", "Ubuntu", "System", UBUNTU_NEW, UBUNTU_NEW)],
                          {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "Unmanaged"})
        props = record["properties"]
        props.pop("aadProfile")
        props["disableLocalAccounts"] = False
        record["systemData"] = {"createdBy": "sre@example.com", "createdByType": "User", "createdAt": created,
                                "lastModifiedBy": "sre@example.com", "lastModifiedByType": "User",
                                "lastModifiedAt": created}
        record["_certificates"] = spec
        made[("rg-certs", name)] = record
    return made


def seed_maintenance() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(resource group, cluster) → config name → properties."""
    return {
        ("rg-linux", "aks-linux"): {
            "aksManagedAutoUpgradeSchedule": {"maintenanceWindow": {
                "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}},
                "durationHours": 4, "utcOffset": "+00:00", "startDate": "2025-01-05", "startTime": "02:00"}},
        },
        ("rg-mixed", "aks-windows"): {},
        ("rg-legacy", "aks-legacy"): {
            "default": {"timeInWeek": [{"day": "Saturday", "hourSlots": [1, 2, 3, 4]}]},
        },
    }
