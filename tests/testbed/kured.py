# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real kured processes as peers on the test bed: `testbed kured start|stop|status [NODE...] [-- KURED FLAGS]`.

One kured per simulated node, run the way its DaemonSet pod runs it, from outside any pod:
- in-cluster configuration only: KUBERNETES_SERVICE_HOST/PORT point at the test bed's API server, and a private
  mount namespace (`unshare --mount --propagation private`) puts the `kube-system/kured` ServiceAccount's token
  and the test bed's CA at /var/run/secrets/kubernetes.io/serviceaccount/, over a tmpfs on /run that only that
  namespace sees;
- kured wraps its reboot command as `/usr/bin/nsenter -m/proc/1/ns/mnt -- CMD`; in that namespace a shim is
  bind-mounted over /usr/bin/nsenter that enters no namespace and runs only the test bed's own CLI, so the
  simulated reboot (`testbed reboot NODE`) is the one thing kured can run; `--reboot-command`, `--reboot-method`,
  the sentinel options, `--node-id` and the metrics address are always ours, and every KURED_* variable is
  dropped from its environment but those given with `--env`, which may not name these flags, so neither a flag
  nor the environment can make it reboot this machine;
- its RBAC is kured's own manifest (kured-rbac.yaml from its source, see build.sh kured), bound to its
  ServiceAccount; for a lock DaemonSet outside kube-system the manifest's Role goes to that namespace too, as a
  user moving `--ds-namespace` would do;
- a supervisor per node plays the kubelet: a reboot of the node (the test bed's reboot marker) kills the
  process, and it starts again once the node is back, so kured's start-up path (release the lock after a
  reboot, uncordon) runs as on a real node.

kured's first lock check comes 30-90 s after it starts (a fixed one-minute ticker with random start, not tied to
--period), and its first sentinel check period/2 to 3*period/2 after that; `status` shows a peer as `ready` once
kured has logged its first sentinel check. State: <state>/kured/NODE.json; logs: <state>/logs/kured-NODE.log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bed import cluster
from bed.api import Api, api_from_info
from bed.procs import free_port, stop_pids
from bed.state import HERE, PATHS, TestbedError, load_info, log, read_json, write_json

KURED_DIR = PATHS.root / "kured"
TESTBED_CLI = HERE / "testbed"
SA_NAMESPACE = "kube-system"
SA_NAME = "kured"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_PERIOD = "3s"
# Flags the peer sets itself: what kured may run, what it checks, who it is, where it listens.
OWN_FLAGS = ("reboot-command", "reboot-method", "reboot-signal", "reboot-sentinel", "reboot-sentinel-command",
             "node-id", "metrics-host", "metrics-port")
# The first sentinel check: kured has left its start-up loop (lock released if it held it) and runs its period.
READY = re.compile(r'msg="Reboot (not )?required')
# kured's log lines whose moments the supervisor records (state "events": last time seen, "counts": how often),
# timed by its own clock to the millisecond, where kured's log has whole seconds.
EVENTS = {"refused": "msg=\"Lock already held", "drain": "msg=\"Draining node", "reboot": "msg=\"Triggering reboot",
          "uncordon": "msg=\"Uncordoning node"}
BUILD_NO_KURED = 3  # build.sh kured's exit code when no source of kured was given

SHIM = """#!/bin/sh
# nsenter stand-in inside a kured peer's private mount namespace (tests/testbed/kured.py): enters no namespace
# and runs only the test bed's own CLI, i.e. the simulated reboot. Anything else is refused.
while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
[ $# -gt 0 ] && shift
if [ "$1" = "{cli}" ]; then exec "$@"; fi
echo "nodepatch test bed: refused to run '$*' for kured (only {cli} may run)" >&2
exit 1
"""

# Runs in the new mount namespace, before kured: nothing of it is visible outside.
NAMESPACE_SETUP = """set -e
mount -t tmpfs -o mode=0755,size=1m nodepatch-kured-run /run
mkdir -p {sa_mount}
mount --bind "$NODEPATCH_KURED_SA" {sa_mount}
mount --bind "$NODEPATCH_KURED_SHIM" /usr/bin/nsenter
unset NODEPATCH_KURED_SA NODEPATCH_KURED_SHIM
exec "$@"
"""


def state_file(node: str) -> Path:
    return KURED_DIR / f"{node}.json"


def supervisor_pid_file(node: str) -> Path:
    return KURED_DIR / f"{node}.pid"


def kured_pid_file(node: str) -> Path:
    return KURED_DIR / f"{node}.kured.pid"


def log_file(node: str) -> Path:
    return PATHS.component_log(f"kured-{node}")


