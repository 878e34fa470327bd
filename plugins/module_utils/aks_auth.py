# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Azure credentials and the ContainerService client, from module options, the environment or ~/.azure/credentials.

``resolve_settings`` is pure (options + environment + credentials file → settings) so its precedence is unit
tested without the SDK; ``build_credential`` and ``build_client`` need azure-identity and
azure-mgmt-containerservice, imported lazily and reported with ``missing_required_lib`` by the module wrapper.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.versions import unsupported_library

# The api-version the modules speak, pinned so a newer SDK does not silently change the REST shapes under them. The
# SDK must be the one whose models are generated for it: 34.x to 38.x have no operations at this api-version
# (ValueError on the first call), and the models of 39.0.0 drop part of the auto-upgrade profile.
API_VERSION = "2026-08-01"
MINIMUM_CONTAINERSERVICE = (41, 8, 0)

try:
    import azure.identity as _azure_identity
    from azure.mgmt.containerservice import VERSION as _CONTAINERSERVICE_VERSION
    from azure.mgmt.containerservice import ContainerServiceClient as _ContainerServiceClient
except ImportError as _import_error:  # pragma: no cover - reported by AzureModule
    AZURE_IMPORT_ERROR: Exception | None = _import_error
else:
    AZURE_IMPORT_ERROR = unsupported_library("azure-mgmt-containerservice", _CONTAINERSERVICE_VERSION,
                                             MINIMUM_CONTAINERSERVICE)

