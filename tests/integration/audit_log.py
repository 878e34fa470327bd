# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The write requests the API server received, from its audit log (the test bed's policy: tests/testbed/bed/audit.py).

    log = AuditLog.of(testbed)        # fails the test when the test bed has no audit log
    mark = log.mark()                 # the log's size now
    ...                               # run something
    writes = log.writes(mark, user=log.user_of(testbed))

A mark is a byte offset: only what the API server appended after it is parsed, so reading stays cheap however long
the session's log has grown. Requests still in flight when `writes` runs are not in the log yet; call it after the
process that made them has exited.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class Write:
    """One audited write request: who, what verb on which object, the HTTP status it was answered with, and the
    User-Agent (ours name the module or plugin: nodepatch.kube/node_drain)."""

    user: str
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int
    uri: str
    user_agent: str = ""

    @property
    def agent(self) -> str:
        """The part of the collection that made the request (the User-Agent after nodepatch.kube/), else ''."""
        head, _slash, rest = self.user_agent.partition("/")
        return rest.split(" ", 1)[0] if head == "nodepatch.kube" else ""

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        sub = f"/{self.subresource}" if self.subresource else ""
        return (f"{self.user}: {self.verb} {self.resource}{sub} {where}{self.name} -> {self.code} ({self.uri}) "
                f"by {self.user_agent or '?'}")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(cls, testbed: Any) -> AuditLog:
        path = testbed.info.get("audit_log")
        if not path:
            pytest.fail("the test bed has no audit log (testbed.json: no audit_log; a test bed started before the "
                        "audit policy existed, or another cluster): run tests/testbed/testbed down, then up again")
        return cls(Path(path))

    @staticmethod
    def user_of(testbed: Any) -> str:
        """The least-privilege kubeconfig's identity (the ServiceAccount of deploy/rbac.yml)."""
        namespace, name = str(testbed.info["service_account"]).split("/", 1)
        return f"system:serviceaccount:{namespace}:{name}"

    def mark(self) -> int:
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0  # the API server creates it with its first audited request

    def writes(self, since: int, user: str | None = None) -> list[Write]:
        """The write requests logged after the mark `since`, of `user` only when given."""
        found: list[Write] = []
        try:
            with self.path.open("rb") as log:
                log.seek(since)
                chunk = log.read()
        except FileNotFoundError:
            return found
        for line in chunk.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if event.get("verb") not in WRITE_VERBS or event.get("stage") == "RequestReceived":
                continue
            who = str((event.get("user") or {}).get("username", ""))
            if user is not None and who != user:
                continue
            ref = event.get("objectRef") or {}
            found.append(Write(who, str(event["verb"]), str(ref.get("resource", "")), str(ref.get("subresource", "")),
                               str(ref.get("namespace", "")), str(ref.get("name", "")),
                               int((event.get("responseStatus") or {}).get("code", 0)),
                               str(event.get("requestURI", "")), str(event.get("userAgent", ""))))
        return found
