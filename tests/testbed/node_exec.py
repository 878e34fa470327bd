# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exec through the real API server into a pod on a simulated node (see docs/testbed.md, "Exec").

The API server dials the node's InternalIP (127.0.0.1) at its kubelet port, which is kwok's server; kwok runs
the command as a local process, as the kwok.x-k8s.io/v1alpha1 `Exec` object named after the pod says (working
directory, environment). This module:

- `confined()`: kwok's command line, wrapped so that kwok and every process it starts live in a private mount
  namespace where the test bed's shims (tests/testbed/shims) are bind-mounted over nsenter, systemctl, apt-get...
  and come first in PATH: whatever a command calls, by name or by path, it never enters or reboots this machine.
- `watch`: a small controller (`python node_exec.py watch`) that gives every pod sharing its node's PID
  namespace (`hostPID: true`, as a node pod must) an `Exec` whose environment names the pod's node, owned by the
  pod so that the garbage collector removes it with the pod.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHIMS = HERE / "shims"
GROUP, VERSION = "kwok.x-k8s.io", "v1alpha1"
CRD_NAME = f"execs.{GROUP}"
NODE_LABEL = "nodepatch.testbed/node"
# A container's PATH, behind the shims.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Commands that must never reach this machine from a node's exec: bind-mounted over wherever they live.
# reboot, shutdown, halt and poweroff are systemctl under other names (argv[0] tells the shim which).
GUARDED = {"nsenter": "nsenter", "systemctl": "systemctl", "reboot": "systemctl", "shutdown": "systemctl",
           "halt": "systemctl", "poweroff": "systemctl", "apt-get": "apt-get", "apt": "apt-get",
           "unattended-upgrade": "unattended-upgrade", "dnf": "dnf", "yum": "dnf", "tdnf": "tdnf"}


class ExecSetupError(Exception):
    """The exec path cannot be set up; the message says why."""


def exec_crd() -> dict[str, Any]:
    """The `Exec` resource kwok watches with --enable-crds=Exec; the schema is kwok's business, not ours."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": "Exec", "listKind": "ExecList", "plural": "execs", "singular": "exec"},
            "versions": [{"name": VERSION, "served": True, "storage": True, "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


def exec_path() -> str:
    return f"{SHIMS}:{SYSTEM_PATH}"


def exec_object(pod: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    meta = pod["metadata"]
    envs = [{"name": key, "value": value} for key, value in {**env, "PATH": exec_path()}.items()]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Exec",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"],
            "labels": {NODE_LABEL: pod["spec"]["nodeName"]},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}],
        },
        # A container's exec starts in its working directory, "/" for the images a node pod uses.
        "spec": {"execs": [{"local": {"workDir": "/", "envs": envs}}]},
    }


def wants_exec(pod: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostPID") and spec.get("nodeName") and not pod["metadata"].get("deletionTimestamp"))


def confined(argv: list[str]) -> list[str]:
    """kwok's argv, run in a private mount namespace with the shims in place (see the module docstring)."""
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    probe = subprocess.run([unshare, "-m", "--propagation", "private", "true"], capture_output=True, text=True,
                           check=False)
    if probe.returncode != 0:
        why = probe.stderr.strip()
        raise ExecSetupError(f"exec into simulated nodes needs a private mount namespace (unshare -m, as root): {why}")
    return [unshare, "-m", "--propagation", "private", "--", sys.executable, str(Path(__file__).resolve()),
            "confine", "--", *argv]


