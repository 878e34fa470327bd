# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test bed's processes: what each runs (flags, port, health check), start, stop, restart.

`up` declares them and writes the declarations to components.json, so that a component stopped or restarted
later (`testbed restart kube-apiserver`) comes back with exactly the flags and port it had.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import node_exec

from bed import audit, fault_proxy, kwok, prometheus, ssh
from bed.procs import free_port, log_tail, pid_alive, port_open, spawn, stop_pids, wait_for
from bed.state import HERE, PATHS, TestbedError, read_json, write_json


class ComponentFailed(TestbedError):
    def __init__(self, component: str, why: str) -> None:
        log_path = PATHS.component_log(component)
        super().__init__(f"{component} failed to start: {why}\n--- last lines of {log_path} ---\n"
                         f"{log_tail(log_path)}\n---")
        self.component = component


@dataclass
class Ports:
    etcd: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    controller_manager: int = field(default_factory=free_port)
    scheduler: int = field(default_factory=free_port)
    kwok: int = field(default_factory=free_port)
    prometheus: int = field(default_factory=free_port)
    sshd: int = field(default_factory=free_port)
    fault_proxy: int = field(default_factory=free_port)


@dataclass
class Component:
    name: str
    argv: list[str]
    port: int | None = None
    # A URL that answers 200 once the component serves (https: its own certificate, not checked), or
    # tcp://127.0.0.1:PORT for a port that accepts connections; None: being alive is all there is to check.
    health: str | None = None
    timeout: float = 60
    cwd: str | None = None

    def healthy(self) -> bool:
        if self.health is None:
            return True
        if self.health.startswith("tcp://"):
            return port_open(int(self.health.rsplit(":", 1)[1]))
        with urllib.request.urlopen(self.health, timeout=2, context=_insecure()) as resp:
            return bool(resp.status == 200)


def _insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only for the components' own health endpoints on loopback
    return context


def versions() -> dict[str, str]:
    found = {}
    for raw in (HERE / "versions.env").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            found[key] = value.strip().strip('"')
    return found


