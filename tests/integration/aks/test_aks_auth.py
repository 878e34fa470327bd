# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication and endpoints, through the real azure-identity (MSAL) against the emulator's token endpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

INFO = {"resource_group": "rg-linux", "cluster_name": "aks-linux", "pools": False, "maintenance": False}


def token_requests(emulator: Any) -> list[dict[str, Any]]:
    return [r for r in emulator.requests if r["path"].endswith("/oauth2/v2.0/token")]


def test_service_principal_from_options_uses_the_custom_authority_without_instance_discovery(
        aks: Any, emulator: Any) -> None:
    result = aks("aks_upgrade_info", **INFO)
    assert result["cluster"]["name"] == "aks-linux"
    paths = [r["path"] for r in emulator.requests]
    assert f"/{emulator.tenant}/v2.0/.well-known/openid-configuration" in paths
    assert "/common/discovery/instance" not in paths
    token = token_requests(emulator)[0]["body"]
    assert token["grant_type"] == "client_credentials" and token["client_id"] == emulator.client_id
    assert token["scope"] == f"{emulator.url}/.default"
    assert all(r["authorization"] for r in emulator.arm_requests())
    assert {r["query"]["api-version"] for r in emulator.arm_requests()} == {"2026-08-01"}


def test_environment_variables_alone(aks: Any, emulator: Any) -> None:
    env = {"AZURE_SUBSCRIPTION_ID": emulator.subscription, "AZURE_CLIENT_ID": emulator.client_id,
           "AZURE_CLIENT_SECRET": emulator.client_secret, "AZURE_TENANT_ID": emulator.tenant,
           "AZURE_RESOURCE_MANAGER_URL": emulator.url, "AZURE_AUTHORITY_HOST": emulator.url}
    result = aks("aks_upgrade_info", use_auth=False, env=env, **INFO)
    assert result.get("failed") is not True, result
    assert result["cluster"]["upgrade_channel"] == "stable"


def test_azcollection_environment_names(aks: Any, emulator: Any) -> None:
    env = {"AZURE_SUBSCRIPTION_ID": emulator.subscription, "AZURE_CLIENT_ID": emulator.client_id,
           "AZURE_SECRET": emulator.client_secret, "AZURE_TENANT": emulator.tenant, "ANSIBLE_AZURE_AUTH_SOURCE": "env"}
    result = aks("aks_upgrade_info", use_auth=False, env=env, resource_manager_url=emulator.url,
                 authority_host=emulator.url, **INFO)
    assert result["cluster"]["name"] == "aks-linux"


def test_credentials_file_profile(aks: Any, emulator: Any, azure_env: dict[str, str]) -> None:
    azure_dir = Path(azure_env["HOME"]) / ".azure"
    azure_dir.mkdir()
    (azure_dir / "credentials").write_text(
        "[default]\nsubscription_id=wrong\nclient_id=wrong\nsecret=wrong\ntenant=wrong\n"
        f"[emulator]\nsubscription_id={emulator.subscription}\nclient_id={emulator.client_id}\n"
        f"secret={emulator.client_secret}\ntenant={emulator.tenant}\n")
    result = aks("aks_upgrade_info", use_auth=False, profile="emulator", resource_manager_url=emulator.url,
                 authority_host=emulator.url, **INFO)
    assert result.get("failed") is not True, result
    assert result["cluster"]["name"] == "aks-linux"
    explicit = aks("aks_upgrade_info", use_auth=False, auth_source="credential_file", profile="emulator",
                   resource_manager_url=emulator.url, authority_host=emulator.url, **INFO)
    assert explicit["cluster"]["name"] == "aks-linux"


def test_workload_identity_sends_the_federated_token(aks: Any, emulator: Any, tmp_path: Path) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06bnAifQ.c2ln")
    env = {"AZURE_FEDERATED_TOKEN_FILE": str(token_file), "AZURE_CLIENT_ID": emulator.client_id,
           "AZURE_TENANT_ID": emulator.tenant, "AZURE_SUBSCRIPTION_ID": emulator.subscription}
    result = aks("aks_upgrade_info", use_auth=False, env=env, resource_manager_url=emulator.url,
                 authority_host=emulator.url, **INFO)
    assert result.get("failed") is not True, result
    body = token_requests(emulator)[0]["body"]
    assert body["client_assertion"].startswith("eyJhbGciOiJSUzI1NiJ9.")
    assert "client_secret" not in body


def test_wrong_secret_is_a_readable_authentication_error(aks: Any, emulator: Any) -> None:
    result = aks("aks_upgrade_channel", secret="not-the-secret", resource_group="rg-linux", cluster_name="aks-linux",
                 upgrade_channel="patch")
    assert result["failed"] is True
    assert "could not get an Azure token" in result["msg"] and "AADSTS7000215" in result["msg"]
    assert "check client_id, secret, tenant" in result["msg"]
    assert "not-the-secret" not in str(result)
    assert emulator.arm_requests() == []


def test_secret_from_the_environment_never_appears_in_a_failure(aks: Any, emulator: Any) -> None:
    env = {"AZURE_SECRET": emulator.client_secret}
    result = aks("aks_upgrade_info", use_auth=False, env=env, auth_source="env", subscription_id=emulator.subscription,
                 client_id=emulator.client_id, tenant="00000000-0000-4000-8000-00000000dead",
                 resource_manager_url=emulator.url, authority_host=emulator.url, **INFO)
    assert result["failed"] is True  # the aks fixture asserts the secret is absent from the output


def test_tls_is_verified_and_an_unknown_ca_fails(aks: Any, emulator: Any) -> None:
    system_ca = "/etc/ssl/certs/ca-certificates.crt"
    if not os.path.exists(system_ca):
        pytest.skip("no system CA bundle to point at")
    result = aks("aks_upgrade_info", env={"REQUESTS_CA_BUNDLE": system_ca, "SSL_CERT_FILE": system_ca}, **INFO)
    assert result["failed"] is True
    assert "CERTIFICATE_VERIFY_FAILED" in result["msg"] or "certificate verify failed" in result["msg"]
    assert emulator.arm_requests() == []


def test_missing_subscription_says_how_to_set_it(aks: Any, emulator: Any) -> None:
    result = aks("aks_upgrade_info", use_auth=False, auth_source="env", client_id=emulator.client_id,
                 secret=emulator.client_secret, tenant=emulator.tenant, resource_manager_url=emulator.url,
                 authority_host=emulator.url, **INFO)
    assert result["failed"] is True
    assert "no subscription_id" in result["msg"] and "AZURE_SUBSCRIPTION_ID" in result["msg"]
    assert emulator.requests == []


def test_http_endpoint_is_refused(aks: Any, emulator: Any) -> None:
    result = aks("aks_upgrade_info", resource_manager_url="http://127.0.0.1:9", **INFO)
    assert result["failed"] is True and "is not an https URL" in result["msg"]
