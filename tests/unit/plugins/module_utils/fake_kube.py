# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one stand-in for KubeClient in unit tests."""

from __future__ import annotations

import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import Resource

VERBS = ("get", "list", "create", "patch", "replace", "delete", "watch")


class FakeKube:
    """Just enough of KubeClient: ``call`` runs the function it is given with every argument, and each REST verb on
    a Resource runs the handler named ``VERB_PLURAL`` (get_nodes, list_pods, create_pods, ...): one the test
    passes, else this object's method of that name, so a subclass can define the handlers it needs."""

    def __init__(self, **handlers: t.Callable[..., t.Any]) -> None:
        unknown = [name for name in handlers if name.split("_", 1)[0] not in VERBS]
        assert not unknown, f"no such verb: {unknown}"
        self.handlers = handlers

    def call(self, function: t.Callable[..., t.Any], *args: t.Any, target: str, action: str,
             retry_429: bool = True, **kwargs: t.Any) -> t.Any:
        return function(*args, **kwargs)

    def handler(self, verb: str, resource: Resource) -> t.Callable[..., t.Any]:
        name = f"{verb}_{resource.plural}"
        return self.handlers.get(name) or getattr(self, name)


def _verb(verb: str) -> t.Callable[..., t.Any]:
    def run(self: FakeKube, resource: Resource, *args: t.Any, **kwargs: t.Any) -> t.Any:
        return self.handler(verb, resource)(*args, **kwargs)
    return run


for _name in VERBS:
    setattr(FakeKube, _name, _verb(_name))


def refused(status: int, message: str | None = None, causes: t.Sequence[str] = ()) -> NodepatchError:
    """What KubeClient.call raises when the API answers ``status``, in the shape kube.api_error gives it."""
    details: dict[str, t.Any] = {"status": status}
    if causes:
        details["api_causes"] = list(causes)
    return NodepatchError(message or f"HTTP {status}", details=details, status=status)