# --------------------------------------------------------------------------------------------------- set-up


def kured_build() -> Path:
    """The directory with `kured` and `kured-rbac.yaml` (tests/testbed/build.sh kured)."""
    proc = subprocess.run([str(HERE / "build.sh"), "kured"], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode == BUILD_NO_KURED:
        raise NoKured("no kured binary (tests/testbed/build.sh kured says why, above)")
    if proc.returncode != 0:
        raise TestbedError(f"tests/testbed/build.sh kured failed (exit {proc.returncode}); its output is above")
    return Path(proc.stdout.strip().splitlines()[-1])


class NoKured(TestbedError):
    """No kured was given (NODEPATCH_KURED_BIN / NODEPATCH_KURED_SRC) and none could be installed."""


def flag_value(flags: list[str], name: str) -> str | None:
    """The value kured would take for --name from these flags (the last one wins, as with pflag)."""
    value = None
    for index, flag in enumerate(flags):
        if flag.startswith(f"--{name}="):
            value = flag.split("=", 1)[1]
        elif flag == f"--{name}" and index + 1 < len(flags):
            value = flags[index + 1]
    return value


def check_env(env: list[str]) -> dict[str, str]:
    """KURED_NAME=VALUE settings for kured's environment (kured reads every flag from there too), as a DaemonSet's
    env gives them; never one of the flags the test bed sets itself."""
    found = {}
    for item in env:
        name, sep, value = item.partition("=")
        flag = name[len("KURED_"):].lower().replace("_", "-")
        if not sep or not name.startswith("KURED_") or not flag:
            raise TestbedError(f"--env {item!r}: give KURED_NAME=VALUE")
        if flag in OWN_FLAGS:
            raise TestbedError(f"--env {name}: kured flag --{flag} is set by the test bed for every peer")
        found[name] = value
    return found


def check_flags(flags: list[str]) -> None:
    for flag in flags:
        name = flag[2:].split("=", 1)[0] if flag.startswith("--") else ""
        if name in OWN_FLAGS:
            raise TestbedError(f"kured flag --{name} is set by the test bed for every peer (what it may run, "
                               f"check, and where it listens) and cannot be given; own flags: "
                               f"{', '.join('--' + own for own in OWN_FLAGS)}")


def lock_objects(rbac: Path, namespace: str, daemonset: str) -> list[dict[str, Any]]:
    """kured's own RBAC, plus its lock Role and RoleBinding in the lock's namespace when that is not kube-system."""
    import yaml

    docs = [doc for doc in yaml.safe_load_all(rbac.read_text()) if doc]
    objects: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "ServiceAccount",
                                      "metadata": {"name": SA_NAME, "namespace": SA_NAMESPACE}}]
    for doc in docs:
        objects.append(doc)
        if doc["kind"] in ("Role", "RoleBinding") and (namespace, daemonset) != (SA_NAMESPACE, "kured"):
            moved = json.loads(json.dumps(doc))
            moved["metadata"]["namespace"] = namespace
            for rule in moved.get("rules") or []:
                if rule.get("resourceNames") == ["kured"]:
                    rule["resourceNames"] = [daemonset]
            objects.append(moved)
    return objects


def lock_daemonset(namespace: str, name: str) -> dict[str, Any]:
    # Only the object matters, for its annotation; it selects no node, so it adds no pod to any drain.
    labels = {"name": name}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "nodeSelector": {"nodepatch.testbed/kured-lock-only": "true"},
                "containers": [{"name": "kured", "image": "ghcr.io/kubereboot/kured:1.17.1"}]}}}}


