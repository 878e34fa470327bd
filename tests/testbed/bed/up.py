# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`up` and `down`: a test bed started step by step, and everything it started stopped again."""

from __future__ import annotations

import shutil
import time
from typing import Any

import node_exec

from bed import audit, cluster, components, fault_proxy, prometheus, ssh
from bed.api import Api, healthy, node_condition
from bed.pki import client_cert_user, generate_testbed_pki, kubeconfig_yaml
from bed.procs import port_open, stop_pids
from bed.state import HERE, PATHS, TestbedError, log, now_rfc3339, read_json, write_json

COMPONENT_KUBECONFIGS = ("kube-controller-manager", "kube-scheduler", "kwok")
API_CLIENTS = ("kube-controller-manager", "kube-scheduler", "kwok", "node-exec")


def up(node_count: int) -> int:
    started = time.monotonic()
    if PATHS.info.exists():
        info = read_json(PATHS.info)
        if healthy(info) and len(info["nodes"]) == node_count:
            log(f"already up ({len(info['nodes'])} nodes); `testbed down` first to start afresh")
            print(info["admin_kubeconfig"])
            return 0
    down(quiet=True)
    try:
        info = start(node_count, started)
    except (TestbedError, node_exec.ExecSetupError) as err:
        log(str(err))
        log("stopping what was started; logs stay in " + str(PATHS.logs))
        down(quiet=True, keep_logs=True)
        return 1
    log(f"up in {info['start_seconds']:.1f} s: {len(info['nodes'])} nodes, API {info['api_url']}, "
        f"Prometheus {info['prometheus_url']}, sshd 127.0.0.1:{info['ssh']['port']}")
    log(f"least-privilege kubeconfig: {info['kubeconfig']}; inventory: {info['inventory']}")
    print(info["admin_kubeconfig"])
    return 0


def find_servers() -> tuple[str, str]:
    prometheus_bin, sshd_bin = prometheus.find_binary(), ssh.find_binary()
    missing = [name for name, found in (("prometheus", prometheus_bin), ("sshd", sshd_bin)) if not found]
    if missing:
        raise TestbedError(f"not installed: {', '.join(missing)}; run tests/testbed/install-deps.sh (as root)")
    assert prometheus_bin is not None and sshd_bin is not None
    return prometheus_bin, sshd_bin


def write_configuration(ports: components.Ports, api_url: str) -> dict[str, Any]:
    """Directories, certificates, kubeconfigs, Prometheus' and sshd's files; returns testbed.json's `ssh`."""
    for sub in (PATHS.logs, PATHS.pki, PATHS.nodes, PATHS.prometheus, PATHS.reboots):
        sub.mkdir(parents=True, exist_ok=True)
    PATHS.etcd.mkdir(mode=0o700, exist_ok=True)  # etcd warns about anything wider
    pki = PATHS.pki
    generate_testbed_pki(pki)
    for name in COMPONENT_KUBECONFIGS:
        PATHS.component_kubeconfig(name).write_text(
            kubeconfig_yaml(api_url, pki / "ca.crt", client_cert_user(pki, name), name))
    PATHS.admin_kubeconfig.write_text(
        kubeconfig_yaml(api_url, pki / "ca.crt", client_cert_user(pki, "admin"), "nodepatch-testbed-admin"))
    PATHS.admin_kubeconfig.chmod(0o600)
    prometheus.write_config(PATHS.prometheus, ports.prometheus, ports.apiserver)
    audit.write_policy(PATHS.audit_policy)
    return ssh.generate(PATHS.ssh, ports.sshd)


