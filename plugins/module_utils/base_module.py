# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base of the collection's module wrappers: AnsibleModule with a shared option set, a clear failure when the
client library is missing, and one way to fail from a NodepatchError."""

from __future__ import annotations

import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError, fail_from_error


class NodepatchModule:
    def __init__(self, argument_spec: dict[str, t.Any], shared_spec: dict[str, t.Any], library: str,
                 import_error: BaseException | None, **kwargs: t.Any) -> None:
        spec = dict(shared_spec)
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        if import_error is not None:
            self.module.fail_json(msg=missing_required_lib(library), exception=str(import_error))

    @property
    def params(self) -> dict[str, t.Any]:
        return self.module.params

    @property
    def check_mode(self) -> bool:
        return self.module.check_mode

    @property
    def diff_mode(self) -> bool:
        return self.module._diff  # pylint: disable=protected-access

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