def prepare(api: Api, info: dict[str, Any], build: Path, namespace: str, daemonset: str) -> Path:
    """ServiceAccount, RBAC, lock DaemonSet, token + CA + namespace files, the nsenter shim. Returns the shim."""
    import yaml

    if namespace != SA_NAMESPACE and api.request("GET", f"/api/v1/namespaces/{namespace}")[0] == 404:
        api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": namespace}})
    if api.request("GET", f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{daemonset}")[0] == 404:
        api.call("POST", f"/apis/apps/v1/namespaces/{namespace}/daemonsets", lock_daemonset(namespace, daemonset))
    KURED_DIR.mkdir(parents=True, exist_ok=True)
    manifest = KURED_DIR / f"rbac-{namespace}-{daemonset}.yaml"
    manifest.write_text(yaml.safe_dump({"kind": "List", "items": lock_objects(build / "kured-rbac.yaml", namespace,
                                                                              daemonset)}))
    cluster.apply_manifest(api, manifest)

    account = KURED_DIR / "serviceaccount"
    account.mkdir(mode=0o700, exist_ok=True)
    token = account / "token"
    if not token.exists():
        token.write_text(cluster.service_account_token(api, SA_NAMESPACE, SA_NAME))
        token.chmod(0o600)
    (account / "ca.crt").write_bytes(Path(info["ca_cert"]).read_bytes())
    (account / "namespace").write_text(SA_NAMESPACE)

    shim = KURED_DIR / "nsenter-shim"
    shim.write_text(SHIM.format(cli=TESTBED_CLI))
    shim.chmod(0o755)
    return shim


def kured_argv(build: Path, node: str, port: int, reboot_delay: float, flags: list[str]) -> list[str]:
    # pflag keeps the last value of a flag: the short default period comes first so a given --period wins, and
    # the peer's own flags come last so nothing given before can replace them.
    return [
        str(build / "kured"), f"--period={DEFAULT_PERIOD}", *flags,
        f"--node-id={node}", "--metrics-host=127.0.0.1", f"--metrics-port={port}",
        f"--reboot-sentinel={PATHS.sentinel(node)}", "--reboot-method=command",
        f"--reboot-command={TESTBED_CLI} reboot {node} --delay {reboot_delay:g}",
    ]


# --------------------------------------------------------------------------------------------------- commands


def cmd_start(args: argparse.Namespace) -> int:
    info = load_info()
    nodes = args.nodes or list(info["nodes"])
    check_flags(args.flags)
    env = check_env(args.env)
    if str(PATHS.root).startswith("/run/"):
        raise TestbedError(f"the state directory {PATHS.root} is under /run, which a kured peer's mount "
                           f"namespace covers with its own tmpfs; use another NODEPATCH_TESTBED_DIR")
    api = api_from_info(info)
    for node in nodes:
        if api.request("GET", f"/api/v1/nodes/{node}")[0] == 404:
            raise TestbedError(f"no node {node}; nodes: {', '.join(info['nodes'])}")
    build = kured_build()
    namespace = flag_value(args.flags, "ds-namespace") or SA_NAMESPACE
    daemonset = flag_value(args.flags, "ds-name") or "kured"
    shim = prepare(api, info, build, namespace, daemonset)
    stop(nodes)
    started = {}
    for node in nodes:
        port = free_port()
        config = {
            "node": node, "phase": "starting", "starts": 0, "ready_at": None, "started_at": None,
            "argv": kured_argv(build, node, port, args.reboot_delay, args.flags), "metrics_port": port,
            "sentinel": str(PATHS.sentinel(node)), "lock": f"{namespace}/{daemonset}",
            "log": str(log_file(node)), "shim": str(shim), "api_port": info["ports"]["apiserver"], "env": env,
        }
        write_json(state_file(node), config)
        with log_file(node).open("ab") as logfile:
            proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "_supervise", node],
                                    stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True,
                                    env={**os.environ, "NODEPATCH_TESTBED_DIR": str(PATHS.root)})
        supervisor_pid_file(node).write_text(str(proc.pid))
        started[node] = {"state": str(state_file(node)), "log": str(log_file(node)), "metrics_port": port,
                         "lock": config["lock"]}
    log(f"kured started on {len(nodes)} node(s); lock {namespace}/{daemonset}; first lock check within 90 s")
    print(json.dumps(started, indent=2))
    return 0


def stop(nodes: list[str] | None = None) -> list[str]:
    """Stops the supervisors (which kill their kured first) and anything left of them. Returns the nodes stopped."""
    pid_files = sorted(KURED_DIR.glob("*.pid")) if KURED_DIR.exists() else []
    pids: dict[str, int] = {}
    for pid_file in pid_files:
        node = pid_file.name.split(".", 1)[0]
        if nodes is not None and node not in nodes:
            continue
        try:
            pids[pid_file.name] = int(pid_file.read_text())
        except ValueError:
            pass
    stop_pids(pids)
    for name in pids:
        (KURED_DIR / name).unlink(missing_ok=True)
    return sorted({name.split(".", 1)[0] for name in pids})