def binaries() -> Path:
    """The directory of the Go binaries: NODEPATCH_TESTBED_BIN, or build.sh's cache (built on first use)."""
    proc = subprocess.run([str(HERE / "build.sh")], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise TestbedError(f"tests/testbed/build.sh failed (exit {proc.returncode}); its output is above")
    return Path(proc.stdout.strip().splitlines()[-1])


def declare(ports: Ports, bin_dir: Path, api_url: str, prometheus_bin: str, sshd_bin: str) -> list[Component]:
    """Every process of a test bed, in the order their health is checked."""
    b, pki, root = str(bin_dir), PATHS.pki, PATHS.root
    return [
        Component("etcd", [
            f"{b}/etcd", "--name=testbed", f"--data-dir={PATHS.etcd}",
            f"--listen-client-urls=http://127.0.0.1:{ports.etcd}",
            f"--advertise-client-urls=http://127.0.0.1:{ports.etcd}",
            f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-cluster=testbed=http://127.0.0.1:{ports.etcd_peer}",
            # A throw-away store: durability costs start-up and test time for nothing.
            "--unsafe-no-fsync=true", "--quota-backend-bytes=1073741824", "--log-level=warn",
        ], ports.etcd, f"http://127.0.0.1:{ports.etcd}/health", 30),
        Component("kube-apiserver", [
            f"{b}/kube-apiserver", f"--etcd-servers=http://127.0.0.1:{ports.etcd}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={ports.apiserver}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-max-token-expiration=8760h",
            "--service-cluster-ip-range=10.96.0.0/16",
            # The `kubernetes` Service's endpoints may not be a loopback address; nothing here needs them.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true", "--profiling=false",
            *node_exec.apiserver_flags(pki),
            *audit.apiserver_flags(PATHS.audit_policy, PATHS.audit_log),
        ], ports.apiserver, f"{api_url}/readyz", 90),
        Component("kube-controller-manager", [
            f"{b}/kube-controller-manager", f"--kubeconfig={PATHS.component_kubeconfig('kube-controller-manager')}",
            "--bind-address=127.0.0.1", f"--secure-port={ports.controller_manager}",
            # "*" = every controller that is on by default: disruption, replicaset, deployment, daemonset,
            # statefulset, job, nodelifecycle, garbage-collector, namespace, serviceaccount(-token), ...
            "--controllers=*", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--leader-elect=false", "--node-monitor-period=2s",
            "--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
        ], ports.controller_manager, f"https://127.0.0.1:{ports.controller_manager}/healthz", 60),
        Component("kube-scheduler", [
            f"{b}/kube-scheduler", f"--kubeconfig={PATHS.component_kubeconfig('kube-scheduler')}",
            "--bind-address=127.0.0.1", f"--secure-port={ports.scheduler}", "--leader-elect=false",
            "--kube-api-qps=200", "--kube-api-burst=400",
        ], ports.scheduler, f"https://127.0.0.1:{ports.scheduler}/healthz", 60),
        Component("kwok", node_exec.confined([
            f"{b}/kwok", f"--kubeconfig={PATHS.component_kubeconfig('kwok')}", f"--config={kwok.stages_file()}",
            "--manage-all-nodes=true", "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16",
            *node_exec.kwok_flags(pki, ports.kwok),
        ]), ports.kwok, f"http://127.0.0.1:{ports.kwok}/healthz", 30),
        Component("node-exec", node_exec.watcher_argv(api_url, root)),
        Component("prometheus", prometheus.argv(prometheus_bin, PATHS.prometheus, ports.prometheus), ports.prometheus,
                  f"http://127.0.0.1:{ports.prometheus}/-/ready", 60, cwd=str(PATHS.prometheus)),
        Component("sshd", ssh.argv(sshd_bin, PATHS.ssh), ports.sshd, f"tcp://127.0.0.1:{ports.sshd}", 20),
        Component("fault-proxy", fault_proxy.argv(sys.executable, ports.fault_proxy, ports.apiserver, pki),
                  ports.fault_proxy, f"https://127.0.0.1:{ports.fault_proxy}{fault_proxy.CONTROL}", 20),
    ]


def components_file() -> Path:
    return PATHS.root / "components.json"


def save(components: list[Component]) -> None:
    write_json(components_file(), [asdict(c) for c in components])


def load() -> dict[str, Component]:
    if not components_file().exists():
        raise TestbedError(f"no {components_file()}: the test bed is not up (or was started by an older version)")
    return {c["name"]: Component(**c) for c in read_json(components_file())}


def start(component: Component, pids: dict[str, int]) -> int:
    pid = spawn(component.argv, PATHS.component_log(component.name), Path(component.cwd) if component.cwd else None)
    pids[component.name] = pid
    write_json(PATHS.pids, pids)  # written at once, so a failed `up` can still be cleaned by `down`
    return pid


def ensure_alive(name: str, pid: int) -> None:
    if not pid_alive(pid):
        raise ComponentFailed(name, "exited during start-up")


def wait_healthy(component: Component, pid: int, check: Any = None, timeout: float | None = None) -> None:
    """Returns once check() (default: the component's own health check) is true; fails naming the component."""
    try:
        wait_for(component.name, check or component.healthy, timeout or component.timeout,
                 alive=lambda: ensure_alive(component.name, pid))
    except ComponentFailed:
        raise
    except TestbedError as err:
        raise ComponentFailed(component.name, str(err)) from None


# --------------------------------------------------------------------------------------------------- a running test bed


def _record_pid(name: str, pid: int) -> None:
    """testbed.json and pids.json name the component's current process (0: stopped)."""
    for path in (PATHS.info, PATHS.pids):
        if path.exists():
            data = read_json(path)
            (data["pids"] if path == PATHS.info else data)[name] = pid
            write_json(path, data)


def stop(name: str, kill: bool = False) -> bool:
    """Stops a component of the running test bed: SIGKILL with `kill`, else SIGTERM then SIGKILL after 10 s.

    Returns whether it was running.
    """
    load()[name]  # an unknown name fails here, listing nothing stopped
    pid = int(read_json(PATHS.info)["pids"].get(name) or 0)
    running = pid > 0 and pid_alive(pid)
    if running and kill:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_for(f"{name} (pid {pid}) to exit", lambda: not pid_alive(pid), timeout=10)
    elif running:
        stop_pids({name: pid}, grace=10)
    _record_pid(name, 0)
    return running


def start_again(name: str) -> int:
    """Starts a stopped component with the flags and port it had, and returns once it is healthy."""
    components = load()
    if name not in components:
        raise TestbedError(f"no component {name}; components: {', '.join(components)}")
    component = components[name]
    current = int(read_json(PATHS.info)["pids"].get(name) or 0)
    if current and pid_alive(current):
        raise TestbedError(f"{name} is running (pid {current}); `testbed stop {name}` or `restart` first")
    if component.port is not None:
        # The old process's socket is gone once it has exited; a port still taken is someone else's.
        wait_for(f"port {component.port} of {name} to be free", lambda: not port_open(component.port or 0),
                 timeout=10)
    pid = spawn(component.argv, PATHS.component_log(name), Path(component.cwd) if component.cwd else None)
    _record_pid(name, pid)
    wait_healthy(component, pid)
    return pid
