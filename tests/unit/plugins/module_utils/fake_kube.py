# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one stand-in for KubeClient in unit tests."""

from __future__ import annotations

import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

GROUPS = ("core", "apps", "policy", "coordination")


class FakeKube:
    """Just enough of KubeClient: ``call`` runs the function it is given with every argument (``_content_type``
    too, so a fake can check the patch type). Each API group is what the test passes (a namespace of its own
    functions), else the fake itself, so a subclass can define the API methods it needs."""

    def __init__(self, **groups: t.Any) -> None:
        unknown = set(groups) - set(GROUPS)
        assert not unknown, f"no such API group: {unknown}"
        for name in GROUPS:
            setattr(self, name, groups.get(name, self))

    def call(self, function: t.Callable[..., t.Any], *args: t.Any, target: str, action: str,
             retry_429: bool = True, **kwargs: t.Any) -> t.Any:
        return function(*args, **kwargs)


def refused(status: int, message: str | None = None, causes: t.Sequence[str] = ()) -> NodepatchError:
    """What KubeClient.call raises when the API answers ``status``, in the shape kube.api_error gives it."""
    details: dict[str, t.Any] = {"status": status}
    if causes:
        details["api_causes"] = list(causes)
    return NodepatchError(message or f"HTTP {status}", details=details, status=status)
