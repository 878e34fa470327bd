# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The few Kubernetes API calls the test bed makes itself, with the admin client certificate (standard library)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bed.state import TestbedError


class Api:
    def __init__(self, url: str, pki: Path) -> None:
        self.url = url.rstrip("/")
        self.context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                timeout: float = 10.0) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw = err.read()
            status = err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
             ok: Iterable[int] = (200, 201)) -> Any:
        status, payload = self.request(method, path, body, content_type)
        if status not in tuple(ok):
            message = payload.get("message") if isinstance(payload, dict) else payload
            raise TestbedError(f"{method} {path}: HTTP {status}: {message}")
        return payload

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def merge_patch(self, path: str, body: Any) -> Any:
        return self.call("PATCH", path, body, "application/merge-patch+json")

    def strategic_patch(self, path: str, body: Any) -> Any:
        return self.call("PATCH", path, body, "application/strategic-merge-patch+json")


def api_from_info(info: dict[str, Any]) -> Api:
    return Api(info["api_url"], Path(info["state_dir"]) / "pki")


def healthy(info: dict[str, Any]) -> bool:
    """A test bed described by testbed.json is running: its API server answers /readyz."""
    try:
        return api_from_info(info).request("GET", "/readyz", timeout=3)[0] == 200
    except (OSError, KeyError):  # OSError: refused, TLS, URLError
        return False


def node_condition(node: dict[str, Any], kind: str) -> str | None:
    for condition in node.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status"))
    return None
