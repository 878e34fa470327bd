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
    leaks = []
    for where, output in outputs.items():
        text = output if isinstance(output, str) else json.dumps(output)
        for label, value in secrets.items():
            if any(form in text for form in _forms(value)):
                leaks.append(f"{label} in {where}")
    return leaks