AUTH_SOURCES = ("auto", "env", "cli", "msi", "credential_file", "workload_identity")
CLOUDS: dict[str, tuple[str, str]] = {
    # name → (resource manager endpoint, authority host)
    "AzureCloud": ("https://management.azure.com", "https://login.microsoftonline.com"),
    "AzureChinaCloud": ("https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
    "AzureUSGovernment": ("https://management.usgovcloudapi.net", "https://login.microsoftonline.us"),
}
KNOWN_AUTHORITIES = {urlsplit(authority).hostname for _arm, authority in CLOUDS.values()}

AZURE_AUTH_ARGSPEC: dict[str, dict[str, t.Any]] = {
    "auth_source": {"type": "str", "choices": list(AUTH_SOURCES)},
    "subscription_id": {"type": "str"},
    "client_id": {"type": "str"},
    "secret": {"type": "str", "no_log": True},
    "tenant": {"type": "str"},
    "profile": {"type": "str"},
    "cloud_environment": {"type": "str", "choices": list(CLOUDS)},
    "resource_manager_url": {"type": "str"},
    "authority_host": {"type": "str"},
}


@dataclass(frozen=True)
class AzureSettings:
    auth_source: str
    subscription_id: str | None
    client_id: str | None
    secret: str | None
    tenant: str | None
    federated_token_file: str | None
    cloud_environment: str
    resource_manager_url: str
    authority_host: str
    profile: str | None = None
    # auth_source=auto that found nothing else: the CLI login, then a managed identity.
    cli_then_msi: bool = False

    @property
    def custom_authority(self) -> bool:
        """An authority that is not one of the public/sovereign clouds': MSAL must not ask Microsoft to vouch for it."""
        return urlsplit(self.authority_host).hostname not in KNOWN_AUTHORITIES

    @property
    def credential_scope(self) -> str:
        return self.resource_manager_url.rstrip("/") + "/.default"

    def describe(self) -> str:
        """Which identity is used, for messages; never the secret."""
        kinds = {"env": "service principal", "credential_file": "service principal", "cli": "Azure CLI login",
                 "msi": "managed identity", "workload_identity": "workload identity"}
        who = kinds.get(self.auth_source, self.auth_source)
        parts = [f"auth_source={self.auth_source} ({who})"]
        if self.client_id:
            parts.append(f"client_id={self.client_id}")
        if self.tenant:
            parts.append(f"tenant={self.tenant}")
        parts.append(f"authority={self.authority_host}")
        return ", ".join(parts)


def _env(environ: t.Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def _normalise_url(value: str, option: str) -> str:
    text = value.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname:
        raise NodepatchError(f"{option}={value!r} is not an https URL", target=option,
                             hint="Azure endpoints are reached over TLS only, e.g. https://management.azure.com")
    return text


def read_credentials_file(path: str, profile: str) -> dict[str, str] | None:
    """The ``profile`` section of an azure.azcollection style credentials file, or None when the file is absent."""
    if not os.path.isfile(path):
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error as err:
        raise NodepatchError(f"cannot parse {path}: {err}", target=path,
                             hint="it is an INI file with one [profile] section per identity") from None
    if not parser.has_section(profile):
        raise NodepatchError(f"profile {profile!r} not found in {path}", target=path,
                             hint=f"profiles there: {', '.join(parser.sections()) or 'none'}")
    return dict(parser.items(profile))


def resolve_settings(params: t.Mapping[str, t.Any], environ: t.Mapping[str, str] | None = None,
                     credentials_path: str | None = None) -> AzureSettings:
    """Decide identity and endpoints. Explicit options win over the environment, which wins over the file.

    ``auto`` picks the first complete identity among: options/environment service principal, workload identity
    (federated token file), the credentials file profile, then Azure CLI with managed identity as fallback.
    """
    environ = os.environ if environ is None else environ
    home = environ.get("HOME") or os.path.expanduser("~")
    credentials_path = credentials_path or os.path.join(environ.get("AZURE_CONFIG_DIR") or os.path.join(home, ".azure"),
                                                        "credentials")
    source = params.get("auth_source") or _env(environ, "ANSIBLE_AZURE_AUTH_SOURCE") or "auto"
    if source not in AUTH_SOURCES:
        raise NodepatchError(f"auth_source={source!r} is not valid", target="auth_source",
                             hint=f"allowed: {', '.join(AUTH_SOURCES)}")
    profile_name = params.get("profile") or _env(environ, "AZURE_PROFILE")

    values: dict[str, str | None] = {
        "subscription_id": params.get("subscription_id") or _env(environ, "AZURE_SUBSCRIPTION_ID"),
        "client_id": params.get("client_id") or _env(environ, "AZURE_CLIENT_ID"),
        "secret": params.get("secret") or _env(environ, "AZURE_SECRET", "AZURE_CLIENT_SECRET"),
        "tenant": params.get("tenant") or _env(environ, "AZURE_TENANT", "AZURE_TENANT_ID"),
        "cloud_environment": params.get("cloud_environment") or _env(environ, "AZURE_CLOUD_ENVIRONMENT"),
    }
    federated = _env(environ, "AZURE_FEDERATED_TOKEN_FILE")

    file_values: dict[str, str] | None = None
    if source == "credential_file" or (source == "auto" and (profile_name or not (
            values["client_id"] and values["secret"] and values["tenant"]))):
        file_values = read_credentials_file(credentials_path, profile_name or "default")
        if file_values is None and source == "credential_file":
            raise NodepatchError(f"auth_source=credential_file but {credentials_path} does not exist",
                                 target="auth_source", hint="create it with a [default] section holding "
                                 "subscription_id, client_id, secret and tenant, or pick another auth_source")

    auto = source == "auto"
    if auto:
        if values["client_id"] and values["secret"] and values["tenant"] and not profile_name:
            source = "env"
        elif values["client_id"] and values["tenant"] and federated and not profile_name:
            source = "workload_identity"
        elif file_values is not None:
            source = "credential_file"
        else:
            source = "cli"
    if source == "credential_file" and file_values is not None:
        # The profile describes one identity: take it whole, but let explicit options override single fields.
        for key in ("subscription_id", "client_id", "secret", "tenant", "cloud_environment"):
            explicit = params.get(key)
            values[key] = explicit or file_values.get(key) or (values[key] if key == "subscription_id" else None)

    cloud = values["cloud_environment"] or "AzureCloud"
    if cloud not in CLOUDS:
        raise NodepatchError(f"cloud_environment={cloud!r} is not known", target="cloud_environment",
                             hint=f"allowed: {', '.join(CLOUDS)}; for other endpoints set resource_manager_url "
                             "and authority_host")
    arm_default, authority_default = CLOUDS[cloud]
    arm = _normalise_url(params.get("resource_manager_url") or _env(environ, "AZURE_RESOURCE_MANAGER_URL")
                         or arm_default, "resource_manager_url")
    authority = _normalise_url(params.get("authority_host") or _env(environ, "AZURE_AUTHORITY_HOST")
                               or authority_default, "authority_host")

    settings = AzureSettings(auth_source=source, subscription_id=values["subscription_id"],
                             client_id=values["client_id"], secret=values["secret"], tenant=values["tenant"],
                             federated_token_file=federated, cloud_environment=cloud, resource_manager_url=arm,
                             authority_host=authority, profile=profile_name,
                             cli_then_msi=auto and source == "cli")
    _check_complete(settings)
    return settings


def _check_complete(settings: AzureSettings) -> None:
    missing: list[str] = []
    if settings.auth_source in ("env", "credential_file"):
        missing = [name for name, value in (("client_id", settings.client_id), ("secret", settings.secret),
                                            ("tenant", settings.tenant)) if not value]
    elif settings.auth_source == "workload_identity":
        missing = [name for name, value in (("client_id", settings.client_id), ("tenant", settings.tenant))
                   if not value]
        if not settings.federated_token_file:
            missing.append("the AZURE_FEDERATED_TOKEN_FILE environment variable")
    if missing:
        raise NodepatchError(f"auth_source={settings.auth_source} needs {', '.join(missing)}", target="auth_source",
                             hint="set the options, or AZURE_CLIENT_ID, AZURE_SECRET (or AZURE_CLIENT_SECRET) and "
                             "AZURE_TENANT (or AZURE_TENANT_ID) in the environment")
    if not settings.subscription_id and settings.auth_source != "cli":
        raise NodepatchError("no subscription_id", target="subscription_id",
                             hint="set subscription_id or the AZURE_SUBSCRIPTION_ID environment variable")


def cli_subscription() -> str:
    """The Azure CLI's current subscription, for auth_source=cli without subscription_id."""
    az = shutil.which("az")
    if az is None:
        raise NodepatchError("no subscription_id and no Azure CLI (az) on PATH to read the current one from",
                             target="subscription_id", hint="set subscription_id or AZURE_SUBSCRIPTION_ID")
    proc = subprocess.run([az, "account", "show", "--output", "json"], capture_output=True, text=True, check=False,
                          timeout=60)
    if proc.returncode != 0:
        raise NodepatchError(f"az account show failed: {proc.stderr.strip()}", target="auth_source=cli",
                             hint="run az login, or set subscription_id")
    return str(json.loads(proc.stdout)["id"])


def build_credential(settings: AzureSettings) -> t.Any:
    """An azure-identity TokenCredential for the settings; TLS verification is never turned off.

    A custom CA bundle is honoured through REQUESTS_CA_BUNDLE (requests, used by MSAL and azure-core).
    """
    identity = _azure_identity
    common: dict[str, t.Any] = {"authority": settings.authority_host}
    if settings.custom_authority:
        common["disable_instance_discovery"] = True
    source = settings.auth_source
    if source in ("env", "credential_file"):
        return identity.ClientSecretCredential(settings.tenant, settings.client_id, settings.secret, **common)
    if source == "workload_identity":
        return identity.WorkloadIdentityCredential(tenant_id=settings.tenant, client_id=settings.client_id,
                                                   token_file_path=settings.federated_token_file, **common)
    if source == "msi":
        return identity.ManagedIdentityCredential(client_id=settings.client_id) if settings.client_id \
            else identity.ManagedIdentityCredential()
    cli = identity.AzureCliCredential(tenant_id=settings.tenant) if settings.tenant else identity.AzureCliCredential()
    if settings.cli_then_msi:
        # What auto falls back to: the CLI's login first, a managed identity when there is none.
        return identity.ChainedTokenCredential(cli, identity.ManagedIdentityCredential())
    return cli


def build_client(settings: AzureSettings, polling_interval: float = 10.0) -> t.Any:
    subscription = settings.subscription_id or cli_subscription()
    return _ContainerServiceClient(
        credential=build_credential(settings), subscription_id=subscription,
        base_url=settings.resource_manager_url, credential_scopes=[settings.credential_scope],
        api_version=API_VERSION, polling_interval=polling_interval, retry_total=4, retry_backoff_factor=0.8,
        connection_verify=True, user_agent="nodepatch.kube")
