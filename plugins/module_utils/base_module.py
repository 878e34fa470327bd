# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base of every module of the collection: AnsibleModule with an optional shared option set, a clear failure
when a client library is missing, one way to fail from a NodepatchError, and one way to return a diff."""

from __future__ import annotations

import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError, fail_from_error


class NodepatchModule:
    """Modules that need no client library (notify, reboot_required, rollout_report) use it as it is; KubeModule and
    AzureModule add their connection options, the library check and the client."""

    def __init__(self, argument_spec: dict[str, t.Any], shared_spec: dict[str, t.Any] | None = None,
                 library: str | None = None, import_error: BaseException | None = None, **kwargs: t.Any) -> None:
        spec = dict(shared_spec or {})
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        if import_error is not None:
            # A library that imports but is too old says so itself; "failed to import" would mislead.
            message = (str(import_error) if getattr(import_error, "unsupported_version", False)
                       else missing_required_lib(library or str(import_error)))
            self.module.fail_json(msg=message, exception=str(import_error))

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

    def exit_json(self, diff: DiffRecorder | dict[str, t.Any] | None = None, **kwargs: t.Any) -> t.NoReturn:
        """Exit with the result; ``diff`` is returned in diff mode only."""
        if diff is not None and self.diff_mode:
            kwargs["diff"] = diff.as_diff() if isinstance(diff, DiffRecorder) else diff
        self.module.exit_json(**kwargs)
        raise AssertionError("exit_json returned")  # pragma: no cover

    def warn(self, warning: str) -> None:
        self.module.warn(warning)
