# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AnsibleModule plus the shared Azure options, a lazily built AKS client and one way to fail from an error."""

from __future__ import annotations

import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.nodepatch.kube.plugins.module_utils.aks_api import AksApi
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_auth import (
    AZURE_AUTH_ARGSPEC,
    AZURE_IMPORT_ERROR,
    HAS_AZURE,
    AzureSettings,
    build_client,
    resolve_settings,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError, fail_from_error


class AzureModule:
    def __init__(self, argument_spec: dict[str, t.Any], **kwargs: t.Any) -> None:
        spec = dict(AZURE_AUTH_ARGSPEC)
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        if not HAS_AZURE:
            self.module.fail_json(msg=missing_required_lib("azure-identity and azure-mgmt-containerservice"),
                                  exception=str(AZURE_IMPORT_ERROR))
        self._settings: AzureSettings | None = None
        self._api: AksApi | None = None

    @property
    def params(self) -> dict[str, t.Any]:
        return self.module.params

    @property
    def check_mode(self) -> bool:
        return self.module.check_mode

    @property
    def diff_mode(self) -> bool:
        return self.module._diff  # pylint: disable=protected-access

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

    def fail_from(self, error: NodepatchError, **result: t.Any) -> t.NoReturn:
        fail_from_error(self.module, error, **result)

    def fail_json(self, **kwargs: t.Any) -> t.NoReturn:
        self.module.fail_json(**kwargs)
        raise AssertionError("fail_json returned")  # pragma: no cover

    def exit_json(self, **kwargs: t.Any) -> t.NoReturn:
        self.module.exit_json(**kwargs)
        raise AssertionError("exit_json returned")  # pragma: no cover

    def warn(self, warning: str) -> None:
        self.module.warn(warning)
