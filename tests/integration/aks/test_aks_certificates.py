# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nodepatch.kube.aks_certificates through the real Azure SDK against the ARM emulator's certificates."""

from __future__ import annotations

import base64
import datetime
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

OLD = {"resource_group": "rg-certs", "cluster_name": "aks-2019"}
RECENT = {"resource_group": "rg-certs", "cluster_name": "aks-recent"}


@pytest.fixture
def certs(aks: Any, emulator: Any) -> Any:
    """aks("aks_certificates", ...) that also asserts no key or token of any cluster appears in the output."""

    def run(check: bool = False, diff: bool = False, **options: Any) -> dict[str, Any]:
        result = aks("aks_certificates", check=check, diff=diff, **options)
        text = json.dumps(result)
        assert emulator.certificate_secrets(), "the emulator handed out no credentials to scan for"
        leaked = [s for s in emulator.certificate_secrets() if s in text]
        assert not leaked, f"{len(leaked)} secret(s) of the credentials appear in the output"
        return result

    return run


def rotations(emulator: Any) -> list[dict[str, Any]]:
    return [w for w in emulator.writes() if w["path"].endswith("/rotateClusterCertificates")]


def expiry(days: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)


def parse(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def test_inspection_of_the_2019_cluster_reports_20_days_and_the_era(certs: Any, emulator: Any) -> None:
    result = certs(credentials="admin", **OLD)
    assert result["changed"] is False and result["action"] == "rotation_due"
    by_role = {c["role"]: c for c in result["certificates"]}
    assert set(by_role) == {"cluster_ca", "client"}
    for cert in by_role.values():
        assert cert["days_left"] in (19, 20)  # 20 days less the seconds since the emulator made them
        assert abs((parse(cert["not_after"]) - expiry(20)).total_seconds()) < 120
        assert cert["lifetime_days"] == 730 and cert["expired"] is False
    assert by_role["cluster_ca"]["is_ca"] is True and by_role["cluster_ca"]["subject"] == "CN=ca"
    assert by_role["client"]["name"] == "client/clusterAdmin_rg-certs_aks-2019"
    assert by_role["client"]["kubeconfig"] == "clusterAdmin"
    assert result["days_left"] in (19, 20) and set(result["due"]) == {c["name"] for c in result["certificates"]}
    cluster = result["cluster"]
    assert cluster["created_at"] == "2019-01-15T09:30:12Z" and cluster["two_year_certificates"] is True
    assert "two years" in cluster["explanation"] and cluster["provisioning_state"] == "Succeeded"
    assert emulator.writes() == []


def test_inspection_of_the_recent_cluster_reports_30_years(certs: Any, emulator: Any) -> None:
    result = certs(**RECENT)
    assert result["action"] == "none" and result["due"] == [] and result["rotation_due"] is False
    ca = next(c for c in result["certificates"] if c["role"] == "cluster_ca")
    assert ca["not_after"] == "2054-02-22T08:00:00Z" and ca["lifetime_days"] == 10950
    assert result["cluster"]["two_year_certificates"] is False and result["cluster"]["auto_rotation"] is True
    assert "no certificate expires within rotate_within_days=30" in result["reasons"][0]
    assert emulator.writes() == []


def test_entra_cluster_user_credentials_give_the_ca_and_admin_is_refused_with_a_hint(certs: Any) -> None:
    user = certs(resource_group="rg-linux", cluster_name="aks-linux")
    assert [c["role"] for c in user["certificates"]] == ["cluster_ca"]
    admin = certs(credentials="admin", resource_group="rg-linux", cluster_name="aks-linux")
    assert admin["failed"] is True and "disable local accounts" in admin["msg"] and "credentials=user" in admin["msg"]


def test_rotation_of_the_near_cluster_follows_the_operation_and_is_idempotent(certs: Any, emulator: Any) -> None:
    emulator.operation_polls = 3
    result = certs(state="rotated", diff=True, credentials="admin", **OLD)
    assert result["changed"] is True and result["action"] == "rotated", result
    assert len(rotations(emulator)) == 1
    assert [s["status"] for s in result["progress"]] == ["InProgress", "Succeeded"]
    assert len([r for r in emulator.requests if "/operations/" in r["path"]]) >= 3
    assert {r["name"] for r in result["rotated"]} == {"cluster_ca", "client/clusterAdmin_rg-certs_aks-2019"}
    for entry in result["rotated"]:
        assert parse(entry["not_after_after"]) > expiry(30 * 365)
        assert parse(entry["not_after_before"]) < expiry(21)
    assert all(c["days_left"] > 10900 for c in result["certificates_after"])
    assert result["cluster"]["provisioning_state"] == "Succeeded"
    assert result["diff"]["before"]["cluster_ca"] != result["diff"]["after"]["cluster_ca"]
    warnings = " ".join(str(w) for w in result.get("warnings", []))
    assert "30 minutes" in warnings and "fetched again" in warnings

    emulator.requests.clear()
    again = certs(state="rotated", credentials="admin", **OLD)
    assert again["changed"] is False and again["action"] == "none"
    assert emulator.writes() == []


def test_the_far_cluster_is_left_alone(certs: Any, emulator: Any, tmp_path: Path) -> None:
    result = certs(state="rotated", kubeconfig_path=str(tmp_path / "kubeconfig"), **RECENT)
    assert result["changed"] is False and result["rotated"] == []
    assert emulator.writes() == []
    assert not (tmp_path / "kubeconfig").exists()


def test_the_new_credentials_are_saved_after_the_rotation(certs: Any, tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("old")
    result = certs(state="rotated", kubeconfig_path=str(path), **OLD)
    assert result["action"] == "rotated" and result["kubeconfig_saved"] is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = yaml.safe_load(path.read_text())
    ca = x509.load_pem_x509_certificate(base64.b64decode(saved["clusters"][0]["cluster"]["certificate-authority-data"]))
    new_ca = next(c for c in result["certificates_after"] if c["role"] == "cluster_ca")
    assert ca.fingerprint(hashes.SHA256()).hex(":") == new_ca["fingerprint_sha256"]
    assert saved["users"][0]["name"] == "clusterUser_rg-certs_aks-2019"


def test_check_mode_says_what_it_would_do_and_writes_nothing(certs: Any, emulator: Any) -> None:
    result = certs(check=True, state="rotated", **OLD)
    assert result["changed"] is True and result["action"] == "would_rotate"
    assert "within rotate_within_days=30" in result["reasons"][0]
    assert emulator.writes() == []
    assert emulator.cluster_body("rg-certs", "aks-2019")["properties"]["provisioningState"] == "Succeeded"


def test_force_rotates_the_far_cluster_without_waiting(certs: Any, emulator: Any) -> None:
    emulator.operation_polls = 1000
    result = certs(state="rotated", force=True, wait=False, **RECENT)
    assert result["changed"] is True and result["action"] == "rotation_started"
    assert len(rotations(emulator)) == 1
    assert emulator.cluster_body("rg-certs", "aks-recent")["properties"]["provisioningState"] == \
        "RotatingClusterCertificates"
    # While it runs, another rotation is refused before any write.
    emulator.requests.clear()
    busy = certs(state="rotated", force=True, **RECENT)
    assert busy["failed"] is True and "already running" in busy["msg"]
    assert emulator.writes() == []


@pytest.mark.parametrize("state", ["Updating", "Failed"])
def test_a_cluster_that_is_not_succeeded_is_refused_with_zero_writes(certs: Any, emulator: Any, state: str) -> None:
    emulator.clusters[("rg-certs", "aks-2019")]["properties"]["provisioningState"] = state
    result = certs(state="rotated", **OLD)
    assert result["failed"] is True and f"provisioningState is {state}, not Succeeded" in result["msg"]
    assert result["due"] and result["certificates"]
    assert emulator.writes() == []


def test_a_failed_operation_reports_the_error(certs: Any, emulator: Any) -> None:
    emulator.fail_next_rotation = "Rotating certificates failed on the control plane: etcd is unhealthy."
    result = certs(state="rotated", **OLD)
    assert result["failed"] is True, result
    assert "the certificate rotation of managed cluster aks-2019 failed: RotateCertificatesFailed: Rotating " \
        "certificates failed on the control plane: etcd is unhealthy." in result["msg"]
    assert [s["status"] for s in result["progress"]][0] == "InProgress"
    assert result["action"] == "rotation_failed"
    assert len(rotations(emulator)) == 1
    assert emulator.cluster_body("rg-certs", "aks-2019")["properties"]["provisioningState"] == "Failed"


def test_wait_timeout_fails_naming_the_rotation(certs: Any, emulator: Any) -> None:
    emulator.operation_polls = 100000
    result = certs(state="rotated", wait_timeout=1, **OLD)
    assert result["failed"] is True and "did not finish within the timeout" in result["msg"]