def cmd_stop(args: argparse.Namespace) -> int:
    stopped = stop(args.nodes or None)
    for node in stopped:
        if state_file(node).exists():
            state = read_json(state_file(node))
            state["phase"] = "stopped"
            write_json(state_file(node), state)
    log(f"kured stopped on: {', '.join(stopped) if stopped else 'nothing was running'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    states = {path.stem: read_json(path) for path in sorted(KURED_DIR.glob("*.json"))} if KURED_DIR.exists() else {}
    if args.json:
        print(json.dumps(states, indent=2))
        return 0
    print("node                                 phase     starts  lock                       log")
    for node, state in states.items():
        print(f"{node:36} {state['phase']:9} {state['starts']:<7} {state['lock']:26} {state['log']}")
    return 0


# --------------------------------------------------------------------------------------------------- supervisor


class Supervisor:
    """The kubelet of one node's kured pod: runs it, kills it when the node reboots, restarts it when it is back."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.state = read_json(state_file(node))
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.lock = threading.Lock()
        self.log = log_file(node).open("ab", buffering=0)
        self.reboot_marker = PATHS.reboots / f"{node}.pid"

    def say(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.log.write(f"[kured-peer {stamp}] {self.node}: {message}\n".encode())

    def update(self, **changes: Any) -> None:
        with self.lock:
            self.state.update(changes)
            write_json(state_file(self.node), self.state)

    def env(self) -> dict[str, str]:
        # No KURED_* but those given with --env (checked by check_env): kured reads every flag from the environment
        # too, over the command line.
        keep = {key: value for key, value in os.environ.items() if not key.startswith("KURED_")}
        return {**keep, **self.state.get("env", {}), "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.state["api_port"]),
                "NODEPATCH_KURED_SA": str(KURED_DIR / "serviceaccount"), "NODEPATCH_KURED_SHIM": self.state["shim"],
                "NODEPATCH_TESTBED_DIR": str(PATHS.root)}

    def start(self) -> None:
        userns = [] if os.geteuid() == 0 else ["--map-root-user"]
        argv = ["unshare", *userns, "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                NAMESPACE_SETUP.format(sa_mount=SA_MOUNT), "kured-peer", *self.state["argv"]]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=self.env(), process_group=0)
        self.proc = proc
        kured_pid_file(self.node).write_text(str(proc.pid))
        self.update(phase="starting", starts=self.state["starts"] + 1, started_at=time.time(), ready_at=None,
                    kured_pid=proc.pid)
        self.say(f"start {self.state['starts']} (pid {proc.pid})")
        threading.Thread(target=self.follow, args=(proc,), daemon=True).start()

    def follow(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.log.write(line)
            if self.proc is not proc:
                continue
            text = line.decode(errors="replace")
            if self.state["phase"] == "starting" and READY.search(text):
                self.update(phase="ready", ready_at=time.time())
            for event, marker in EVENTS.items():
                if marker in text:
                    counts = {**self.state.get("counts", {})}
                    counts[event] = counts.get(event, 0) + 1
                    self.update(events={**self.state.get("events", {}), event: time.time()}, counts=counts)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # a node going down does not ask its pods to stop
            except ProcessLookupError:
                pass
            self.proc.wait()
        kured_pid_file(self.node).unlink(missing_ok=True)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        backoff = 1.0
        while not self.stopping:
            if self.reboot_marker.exists():
                if self.proc is not None and self.proc.poll() is None:
                    self.kill()
                    self.update(phase="down")
                    self.say("node is rebooting: kured's pod is gone until the node is back")
            elif self.proc is None or self.proc.poll() is not None:
                if self.proc is not None and self.state["phase"] != "down":
                    self.say(f"kured exited with {self.proc.returncode}; restarting in {backoff:g} s")
                    self.update(phase="crashed")
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                self.start()
            time.sleep(0.1)
        self.kill()
        self.say("stopped")
        return 0


def cmd_supervise(args: argparse.Namespace) -> int:
    return Supervisor(args.node).run()


# --------------------------------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    flags: list[str] = []
    if "--" in argv:
        flags = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    top = argparse.ArgumentParser(prog="testbed kured", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = top.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="(re)start kured on the nodes (default: all), kured flags after --")
    start.add_argument("nodes", nargs="*")
    start.add_argument("--reboot-delay", type=float, default=3.0,
                       help="seconds a node kured reboots stays down (testbed reboot --delay; default 3)")
    start.add_argument("--env", action="append", default=[], metavar="KURED_NAME=VALUE",
                       help="put this in kured's environment (repeatable; not for the flags the test bed sets)")
    start.set_defaults(func=cmd_start)
    stop_cmd = sub.add_parser("stop", help="stop kured on the nodes (default: all)")
    stop_cmd.add_argument("nodes", nargs="*")
    stop_cmd.set_defaults(func=cmd_stop)
    status = sub.add_parser("status", help="each peer's phase (starting, ready, down, crashed, stopped)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    supervise = sub.add_parser("_supervise", help=argparse.SUPPRESS)
    supervise.add_argument("node")
    supervise.set_defaults(func=cmd_supervise)
    args = top.parse_args(argv)
    args.flags = flags
    try:
        return int(args.func(args))
    except NoKured as err:
        log(str(err))
        return BUILD_NO_KURED
    except TestbedError as err:
        log(str(err))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
