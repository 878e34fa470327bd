# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base module plus the shared Kubernetes options, a lazily built client."""

from __future__ import annotations

import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.base_module import NodepatchModule
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import (
    KUBE_AUTH_ARGSPEC,
    KUBERNETES_IMPORT_ERROR,
    KubeClient,
)


class KubeModule(NodepatchModule):
    def __init__(self, argument_spec: dict[str, t.Any], **kwargs: t.Any) -> None:
        super().__init__(argument_spec, KUBE_AUTH_ARGSPEC, "kubernetes", KUBERNETES_IMPORT_ERROR, **kwargs)
        self._client: KubeClient | None = None
        # A module that runs requests in parallel raises this before its first use of `client`.
        self.parallel_requests = 1

    @property
    def client(self) -> KubeClient:
        if self._client is None:
            self._client = KubeClient.from_params(self.params, parallel_requests=self.parallel_requests,
                                                  agent=self.short_name)
        return self._client

    @property
    def short_name(self) -> str:
        """node_drain, from the name Ansible hands over (_ansible_module_name); '' without it (AnsibleModule then
        holds the file name of its own source)."""
        name = str(self.module._name or "")  # pylint: disable=protected-access
        return "" if name.endswith(".py") else name.rpartition(".")[2]
