# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make a set of objects present or absent, the way a manifest is applied: compare, then create, replace or
delete only what differs. Objects this collection creates carry MANAGED_BY labels; absent deletes only those.

An object is up to date when everything we specify is found in it with the same value (the API server adds its
defaults around that); a list must have the same length and each item match, so a flag removed from a container's
args, or an env entry dropped, is seen. A replace keeps the labels and annotations others put on the object —
kured's lock lives in an annotation on its own DaemonSet.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    DAEMONSETS,
    NAMESPACES,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    KubeClient,
    Resource,
)

KINDS: dict[str, Resource] = {
    "Namespace": NAMESPACES,
    "ServiceAccount": SERVICE_ACCOUNTS,
    "Secret": SECRETS,
    "ClusterRole": CLUSTER_ROLES,
    "ClusterRoleBinding": CLUSTER_ROLE_BINDINGS,
    "Role": ROLES,
    "RoleBinding": ROLE_BINDINGS,
    "DaemonSet": DAEMONSETS,
}
# Maps compared key for key: a key we no longer set must go (a node selector narrowed, a Secret key dropped).
EXACT_MAPS = ("nodeSelector", "data")
# Objects we use but do not own once they exist without our labels (a namespace such as kube-system).
ADOPT_NEVER = ("Namespace",)


def matches(desired: t.Any, live: t.Any, key: str = "") -> bool:
    """Whether ``live`` holds everything ``desired`` specifies (see the module docstring)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        if key in EXACT_MAPS and set(desired) != set(live):
            return False
        return all(matches(value, live.get(name), name) for name, value in desired.items())
    if isinstance(desired, list):
        return (isinstance(live, list) and len(desired) == len(live)
                and all(matches(want, have, key) for want, have in zip(desired, live)))
    return bool(desired == live)


def owned(live: t.Mapping[str, t.Any] | None, labels: t.Mapping[str, str]) -> bool:
    found = ((live or {}).get("metadata") or {}).get("labels") or {}
    return all(found.get(name) == value for name, value in labels.items())


def describe(obj: t.Mapping[str, t.Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind'].lower()} {where}{meta['name']}"


@dataclass
class Step:
    """What applying does to one object: ``create``, ``update``, ``delete``, ``none`` (up to date, or absent
    already) or ``keep`` (exists without our labels: used, never changed or deleted)."""

    obj: dict[str, t.Any]
    action: str
    live: dict[str, t.Any] | None = None

    def report(self) -> dict[str, t.Any]:
        meta = self.obj["metadata"]
        entry = {"kind": self.obj["kind"], "name": meta["name"], "action": self.action}
        if meta.get("namespace"):
            entry["namespace"] = meta["namespace"]
        return entry


def plan_present(desired: dict[str, t.Any], live: dict[str, t.Any] | None, labels: t.Mapping[str, str]) -> Step:
    if live is None:
        return Step(desired, "create")
    if desired["kind"] in ADOPT_NEVER and not owned(live, labels):
        return Step(desired, "keep", live)
    body = {name: value for name, value in desired.items() if name not in ("apiVersion", "kind")}
    return Step(desired, "none" if matches(body, live) else "update", live)


def plan_absent(desired: dict[str, t.Any], live: dict[str, t.Any] | None, labels: t.Mapping[str, str]) -> Step:
    if live is None:
        return Step(desired, "none")
    return Step(desired, "delete" if owned(live, labels) else "keep", live)


def replacement(desired: t.Mapping[str, t.Any], live: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The desired object as a full replace of ``live``: its version, and the labels and annotations others set."""
    body = dict(desired)
    meta = dict(desired["metadata"])
    live_meta = live.get("metadata") or {}
    meta["resourceVersion"] = live_meta.get("resourceVersion")
    meta["labels"] = {**(live_meta.get("labels") or {}), **(meta.get("labels") or {})}
    meta["annotations"] = {**(live_meta.get("annotations") or {}), **(meta.get("annotations") or {})}
    body["metadata"] = meta
    return body


@dataclass
class Applier:
    """Reads, plans and writes objects of KINDS through KubeClient.call (its retries and its error messages)."""

    client: KubeClient
    labels: t.Mapping[str, str]
    check_mode: bool = False
    steps: list[Step] = field(default_factory=list)

    @staticmethod
    def _resource(obj: t.Mapping[str, t.Any]) -> Resource:
        if obj["kind"] not in KINDS:
            raise NodepatchError(f"cannot apply kind {obj['kind']}", target=describe(obj))
        return KINDS[obj["kind"]]

    def read(self, obj: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
        meta = obj["metadata"]
        try:
            found = self.client.call(self.client.get, self._resource(obj), meta["name"], meta.get("namespace"),
                                     target=describe(obj), action="read")
        except NodepatchError as error:
            if error.is_not_found:
                return None
            raise
        return t.cast(dict, self.client.api_client.sanitize_for_serialization(found))

    def plan(self, objects: t.Sequence[dict[str, t.Any]], state: str) -> list[Step]:
        decide = plan_present if state == "present" else plan_absent
        self.steps = [decide(obj, self.read(obj), self.labels) for obj in objects]
        return self.steps

    def write(self) -> None:
        """Carries out the plan: creates and updates in order, deletes in reverse (the DaemonSet goes first)."""
        if self.check_mode:
            return
        ordered = [step for step in self.steps if step.action in ("create", "update")]
        ordered += [step for step in reversed(self.steps) if step.action == "delete"]
        for step in ordered:
            target = describe(step.obj)
            resource = self._resource(step.obj)
            name, namespace = step.obj["metadata"]["name"], step.obj["metadata"].get("namespace")
            if step.action == "create":
                self.client.call(self.client.create, resource, step.obj, namespace, target=target, action="create")
            elif step.action == "update":
                self.client.call(self.client.replace, resource, name, replacement(step.obj, step.live or {}),
                                 namespace, target=target, action="replace")
            else:
                try:
                    self.client.call(self.client.delete, resource, name, namespace, target=target, action="delete")
                except NodepatchError as error:
                    if not error.is_not_found:
                        raise

    @property
    def changed(self) -> bool:
        return any(step.action in ("create", "update", "delete") for step in self.steps)
