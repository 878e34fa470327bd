# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base module plus the shared Azure options, a lazily built AKS client."""

from __future__ import annotations

import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.aks_api import AksApi
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_auth import (
    AZURE_AUTH_ARGSPEC,
    AZURE_IMPORT_ERROR,
    AzureSettings,
    build_client,
    resolve_settings,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.base_module import NodepatchModule

# The cluster every AKS module acts on (doc fragment nodepatch.kube.azure.cluster).
CLUSTER_ARGSPEC: dict[str, t.Any] = {
    "resource_group": {"type": "str", "required": True},
    "cluster_name": {"type": "str", "required": True, "aliases": ["name"]},
}


class AzureModule(NodepatchModule):
    def __init__(self, argument_spec: dict[str, t.Any], **kwargs: t.Any) -> None:
        super().__init__(argument_spec, {**AZURE_AUTH_ARGSPEC, **CLUSTER_ARGSPEC},
                         "azure-identity and azure-mgmt-containerservice", AZURE_IMPORT_ERROR, **kwargs)
        self._settings: AzureSettings | None = None
        self._api: AksApi | None = None

    @property
    def settings(self) -> AzureSettings:
        if self._settings is None:
            self._settings = resolve_settings(self.params)
        return self._settings

    @property
    def api(self) -> AksApi:
        if self._api is None:
            settings = self.settings
            secret = settings.secret
            if secret:
                self.module.no_log_values.add(secret)  # a secret from the environment or a file is hidden too
            self._api = AksApi(build_client(settings))
        return self._api
