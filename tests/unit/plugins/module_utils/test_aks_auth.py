# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.aks_auth import resolve_settings
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

SP = {"subscription_id": "sub", "client_id": "app", "secret": "s3cret", "tenant": "tid"}


def params(**values: object) -> dict[str, object]:
    base = dict.fromkeys(("auth_source", "subscription_id", "client_id", "secret", "tenant", "profile",
                          "cloud_environment", "resource_manager_url", "authority_host"))
    base.update(values)
    return base


def write_credentials(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "credentials"
    path.write_text(text)
    return path


def test_explicit_service_principal_on_the_public_cloud(tmp_path: Path) -> None:
    s = resolve_settings(params(**SP), {"HOME": str(tmp_path)})
    assert s.auth_source == "env"
    assert s.resource_manager_url == "https://management.azure.com"
    assert s.authority_host == "https://login.microsoftonline.com"
    assert s.credential_scope == "https://management.azure.com/.default"
    assert not s.custom_authority
    assert "s3cret" not in s.describe()


def test_environment_fallbacks_including_the_alternative_names(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AZURE_SUBSCRIPTION_ID": "sub", "AZURE_CLIENT_ID": "app",
           "AZURE_CLIENT_SECRET": "x", "AZURE_TENANT_ID": "tid"}
    s = resolve_settings(params(), env)
    assert (s.auth_source, s.subscription_id, s.client_id, s.secret, s.tenant) == ("env", "sub", "app", "x", "tid")
    env.update({"AZURE_SECRET": "preferred", "AZURE_TENANT": "t2"})
    s = resolve_settings(params(), env)
    assert (s.secret, s.tenant) == ("preferred", "t2")


def test_options_win_over_the_environment(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AZURE_CLIENT_ID": "env-app", "AZURE_SECRET": "env", "AZURE_TENANT": "env-t",
           "AZURE_SUBSCRIPTION_ID": "env-sub"}
    s = resolve_settings(params(client_id="opt-app"), env)
    assert s.client_id == "opt-app" and s.subscription_id == "env-sub"


@pytest.mark.parametrize(("cloud", "arm", "authority"), [
    ("AzureChinaCloud", "https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
    ("AzureUSGovernment", "https://management.usgovcloudapi.net", "https://login.microsoftonline.us"),
])
def test_sovereign_clouds_set_both_endpoints(tmp_path: Path, cloud: str, arm: str, authority: str) -> None:
    s = resolve_settings(params(cloud_environment=cloud, **SP), {"HOME": str(tmp_path)})
    assert (s.resource_manager_url, s.authority_host, s.custom_authority) == (arm, authority, False)


def test_custom_endpoints_from_environment_mark_a_custom_authority(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AZURE_RESOURCE_MANAGER_URL": "https://127.0.0.1:8443/",
           "AZURE_AUTHORITY_HOST": "127.0.0.1:8443"}
    s = resolve_settings(params(**SP), env)
    assert s.resource_manager_url == "https://127.0.0.1:8443"
    assert s.authority_host == "https://127.0.0.1:8443"
    assert s.custom_authority
    assert s.credential_scope == "https://127.0.0.1:8443/.default"


def test_plain_http_endpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NodepatchError, match="is not an https URL"):
        resolve_settings(params(resource_manager_url="http://127.0.0.1:8080", **SP), {"HOME": str(tmp_path)})


def test_credentials_file_profile(tmp_path: Path) -> None:
    path = write_credentials(tmp_path, "[default]\nsubscription_id=s0\nclient_id=a0\nsecret=x0\ntenant=t0\n"
                                       "[prod]\nsubscription_id=s1\nclient_id=a1\nsecret=x1\ntenant=t1\n"
                                       "cloud_environment=AzureUSGovernment\n")
    s = resolve_settings(params(auth_source="credential_file", profile="prod"), {"HOME": str(tmp_path)}, str(path))
    expected = ("credential_file", "s1", "a1", "x1", "t1")
    assert (s.auth_source, s.subscription_id, s.client_id, s.secret, s.tenant) == expected
    assert s.cloud_environment == "AzureUSGovernment"
    s = resolve_settings(params(), {"HOME": str(tmp_path)}, str(path))
    assert (s.auth_source, s.client_id) == ("credential_file", "a0")


def test_home_azure_credentials_is_the_default_path(tmp_path: Path) -> None:
    (tmp_path / ".azure").mkdir()
    (tmp_path / ".azure" / "credentials").write_text("[default]\nsubscription_id=s\nclient_id=a\nsecret=x\ntenant=t\n")
    assert resolve_settings(params(auth_source="credential_file"), {"HOME": str(tmp_path)}).client_id == "a"


def test_missing_profile_lists_the_profiles_there(tmp_path: Path) -> None:
    path = write_credentials(tmp_path, "[default]\nclient_id=a\n")
    with pytest.raises(NodepatchError, match="profile 'prod' not found.*profiles there: default"):
        resolve_settings(params(auth_source="credential_file", profile="prod"), {"HOME": str(tmp_path)}, str(path))


def test_credential_file_without_a_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NodepatchError, match="does not exist"):
        resolve_settings(params(auth_source="credential_file"), {"HOME": str(tmp_path)})


def test_incomplete_service_principal_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(NodepatchError, match="auth_source=env needs secret, tenant"):
        resolve_settings(params(auth_source="env", subscription_id="s", client_id="a"), {"HOME": str(tmp_path)})


def test_missing_subscription_is_an_error_except_for_cli(tmp_path: Path) -> None:
    with pytest.raises(NodepatchError, match="no subscription_id"):
        resolve_settings(params(auth_source="env", client_id="a", secret="x", tenant="t"), {"HOME": str(tmp_path)})
    assert resolve_settings(params(auth_source="cli"), {"HOME": str(tmp_path)}).subscription_id is None


def test_auto_picks_workload_identity_from_a_federated_token_file(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AZURE_CLIENT_ID": "a", "AZURE_TENANT_ID": "t", "AZURE_SUBSCRIPTION_ID": "s",
           "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token"}
    s = resolve_settings(params(), env)
    assert s.auth_source == "workload_identity" and s.federated_token_file.endswith("azure-identity-token")


def test_workload_identity_without_token_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NodepatchError, match="AZURE_FEDERATED_TOKEN_FILE"):
        resolve_settings(params(auth_source="workload_identity", client_id="a", tenant="t", subscription_id="s"),
                         {"HOME": str(tmp_path)})


def test_auto_without_anything_falls_back_to_the_cli(tmp_path: Path) -> None:
    settings = resolve_settings(params(), {"HOME": str(tmp_path)})
    assert settings.auth_source == "cli" and settings.cli_then_msi
    assert not resolve_settings(params(auth_source="cli"), {"HOME": str(tmp_path)}).cli_then_msi


def test_auth_source_from_ansible_environment_variable(tmp_path: Path) -> None:
    s = resolve_settings(params(subscription_id="s"), {"HOME": str(tmp_path), "ANSIBLE_AZURE_AUTH_SOURCE": "msi"})
    assert s.auth_source == "msi"
