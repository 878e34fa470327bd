# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one list-and-watch loop behind waiting for nodes and for pods to go."""

from __future__ import annotations

import time
import typing as t
from types import SimpleNamespace as NS

import pytest
from kubernetes.client.rest import ApiException

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import NODES
from ansible_collections.nodepatch.kube.plugins.module_utils.watch import follow
from ansible_collections.nodepatch.kube.tests.unit.plugins.module_utils.fake_kube import FakeKube


class Broken(t.NamedTuple):
    error: BaseException


class Watches:
    """Each watch opened plays the next list of (type, object) events, or raises the error of a Broken."""

    def __init__(self, *plays: t.Any) -> None:
        self.plays = list(plays)
        self.opened: list[dict[str, t.Any]] = []

    def watch_nodes(self, **kwargs: t.Any) -> t.Iterator[tuple[str, t.Any]]:
        self.opened.append(kwargs)
        play = self.plays.pop(0) if self.plays else []
        if isinstance(play, Broken):
            raise play.error
        yield from play


def item(name: str) -> NS:
    return NS(metadata=NS(name=name))


def run(watches: Watches, lists: list[list[str]], seconds: float = 5) -> tuple[bool, list[str], list[str]]:
    listed: list[str] = []
    seen: list[str] = []
    pending = iter(lists)

    def list_items(**_kwargs: t.Any) -> NS:
        names = next(pending, lists[-1])
        return NS(items=[item(name) for name in names], metadata=NS(resource_version=str(len(listed) + 7)))

    def on_list(items: list[t.Any]) -> None:
        listed.extend(entry.metadata.name for entry in items)

    def on_event(kind: str, entry: t.Any) -> None:
        seen.append(f"{kind} {entry.metadata.name}")

    ok = follow(FakeKube(list_nodes=list_items, watch_nodes=watches.watch_nodes), NODES, "node/n1", "list the nodes",
                "watch the nodes", on_list, on_event, lambda: "DELETED web" in seen or "gone" in listed,
                time.monotonic() + seconds)
    return ok, listed, seen


def test_the_watch_starts_at_the_lists_version_and_bookmarks_are_not_events() -> None:
    watches = Watches([("BOOKMARK", item("")), ("DELETED", item("web"))])
    ok, _listed, seen = run(watches, [["web"]])
    assert ok and seen == ["DELETED web"]
    assert watches.opened[0]["resource_version"] == "7" and watches.opened[0]["allow_watch_bookmarks"]


def test_an_expired_version_or_a_broken_watch_lists_again() -> None:
    watches = Watches([("ERROR", {"code": 410})], Broken(ConnectionError("reset")))
    ok, listed, _seen = run(watches, [["web"], ["web"], ["gone"]])
    assert ok and listed == ["web", "web", "gone"] and len(watches.opened) == 2


def test_refused_permissions_fail_at_once_naming_the_watch() -> None:
    watches = Watches(Broken(ApiException(status=403, reason="Forbidden")))
    with pytest.raises(NodepatchError, match="cannot watch the nodes node/n1: HTTP 403"):
        run(watches, [["web"]])


def test_the_deadline_ends_the_wait_with_false() -> None:
    ok, _listed, _seen = run(Watches(), [["web"]], seconds=0.3)
    assert not ok
