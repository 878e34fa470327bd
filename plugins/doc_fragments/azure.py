# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The connection options every Azure module shares; names and environment variables mirror azure.azcollection.
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the identity comes from.
      - V(auto) takes, in order, a complete service principal from the options or the environment
        (O(client_id), O(secret), O(tenant)), a workload identity (O(client_id), O(tenant) and the
        E(AZURE_FEDERATED_TOKEN_FILE) environment variable), the O(profile) of C(~/.azure/credentials), and finally
        the Azure CLI login with a managed identity as fallback.
      - V(env) is a service principal from the options or the environment; V(credential_file) a profile of
        C(~/.azure/credentials) (options given explicitly override its fields); V(cli) the Azure CLI's login;
        V(msi) a managed identity (user-assigned when O(client_id) is set); V(workload_identity) a federated
        token file, as AKS workload identity mounts it.
      - Can also be set with the E(ANSIBLE_AZURE_AUTH_SOURCE) environment variable. Defaults to V(auto).
    type: str
    choices: [auto, env, cli, msi, credential_file, workload_identity]
  subscription_id:
    description:
      - The subscription holding the cluster.
      - Can also be set with the E(AZURE_SUBSCRIPTION_ID) environment variable. With O(auth_source=cli) the CLI's
        current subscription is used when neither is set.
    type: str
  client_id:
    description:
      - Application (client) ID of the service principal, the user-assigned managed identity or the workload
        identity.
      - Can also be set with the E(AZURE_CLIENT_ID) environment variable.
    type: str
  secret:
    description:
      - Client secret of the service principal. Never logged, never returned.
      - Can also be set with the E(AZURE_SECRET) or E(AZURE_CLIENT_SECRET) environment variable.
    type: str
  tenant:
    description:
      - Microsoft Entra tenant (directory) ID.
      - Can also be set with the E(AZURE_TENANT) or E(AZURE_TENANT_ID) environment variable.
    type: str
  profile:
    description:
      - Section of C(~/.azure/credentials) (an INI file as azure.azcollection reads it, with C(subscription_id),
        C(client_id), C(secret), C(tenant) and optionally C(cloud_environment)). V(default) when not set.
      - Setting it makes O(auth_source=auto) use the file.
      - Can also be set with the E(AZURE_PROFILE) environment variable. E(AZURE_CONFIG_DIR) moves the file.
    type: str
  cloud_environment:
    description:
      - The Azure cloud, which sets the default Resource Manager endpoint and authority.
      - Can also be set with the E(AZURE_CLOUD_ENVIRONMENT) environment variable. Defaults to V(AzureCloud).
    type: str
    choices: [AzureCloud, AzureChinaCloud, AzureUSGovernment]
  resource_manager_url:
    description:
      - Azure Resource Manager endpoint, for private, sovereign or emulated clouds, for example
        V(https://management.azure.com). The token is requested for this endpoint's C(/.default) scope.
      - Can also be set with the E(AZURE_RESOURCE_MANAGER_URL) environment variable.
    type: str
  authority_host:
    description:
      - Microsoft Entra authority, for example V(https://login.microsoftonline.com).
      - An authority that is not one of the three clouds' is used without instance discovery (nobody else is
        asked to vouch for it); its OpenID configuration is read from the authority itself.
      - Can also be set with the E(AZURE_AUTHORITY_HOST) environment variable.
    type: str
requirements:
  - azure-identity >= 1.15.0 (Python library, on the controller)
  - azure-mgmt-containerservice >= 41.8.0 (Python library, on the controller); the modules speak api-version
    2026-08-01
notes:
  - TLS certificates are always verified. For a private CA set E(REQUESTS_CA_BUNDLE) to a bundle that contains it.
  - The module group C(nodepatch.kube.azure) sets these options once for all AKS modules with C(module_defaults).
  - Requests that meet HTTP 429, 5xx or a broken connection are retried by the Azure SDK with exponential backoff.
"""

    # The cluster every AKS module acts on.
    CLUSTER = r"""
options:
  resource_group:
    description: Resource group of the cluster.
    type: str
    required: true
  cluster_name:
    description: Name of the managed cluster.
    type: str
    required: true
    aliases: [name]
"""