def start(node_count: int, started: float) -> dict[str, Any]:
    vers = components.versions()
    bin_dir = components.binaries()
    prometheus_bin, sshd_bin = find_servers()
    ports = components.Ports()
    api_url = f"https://127.0.0.1:{ports.apiserver}"
    ssh_info = write_configuration(ports, api_url)
    declared = components.declare(ports, bin_dir, api_url, prometheus_bin, sshd_bin)
    components.save(declared)
    by_name = {c.name: c for c in declared}
    pids: dict[str, int] = {}
    # The servers start at once; the API server's clients once it is ready: the controller-manager gives up
    # after 20 s of a /healthz it may not read yet (RBAC not bootstrapped), which a loaded machine exceeds.
    # Checks go in dependency order, so the first failure reported is the component that actually broke.
    for component in declared:
        if component.name not in API_CLIENTS:
            components.start(component, pids)

    def ready(name: str, check: Any = None, timeout: float | None = None) -> None:
        components.wait_healthy(by_name[name], pids[name], check, timeout)

    ready("etcd")
    ready("kube-apiserver")
    for name in API_CLIENTS:
        components.start(by_name[name], pids)
    api = Api(api_url, PATHS.pki)
    names = cluster.node_names(node_count)
    fault_url = f"https://127.0.0.1:{ports.fault_proxy}"
    exec_info = cluster.populate(api, api_url, names, vers.get("K8S_VERSION", "0.0.0"), ports.kwok, fault_url)
    ready("kube-controller-manager")
    ready("kube-scheduler")
    ready("kwok")

    def nodes_ready() -> bool:
        items = api.get("/api/v1/nodes")["items"]
        ready_names = {n["metadata"]["name"] for n in items if node_condition(n, "Ready") == "True"}
        return set(names) <= ready_names

    ready("kwok", nodes_ready, 60)
    components.ensure_alive("node-exec", pids["node-exec"])
    # The serviceaccount controller creates `default` in each namespace; pods cannot be created before it.
    ready("kube-controller-manager",
          lambda: api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200, 60)
    ready("prometheus")
    ready("sshd")
    ready("fault-proxy")

    ssh_info["node"] = names[0]
    info: dict[str, Any] = {
        "version": 1,
        "simulated": True,
        "state_dir": str(PATHS.root),
        "started_at": now_rfc3339(),
        "start_seconds": round(time.monotonic() - started, 1),
        "api_url": api_url,
        "ca_cert": str(PATHS.pki / "ca.crt"),
        "admin_kubeconfig": str(PATHS.admin_kubeconfig),
        "kubeconfig": str(PATHS.kubeconfig),
        "service_account": f"{cluster.SA_NAMESPACE}/{cluster.SA_NAME}",
        "inventory": str(PATHS.inventory),
        "nodes": names,
        "sentinels": {name: str(PATHS.sentinel(name)) for name in names},
        # Bound to this state directory: sshd, a role or a shim running it does not inherit NODEPATCH_TESTBED_DIR.
        "reboot_command": f"env NODEPATCH_TESTBED_DIR={PATHS.root} {HERE / 'testbed'} reboot",
        "prometheus_url": f"http://127.0.0.1:{ports.prometheus}",
        "alert_name": prometheus.ALERT_DEFAULT,
        "ssh": ssh_info,
        # 429s and 5xx bursts on demand in front of the API server (bed/fault_proxy.py), same identity.
        "fault_proxy": {"url": fault_url, "kubeconfig": str(PATHS.fault_kubeconfig),
                        "control": f"{fault_url}{fault_proxy.CONTROL}"},
        "pids": pids,
        "ports": dict(vars(ports)),
        "bin_dir": str(bin_dir),
        "versions": vers,
        "logs": str(PATHS.logs),
        # Write requests only, level Metadata (bed/audit.py); tests/integration/audit_log.py reads it.
        "audit_log": str(PATHS.audit_log),
        **exec_info,
    }
    cluster.write_inventory(info)
    write_json(PATHS.info, info)
    return info


def _pids_to_stop() -> dict[str, int]:
    pids: dict[str, int] = {}
    for source in (PATHS.pids, PATHS.info):
        if source.exists():
            try:
                data = read_json(source)
            except ValueError:
                continue
            pids.update(data.get("pids", data) if source == PATHS.info else data)
    # Background "come back" processes of simulated reboots still sleeping.
    # And kured peers with their supervisors (tests/testbed/kured.py).
    for pid_dir in (PATHS.reboots, PATHS.root / "kured"):
        for pid_file in pid_dir.glob("*.pid"):
            try:
                pids[f"{pid_dir.name}:{pid_file.stem}"] = int(pid_file.read_text())
            except ValueError:
                pass
            pid_file.unlink(missing_ok=True)
    return {name: pid for name, pid in pids.items() if isinstance(pid, int) and pid > 0}


def down(quiet: bool = False, keep_logs: bool = False) -> int:
    ports: list[int] = []
    if PATHS.info.exists():
        try:
            ports = list(read_json(PATHS.info).get("ports", {}).values())
        except ValueError:
            pass
    stopped = stop_pids(_pids_to_stop())
    busy = [port for port in ports if port_open(port)]
    deadline = time.monotonic() + 5
    while busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = [port for port in busy if port_open(port)]
    PATHS.pids.unlink(missing_ok=True)
    PATHS.info.unlink(missing_ok=True)
    # Fresh state for the next `up`: etcd data, Prometheus TSDB, certificates. Logs stay unless a new `up` runs.
    for sub in ("etcd", "prometheus", "pki", "nodes", "ssh", "reboots", "kured"):
        shutil.rmtree(PATHS.root / sub, ignore_errors=True)
    # Credentials and inventory of a stopped cluster only mislead whoever finds them; so do old declarations.
    for stale in (*PATHS.root.glob("*.kubeconfig"), PATHS.admin_kubeconfig, PATHS.kubeconfig, PATHS.fault_kubeconfig,
                  PATHS.inventory, PATHS.audit_policy,
                  PATHS.root / "kwok-stages.yaml", components.components_file()):
        stale.unlink(missing_ok=True)
    if not keep_logs and quiet:
        shutil.rmtree(PATHS.logs, ignore_errors=True)
    if not quiet:
        log(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    if busy:
        log(f"ports still in use after stop: {busy}")
        return 1
    return 0
