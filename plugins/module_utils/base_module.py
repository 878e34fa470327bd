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


def declared_secrets(spec: dict[str, t.Any], params: t.Any) -> set[str]:
    """The values of every no_log option in ``params``, suboptions included, whatever their type."""
    found: set[str] = set()
    if isinstance(params, list):
        for item in params:
            found |= declared_secrets(spec, item)
        return found
    if not isinstance(params, dict):
        return found
    for name, option in spec.items():
        for key in (name, *(option.get("aliases") or ())):
            value = params.get(key)
            if value in (None, ""):
                continue
            if option.get("no_log"):
                found |= _leaves(value)
            if option.get("options"):
                found |= declared_secrets(option["options"], value)
    return found


def _leaves(value: t.Any) -> set[str]:
    if isinstance(value, dict):
        return {leaf for item in value.values() for leaf in _leaves(item)}
    if isinstance(value, (list, tuple)):
        return {leaf for item in value for leaf in _leaves(item)}
    return {str(value)} if value not in (None, "") else set()


class NodepatchAnsibleModule(AnsibleModule):
    """AnsibleModule whose failures hide every no_log value. ansible-core 2.19 fails a dict option with suboptions
    that is not a mapping before it has collected the no_log values, and returns the arguments as given in
    `invocation`: a client secret or webhook URL would be printed."""

    def fail_json(self, msg: str, **kwargs: t.Any) -> t.NoReturn:
        self.no_log_values.update(declared_secrets(self.argument_spec, getattr(self, "params", None)))
        super().fail_json(msg, **kwargs)
        raise AssertionError("fail_json returned")  # pragma: no cover


class NodepatchModule:
    """Modules that need no client library (notify, reboot_required, rollout_report) use it as it is; KubeModule and
    AzureModule add their connection options, the library check and the client."""

    def __init__(self, argument_spec: dict[str, t.Any], shared_spec: dict[str, t.Any] | None = None,
                 library: str | None = None, import_error: BaseException | None = None, **kwargs: t.Any) -> None:
        spec = dict(shared_spec or {})
        spec.update(argument_spec)
        self.module = NodepatchAnsibleModule(argument_spec=spec, **kwargs)
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

    def require_at_least(self, **lows: float) -> None:
        """Fail, before anything else runs, for a numeric option below its lowest allowed value."""
        for option, low in lows.items():
            value = self.params.get(option)
            if value is not None and value < low:
                self.fail_json(msg=f"{option} must be {low:g} or more, got {value:g}")

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
