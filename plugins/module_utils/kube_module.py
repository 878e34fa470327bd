# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AnsibleModule plus the shared Kubernetes options, a lazily built client and one way to fail from an error."""

from __future__ import annotations

import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError, fail_from_error
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import (
    HAS_KUBERNETES,
    KUBE_AUTH_ARGSPEC,
    KUBERNETES_IMPORT_ERROR,
    KubeClient,
)


class KubeModule:
    def __init__(self, argument_spec: dict[str, t.Any], **kwargs: t.Any) -> None:
        spec = dict(KUBE_AUTH_ARGSPEC)
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        if not HAS_KUBERNETES:
            self.module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
        self._client: KubeClient | None = None

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
    def client(self) -> KubeClient:
        if self._client is None:
            self._client = KubeClient.from_params(self.params)
        return self._client

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
