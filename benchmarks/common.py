# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plumbing shared by the benchmarks: the test bed they run on, API request counts, tools, tables."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TESTBED_CLI = REPO / "tests" / "testbed" / "testbed"
VENV_BIN = Path(os.environ.get("VENV", REPO / ".venv")) / "bin"
# The benchmarks' own test bed by default: the request counter is cluster-wide, the drain benchmark cordons
# nodes and raises one node's pod capacity, and the roll-out benchmark restarts it with N nodes. None of that
# may happen to the shared test bed (.build/testbed) other integration tests are using at the same time.
DEFAULT_TESTBED_DIR = REPO / ".build" / "bench-testbed"
# kubernetes.core comes from the PyPI `ansible` bundle, unpacked outside the clone (see docs/performance.md).
KCORE_CACHE = Path(os.environ.get("NODEPATCH_BENCH_CACHE", Path.home() / ".cache" / "nodepatch-bench"))
ANSIBLE_BUNDLE_VERSION = os.environ.get("NODEPATCH_BENCH_ANSIBLE_VERSION", "11.9.0")

_METRIC = re.compile(r'^apiserver_request_total\{([^}]*)\}\s+([0-9.eE+]+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Testbed:
    """A running test bed in its own state directory, driven through tests/testbed/testbed."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()
        self.info: dict[str, Any] = {}

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "NODEPATCH_TESTBED_DIR": str(self.state_dir)}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(TESTBED_CLI), *args], env=self.env, text=True, capture_output=True, check=check)

    def load(self) -> bool:
        try:
            self.info = json.loads((self.state_dir / "testbed.json").read_text())
        except (OSError, ValueError):
            return False
        return self.answers()

    def answers(self) -> bool:
        try:
            return self.raw("/readyz", timeout=5).strip() == b"ok"
        except (OSError, ssl.SSLError, KeyError):
            return False

    def ensure(self, nodes: int) -> bool:
        """Reuses a running test bed with exactly `nodes` nodes, else (re)starts one. True when started here."""
        if self.load() and len(self.info["nodes"]) == nodes:
            log(f"reusing the test bed in {self.state_dir} ({nodes} nodes)")
            return False
        log(f"starting a test bed with {nodes} nodes in {self.state_dir}")
        proc = self.cli("up", "--nodes", str(nodes), check=False)
        if proc.returncode != 0 or not self.load():
            raise RuntimeError(f"testbed up --nodes {nodes} failed:\n{proc.stderr[-3000:]}")
        return True

    def down(self) -> None:
        log(f"stopping the test bed in {self.state_dir}")
        self.cli("down", check=False)

    # ------------------------------------------------------------------------------------------ API

    def _ssl(self) -> ssl.SSLContext:
        pki = self.state_dir / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return context

    def raw(self, path: str, timeout: float = 30) -> bytes:
        with urllib.request.urlopen(self.info["api_url"].rstrip("/") + path, context=self._ssl(),
                                    timeout=timeout) as resp:
            return bytes(resp.read())

    def request_counts(self) -> Counter[tuple[str, str, str]]:
        """apiserver_request_total summed per (verb, resource, subresource), this scrape itself included."""
        counts: Counter[tuple[str, str, str]] = Counter()
        for line in self.raw("/metrics").decode().splitlines():
            match = _METRIC.match(line)
            if match:
                labels = dict(_LABEL.findall(match.group(1)))
                key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
                counts[key] += int(float(match.group(2)))
        return counts

    def kubectl_path(self) -> str:
        kubectl = Path(self.info.get("bin_dir", "")) / "kubectl"
        return str(kubectl) if kubectl.exists() else (shutil.which("kubectl") or "kubectl")

    def kubectl(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.kubectl_path(), f"--kubeconfig={self.info['admin_kubeconfig']}", *args],
                              text=True, capture_output=True, check=check, timeout=timeout)

    def client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=self.info["admin_kubeconfig"])


class RequestMeter:
    """API requests made between start() and stop(), net of the idle background rate (kwok heartbeats,
    controllers' lease renewals) measured once per test bed. The counter is cluster-wide."""

    def __init__(self, testbed: Testbed) -> None:
        self.testbed = testbed
        self.idle_rate = 0.0
        self._before: Counter[tuple[str, str, str]] = Counter()
        self._t0 = 0.0

    def calibrate(self, seconds: float = 10.0) -> float:
        before = self.testbed.request_counts()
        t0 = time.monotonic()
        time.sleep(seconds)
        after = self.testbed.request_counts()
        elapsed = time.monotonic() - t0
        self.idle_rate = max(0.0, (sum(after.values()) - sum(before.values()) - 1) / elapsed)
        log(f"idle API background: {self.idle_rate:.2f} requests/s")
        return self.idle_rate

    def start(self) -> None:
        self._before = self.testbed.request_counts()
        self._audit_mark = audit_log_size(self.testbed)
        self._t0 = time.monotonic()

    def stop(self) -> dict[str, Any]:
        after = self.testbed.request_counts()
        elapsed = time.monotonic() - self._t0
        delta = after - self._before
        total = sum(delta.values()) - 1  # the scrape that opened the window
        by_call = {" ".join(part for part in key if part): value for key, value in delta.most_common() if value}
        return {
            "client": client_requests(delta),
            "total": total,
            "net": max(0, round(total - self.idle_rate * elapsed)),
            "window_s": round(elapsed, 2),
            "by_call": by_call,
            "ours": our_requests(self.testbed, self._audit_mark),
        }


def audit_log_size(testbed: Testbed) -> int:
    try:
        return os.path.getsize(testbed.info.get("audit_log", ""))
    except OSError:
        return 0


def our_requests(testbed: Testbed, since: int) -> dict[str, Any]:
    """Every request the collection's ServiceAccount made after the audit log's offset ``since`` (the test bed logs
    them all, reads too: tests/testbed/bed/audit.py), by the part of the collection its User-Agent names
    (nodepatch.kube/node_drain) and by call. Exact where client_requests() estimates: the control plane is not
    in it. Requests still in flight are not logged yet: call it after the process that made them has ended."""
    by_agent: Counter[str] = Counter()
    by_call: Counter[str] = Counter()
    try:
        with open(testbed.info.get("audit_log", ""), "rb") as audit:
            audit.seek(since)
            chunk = audit.read()
    except OSError:
        return {"total": None, "by_agent": {}, "by_call": {}}
    for line in chunk.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        head, _slash, rest = str(event.get("userAgent", "")).partition("/")
        if head != "nodepatch.kube":
            continue
        ref = event.get("objectRef") or {}
        resource = "/".join(part for part in (ref.get("resource", ""), ref.get("subresource", "")) if part)
        by_agent[rest.split(" ", 1)[0] or "?"] += 1
        by_call[f"{event.get('verb', '?')} {resource or event.get('requestURI', '?')}"] += 1
    return {"total": sum(by_agent.values()), "by_agent": dict(by_agent.most_common()),
            "by_call": dict(by_call.most_common())}


# Requests the control plane makes in reaction to a drain or a reboot, not the tool: status writes of the
# controllers and of kwok, events, leases, the ReplicaSet controller's replacement pods, the scheduler's
# bindings, kwok finishing pod deletions, and the eviction handler's own PodDisruptionBudget reads (one LIST per
# eviction request, GETs when it retries a conflicting PDB status update; it calls itself through the API).
def _reaction(verb: str, resource: str, subresource: str) -> bool:
    return (subresource == "status" or resource in ("events", "leases")
            or (verb == "POST" and resource == "pods" and subresource in ("", "binding"))
            or (verb == "DELETE" and resource == "pods")
            or (verb == "GET" and resource == "poddisruptionbudgets"))


def client_requests(delta: Counter[tuple[str, str, str]]) -> int:
    """The tool's own requests in a window: the delta minus the control plane's reactions (see _reaction)."""
    own = sum(value for key, value in delta.items() if not _reaction(*key))
    evictions = delta[("POST", "pods", "eviction")]
    pdb_lists = delta[("LIST", "poddisruptionbudgets", "")]
    return own - pdb_lists + max(0, pdb_lists - evictions) - 1  # minus the scrape that opened the window


# ---------------------------------------------------------------------------------------------- tools


def kubernetes_core_path() -> Path:
    """An isolated collections path holding only kubernetes.core from the PyPI `ansible` bundle.

    Downloaded with pip (no Galaxy access here) into a cache outside the clone; never a requirement.
    """
    root = KCORE_CACHE / "collections"
    if (root / "ansible_collections" / "kubernetes" / "core" / "MANIFEST.json").exists():
        return root
    KCORE_CACHE.mkdir(parents=True, exist_ok=True)
    wheel = next(KCORE_CACHE.glob(f"ansible-{ANSIBLE_BUNDLE_VERSION}-*.whl"), None)
    if wheel is None:
        log(f"downloading ansible=={ANSIBLE_BUNDLE_VERSION} (for kubernetes.core only) into {KCORE_CACHE}")
        subprocess.run([str(VENV_BIN / "pip"), "download", f"ansible=={ANSIBLE_BUNDLE_VERSION}", "--no-deps",
                        "-d", str(KCORE_CACHE)], check=True, capture_output=True)
        wheel = next(KCORE_CACHE.glob(f"ansible-{ANSIBLE_BUNDLE_VERSION}-*.whl"))
    import zipfile

    with zipfile.ZipFile(wheel) as bundle:
        members = [name for name in bundle.namelist() if name.startswith("ansible_collections/kubernetes/core/")]
        bundle.extractall(root, members)
    return root


def kubernetes_core_version() -> str:
    manifest = kubernetes_core_path() / "ansible_collections" / "kubernetes" / "core" / "MANIFEST.json"
    return str(json.loads(manifest.read_text())["collection_info"]["version"])


def staged_collections_root() -> Path:
    out = subprocess.run([str(REPO / "tools" / "stage-collection.sh")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def ansible_env(collections_paths: list[Path], workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(str(path) for path in collections_paths),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-local"),
        "ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python"),
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        **(extra or {}),
    }


# ---------------------------------------------------------------------------------------------- numbers, tables


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def batches(nodes: int, concurrency: int) -> int:
    return math.ceil(nodes / concurrency)


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _header in headers) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1), "cpu_model": model,
            "python": sys.version.split()[0]}
