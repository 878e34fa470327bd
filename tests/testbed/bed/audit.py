# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The API server's audit log: every write request (create, update, patch, delete, deletecollection) at level
Metadata, so a test can count what a module wrote, refused or not (tests/integration/audit_log.py reads it), and
every request of the collection's ServiceAccount, reads too, so a benchmark can count the collection's own
requests by the module that made them (their User-Agent), apart from the control plane's."""

from __future__ import annotations

import json
from pathlib import Path

from bed.cluster import SA_NAME, SA_NAMESPACE

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

# JSON is YAML. Metadata, never Request/RequestResponse: bodies would carry Secrets and tokens into the log.
POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    # One event per request (ResponseComplete, or Panic), not two.
    "omitStages": ["RequestReceived"],
    "rules": [
        # kwok renews every node's Lease and status every few seconds, the API server its own Lease: most of the
        # log, and never a test's doing.
        {"level": "None", "users": ["kwok-controller", "system:apiserver"]},
        {"level": "Metadata", "users": [f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"]},
        {"level": "Metadata", "verbs": list(WRITE_VERBS)},
        {"level": "None"},
    ],
}


def write_policy(path: Path) -> None:
    path.write_text(json.dumps(POLICY, indent=2) + "\n")


def apiserver_flags(policy: Path, log: Path) -> list[str]:
    # No rotation (maxsize 0): readers keep a byte offset into the one file (a restarted API server appends).
    return [f"--audit-policy-file={policy}", f"--audit-log-path={log}", "--audit-log-format=json",
            "--audit-log-maxsize=0", "--audit-log-mode=blocking"]
