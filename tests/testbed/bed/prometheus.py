# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus of the test bed: its configuration, the test alert rules and their switch."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

from bed.procs import wait_for
from bed.state import PATHS, read_json, write_json

ALERT_DEFAULT = "NodepatchTestAlert"


def find_binary() -> str | None:
    return shutil.which("prometheus") or next((p for p in ("/usr/bin/prometheus",) if os.access(p, os.X_OK)), None)


def rules(firing: set[str]) -> str:
    names = sorted(firing | {ALERT_DEFAULT})
    text = []
    for name in names:
        # vector(1) > 0 yields one sample (firing); vector(0) > 0 yields none (inactive), so the rule stays
        # defined and visible in /api/v1/rules either way.
        expr = "vector(1) > 0" if name in firing else "vector(0) > 0"
        text.append(
            f"  - alert: {name}\n    expr: {expr}\n    labels:\n      severity: warning\n      source: nodepatch-testbed\n"
            f"    annotations:\n      summary: 'test bed alert {name}, switched with: testbed alert on|off'\n"
        )
    return "groups:\n- name: nodepatch-testbed\n  interval: 1s\n  rules:\n" + "".join(text)


def config(port: int, api_port: int) -> str:
    return (
        "global:\n  scrape_interval: 5s\n  evaluation_interval: 1s\n"
        "rule_files:\n  - rules.yml\n"
        "scrape_configs:\n"
        f"  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        # The API server's own request counters, for the benchmarks ("API requests, counted by the server").
        f"  - job_name: kube-apiserver\n    scheme: https\n    tls_config:\n"
        f"      ca_file: {PATHS.pki / 'ca.crt'}\n      cert_file: {PATHS.pki / 'admin.crt'}\n"
        f"      key_file: {PATHS.pki / 'admin.key'}\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{api_port}']\n"
    )


def write_config(directory: Path, port: int, api_port: int) -> None:
    (directory / "prometheus.yml").write_text(config(port, api_port))
    (directory / "rules.yml").write_text(rules(set()))
    write_json(directory / "firing.json", [])


def argv(binary: str, directory: Path, port: int) -> list[str]:
    return [binary, f"--config.file={directory / 'prometheus.yml'}", f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d", "--log.level=warn"]


def firing_alerts(prometheus_url: str) -> set[str]:
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/alerts", timeout=5) as resp:
        data = json.load(resp)
    return {a["labels"]["alertname"] for a in data["data"]["alerts"] if a.get("state") == "firing"}


def switch_alert(prometheus_url: str, name: str, on: bool) -> None:
    """Rewrites the rule of alert `name` and returns once Prometheus reports it firing (on) or inactive."""
    firing_file = PATHS.prometheus / "firing.json"
    firing = set(read_json(firing_file)) if firing_file.exists() else set()
    if on:
        firing.add(name)
    else:
        firing.discard(name)
    (PATHS.prometheus / "rules.yml").write_text(rules(firing))
    write_json(firing_file, sorted(firing))
    urllib.request.urlopen(urllib.request.Request(f"{prometheus_url}/-/reload", method="POST"), timeout=10).close()
    # Return only once Prometheus reports the new state, so a caller can assert on it straight away.
    wait_for(f"alert {name} to be {'firing' if on else 'inactive'}",
             lambda: (name in firing_alerts(prometheus_url)) == on, timeout=30, interval=0.2)