def cmd_confine(args: argparse.Namespace) -> int:
    """Inside the new mount namespace: cover every guarded command, then become kwok."""
    covered: set[str] = set()
    for name, shim in GUARDED.items():
        for directory in SYSTEM_PATH.split(":"):
            target = Path(directory) / name
            if not target.exists():
                continue
            real = str(target.resolve())
            if real in covered:
                continue
            subprocess.run(["mount", "--bind", str(SHIMS / shim), real], check=True)
            covered.add(real)
    env = {"PATH": exec_path(), "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    os.execvpe(args.argv[0], args.argv, env)


AGENT_NAMESPACE = "nodepatch-system"
NODE_ADDRESS = "127.0.0.1"


def apiserver_flags(pki: Path) -> list[str]:
    """The API server's kubelet client: InternalIP only (never a Hostname to resolve), kwok's TLS verified."""
    return [
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
    ]


def kwok_flags(pki: Path, port: int) -> list[str]:
    """kwok as every node's kubelet: one TLS server on the nodes' address, Exec objects from the API server."""
    return [
        f"--server-address={NODE_ADDRESS}:{port}", f"--node-ip={NODE_ADDRESS}", f"--node-port={port}",
        f"--tls-cert-file={pki / 'kwok-serving.crt'}", f"--tls-private-key-file={pki / 'kwok-serving.key'}",
        "--enable-crds=Exec",
    ]


def watcher_argv(api_url: str, state_dir: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "watch", f"--api-url={api_url}", f"--state-dir={state_dir}"]


def prepare(api: Any, state_dir: Path, nodes: list[str]) -> dict[str, Any]:
    """The CRD and each node's files; returns what testbed.json says about exec."""
    from node_state import NodeState

    install_crd(api)
    states = [NodeState(state_dir, node) for node in nodes]
    for state in states:
        state.prepare(HERE, sys.executable)
    return {
        "agent_namespace": AGENT_NAMESPACE,
        "node_addresses": dict.fromkeys(nodes, NODE_ADDRESS),
        "node_roots": {state.node: str(state.root) for state in states},
        "package_logs": {state.node: str(state.package_log) for state in states},
        "exec_shims": str(SHIMS),
    }


# --------------------------------------------------------------------------------------------------- the watcher


class Watcher:
    """Keeps one `Exec` per hostPID pod; kwok serves an exec into a pod only when its `Exec` exists."""

    def __init__(self, api: Any, state_dir: Path) -> None:
        self.api = api
        self.state_dir = state_dir
        self.done: dict[str, str] = {}  # pod uid -> node, for pods whose Exec is in place

    def ensure(self, pod: dict[str, Any]) -> None:
        from node_state import NodeState

        uid = pod["metadata"]["uid"]
        if not wants_exec(pod) or uid in self.done:
            return
        node = pod["spec"]["nodeName"]
        body = exec_object(pod, NodeState(self.state_dir, node).env(HERE, sys.executable))
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        collection = f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/execs"
        status, payload = self.api.request("POST", collection, body)
        if status == 409:
            # Left by an earlier pod of the same name (the garbage collector has not got to it yet): replace it.
            current = self.api.get(f"{collection}/{name}")
            owners = [ref.get("uid") for ref in current["metadata"].get("ownerReferences") or []]
            if uid in owners:
                self.done[uid] = node
                return
            self.api.request("DELETE", f"{collection}/{name}")
            status, payload = self.api.request("POST", collection, body)
        if status not in (200, 201):
            raise RuntimeError(f"creating Exec {ns}/{name}: HTTP {status}: {payload}")
        self.done[uid] = node
        print(f"exec for pod {ns}/{name} runs as node {node}", flush=True)

    def run(self) -> None:
        while True:
            try:
                listed = self.api.get("/api/v1/pods")
                for pod in listed["items"]:
                    self.ensure(pod)
                self.follow(listed["metadata"]["resourceVersion"])
            except Exception as err:  # noqa: BLE001 - a controller outlives any one failed request
                print(f"watch interrupted, listing again: {err}", flush=True)
                time.sleep(0.5)

    def follow(self, resource_version: str) -> None:
        url = f"{self.api.url}/api/v1/pods?watch=1&resourceVersion={resource_version}&timeoutSeconds=300"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, context=self.api.context, timeout=330) as stream:
            for line in stream:
                event = json.loads(line)
                if event["type"] == "ERROR":  # e.g. 410 Gone: the resource version is too old
                    raise RuntimeError(event["object"].get("message", "watch error"))
                if event["type"] in ("ADDED", "MODIFIED"):
                    self.ensure(event["object"])
                elif event["type"] == "DELETED":
                    self.done.pop(event["object"]["metadata"]["uid"], None)


def install_crd(api: Any, timeout: float = 30) -> None:
    """Creates the Exec CRD and returns once the API server serves it."""
    status, payload = api.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", exec_crd())
    if status not in (200, 201, 409):
        raise ExecSetupError(f"creating the CRD {CRD_NAME}: HTTP {status}: {payload}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crd = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
        if conditions.get("Established") == "True":
            return
        time.sleep(0.1)
    raise ExecSetupError(f"the CRD {CRD_NAME} was not established within {timeout:.0f} s")


def cmd_watch(args: argparse.Namespace) -> int:
    from bed.api import Api

    state_dir = Path(args.state_dir)
    Watcher(Api(args.api_url, state_dir / "pki"), state_dir).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="node_exec.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = top.add_subparsers(dest="command", required=True)
    confine = sub.add_parser("confine", help="(inside unshare -m) bind the shims, then exec the command")
    confine.add_argument("argv", nargs=argparse.REMAINDER)
    confine.set_defaults(func=cmd_confine)
    watch = sub.add_parser("watch", help="create an Exec for every hostPID pod")
    watch.add_argument("--api-url", required=True)
    watch.add_argument("--state-dir", required=True)
    watch.set_defaults(func=cmd_watch)
    args = top.parse_args(argv)
    if getattr(args, "argv", None) and args.argv[0] == "--":
        args.argv = args.argv[1:]
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
