# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is any secret in what a run printed or wrote? One small scanner for every test that wants to know.

    secrets = {**kubeconfig_secrets(path), **url_secrets("webhook", url), "client secret": value}
    leaks = find_leaks(secrets, {"playbook output": proc.stdout, "report.json": text, ...})
    assert not leaks, "\\n".join(leaks)

A secret is looked for as it is and in the forms it travels in: base64 (kubeconfig *-data fields), the
base64 and PEM body of certificates and keys, each long line of a PEM, and URL-quoted. Values shorter than 8
characters are ignored: they match by chance.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

MIN_LENGTH = 8


def _forms(value: str) -> set[str]:
    forms = {value, urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
    if "-----BEGIN" in value:
        # A PEM block: each full line of its body is as secret as the whole.
        forms |= {line.strip() for line in value.splitlines() if len(line.strip()) >= 40 and "-----" not in line}
    return {form for form in forms if len(form) >= MIN_LENGTH}


def kubeconfig_secrets(path: str | Path) -> dict[str, str]:
    """Tokens, client keys and certificates of every user of a kubeconfig (inline data and the files it names)."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    found: dict[str, str] = {}
    for user in doc.get("users") or []:
        name, fields = user.get("name", "?"), user.get("user") or {}
        if fields.get("token"):
            found[f"token of kubeconfig user {name}"] = str(fields["token"])
        for field in ("client-key-data", "client-certificate-data"):
            if fields.get(field):
                found[f"{field} of kubeconfig user {name}"] = str(fields[field])
                found[f"{field} of kubeconfig user {name} (decoded)"] = base64.b64decode(fields[field]).decode()
        for field in ("client-key", "client-certificate"):
            if fields.get(field) and Path(fields[field]).is_file():
                found[f"{field} file of kubeconfig user {name}"] = Path(fields[field]).read_text()
    return found


def url_secrets(label: str, url: str) -> dict[str, str]:
    """A webhook URL is a credential: the whole URL, its path and its query each count."""
    parts = urllib.parse.urlsplit(url)
    found = {f"{label} URL": url}
    if parts.path.strip("/"):
        found[f"{label} URL path"] = parts.path
    if parts.query:
        found[f"{label} URL query"] = parts.query
    return found


def find_leaks(secrets: Mapping[str, str], outputs: Mapping[str, Any]) -> list[str]:
    """'<secret label> in <output name>' for each secret found; outputs that are not text are JSON-dumped."""
    forms = {label: _forms(value) for label, value in secrets.items()}
    leaks = []
    for where, output in outputs.items():
        text = output if isinstance(output, str) else json.dumps(output)
        for label, variants in forms.items():
            if any(form in text for form in variants):
                leaks.append(f"{label} in {where}")
    return leaks


class SessionScan:
    """Every output of one test session, scanned once at its end for every secret the session handed out.

    Tests register what they hand out (the test bed's kubeconfigs, the ARM emulator's client secret, each webhook
    URL the receiver gives) and the runners of conftest.py register what they capture (module results, playbook
    output). At the end the files the runs wrote under the session's temporary directory are read too: playbook
    logs, roll-out reports, ansible-runner's stdout and job events. Not inputs such as extra-vars files and
    kubeconfigs, which hold the secrets by design, nor a test bed's own state directory, nor runner's `command`
    artifact (it holds the job's environment, which AWX never keeps)."""

    OUTPUT_FILES = ("*.log", "nodepatch-reports/*", "artifacts/*/stdout", "artifacts/*/job_events/*.json")

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self.root: Path | None = None  # the session's temporary directory, whose output files are read at the end

    def add_secrets(self, secrets: Mapping[str, str]) -> None:
        self.secrets.update(secrets)

    def add_output(self, where: str, text: str) -> None:
        self.outputs[f"{where} (output {len(self.outputs) + 1})"] = text

    def output_files(self, root: Path) -> dict[str, str]:
        # A running test bed's state directory (one a test started): its PKI and kubeconfigs. One that is down
        # keeps only its components' logs, which are read like any other.
        beds = {path.parent for marker in ("components.json", "testbed.json") for path in root.rglob(marker)}
        found = {}
        for pattern in self.OUTPUT_FILES:
            for path in root.rglob(pattern):
                if path.is_file() and not any(bed in path.parents for bed in beds):
                    found[str(path.relative_to(root))] = path.read_text(errors="replace")
        return found

    def scan(self) -> tuple[list[str], str]:
        """The leaks, and a line saying what was scanned for what."""
        root = self.root
        outputs = {**self.outputs, **(self.output_files(root) if root is not None and root.is_dir() else {})}
        leaks = find_leaks(self.secrets, outputs)
        size = sum(len(text) for text in outputs.values())
        return leaks, (f"scanned {len(self.outputs)} captured outputs and {len(outputs) - len(self.outputs)} "
                       f"files ({size:,} characters) for {len(self.secrets)} secrets: {len(leaks)} found")


SESSION = SessionScan()
