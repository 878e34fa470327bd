# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nodepatch test bed: a real Kubernetes control plane with kwok-simulated nodes, Prometheus and sshd.

Subcommands: up, down, status, reboot, sentinel, alert, env, kubectl, kured (kured.py). Everything lives in one state directory
(NODEPATCH_TESTBED_DIR, default <repo>/.build/testbed); `testbed.json` there describes a running test bed for
tests and tools. Only the Python standard library plus `cryptography` and `PyYAML` (both in the venv) are used,
so that `reboot` and `sentinel` start fast enough to serve as a role's reboot command.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import getpass
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import node_exec
from node_state import KERNEL_VERSION, NodeState

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STATE = Path(os.environ.get("NODEPATCH_TESTBED_DIR") or REPO / ".build" / "testbed").resolve()
RBAC_MANIFEST = REPO / "deploy" / "rbac.yml"

# Annotation that makes the kwok stages leave a node alone while it is "rebooting" (see kwok-stages.yaml):
# without it kwok's node-initialize stage would set Ready=True again within milliseconds.
REBOOTING_ANNOTATION = "nodepatch.testbed/rebooting"
NODE_POOL = "nodepool1"
NODE_IMAGE_VERSION = "AKSUbuntu-2204gen2containerd-202311.07.0"
OS_IMAGE = "Ubuntu 22.04.3 LTS"
SA_NAMESPACE = "nodepatch-system"
SA_NAME = "nodepatch"
ALERT_DEFAULT = "NodepatchTestAlert"
TOKEN_SECONDS = 365 * 24 * 3600


def log(message: str) -> None:
    print(f"[testbed] {message}", file=sys.stderr, flush=True)


class TestbedError(Exception):
    """A failure with a message meant for the person running the test bed."""


# --------------------------------------------------------------------------------------------------- paths


@dataclass
class Paths:
    root: Path

    @property
    def info(self) -> Path:
        return self.root / "testbed.json"

    @property
    def pids(self) -> Path:
        return self.root / "pids.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def nodes(self) -> Path:
        return self.root / "nodes"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin-kubeconfig.yaml"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "nodepatch-kubeconfig.yaml"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yml"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def reboots(self) -> Path:
        return self.root / "reboots"

    def sentinel(self, node: str) -> Path:
        return NodeState(self.root, node).sentinel

    def component_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


PATHS = Paths(STATE)


# --------------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive for our purposes.
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.1,
             alive: Callable[[], None] | None = None) -> None:
    """Polls check() until it is true; alive() raises as soon as the process behind `what` has died."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, ssl.SSLError, TestbedError):
            pass
        if time.monotonic() > deadline:
            raise TestbedError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------- PKI


def generate_pki(pki: Path) -> None:
    """CA, API server serving cert, one client cert per component, service-account signing key.

    EC P-256 keys: generating them takes milliseconds, which keeps a warm start fast.
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=365)

    def write_key(name: str, key: ec.EllipticCurvePrivateKey) -> None:
        path = pki / f"{name}.key"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nodepatch-testbed-ca")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write_key("ca", ca_key)
    (pki / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(name: str, common_name: str, orgs: Iterable[str] = (), server: bool = False,
              ips: Iterable[str] = ("127.0.0.1", "10.96.0.1")) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if server:
            sans: list[x509.GeneralName] = [
                x509.DNSName(dns) for dns in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                              "kubernetes.default.svc.cluster.local")
            ]
            sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            usage = [ExtendedKeyUsageOID.SERVER_AUTH]
        else:
            usage = [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        write_key(name, key)
        (pki / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    issue("apiserver", "kube-apiserver", server=True)
    issue("admin", "nodepatch-testbed-admin", orgs=["system:masters"])
    issue("kube-controller-manager", "system:kube-controller-manager")
    issue("kube-scheduler", "system:kube-scheduler")
    # kwok acts for every kubelet and writes node and pod status for all of them; the Node authorizer would
    # want one identity per node, so kwok gets cluster-admin like in kwokctl's own clusters.
    issue("kwok", "kwok-controller", orgs=["system:masters"])
    # kwok's server is every node's kubelet endpoint: the API server verifies it against the CA, at the nodes'
    # address, and presents its kubelet client certificate (kwok does not check it).
    issue("kwok-serving", "kwok", server=True, ips=["127.0.0.1"])
    issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", orgs=["system:masters"])

    sa_key = ec.generate_private_key(ec.SECP256R1())
    write_key("sa", sa_key)
    (pki / "sa.pub").write_bytes(sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))


def kubeconfig_yaml(api_url: str, ca_file: Path, user: dict[str, str], context: str) -> str:
    ca_data = base64.b64encode(ca_file.read_bytes()).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "nodepatch-testbed", "cluster": {"server": api_url, "certificate-authority-data": ca_data}}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "nodepatch-testbed", "user": context}}],
        "current-context": context,
    }
    return json.dumps(doc, indent=2) + "\n"  # JSON is YAML; no dumper quirks


def client_cert_user(pki: Path, name: str) -> dict[str, str]:
    return {
        "client-certificate-data": base64.b64encode((pki / f"{name}.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((pki / f"{name}.key").read_bytes()).decode(),
    }


# --------------------------------------------------------------------------------------------------- API client


class Api:
    """The few Kubernetes API calls the test bed makes, with the admin client certificate."""

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


# Collection path of each kind the RBAC manifest may hold (namespaced paths take {ns}).
KIND_PATHS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


def apply_manifest(api: Api, path: Path) -> None:
    import yaml

    docs: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "List":  # one YAML document (yamllint's rule), many objects
            docs.extend(doc.get("items") or [])
        elif doc:
            docs.append(doc)
    for doc in docs:
        kind = doc["kind"]
        if kind not in KIND_PATHS:
            raise TestbedError(f"{path}: kind {kind} is not supported by the test bed's applier")
        collection = KIND_PATHS[kind].format(ns=doc["metadata"].get("namespace", "default"))
        status, payload = api.request("POST", collection, doc)
        if status == 409:  # already there (a namespace from a previous apply): replace it with ours
            name = doc["metadata"]["name"]
            current = api.get(f"{collection}/{name}")
            doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            api.call("PUT", f"{collection}/{name}", doc)
        elif status not in (200, 201):
            raise TestbedError(f"applying {kind} {doc['metadata']['name']} from {path}: HTTP {status}: {payload}")


# --------------------------------------------------------------------------------------------------- nodes


def node_names(count: int) -> list[str]:
    # AKS names VMSS instances with six base-36 digits: aks-<pool>-<hash>-vmss00000a.
    def base36(number: int) -> str:
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        text = ""
        while True:
            number, rest = divmod(number, 36)
            text = digits[rest] + text
            if number == 0:
                return text.rjust(6, "0")

    return [f"aks-{NODE_POOL}-31415926-vmss{base36(index)}" for index in range(count)]


def node_manifest(name: str, index: int, kube_version: str, kubelet_port: int) -> dict[str, Any]:
    zone = f"eastus-{index % 3 + 1}"
    labels = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/role": "agent",
        "node.kubernetes.io/instance-type": "Standard_D4s_v3",
        "topology.kubernetes.io/region": "eastus",
        "topology.kubernetes.io/zone": zone,
        "agentpool": NODE_POOL,
        "kubernetes.azure.com/agentpool": NODE_POOL,
        "kubernetes.azure.com/mode": "system",
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/os-sku": "Ubuntu",
        "kubernetes.azure.com/node-image-version": NODE_IMAGE_VERSION,
        "type": "kwok",
    }
    resources = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "120Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"}},
        "spec": {"providerID": f"azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                               f"mc_nodepatch/providers/Microsoft.Compute/virtualMachineScaleSets/"
                               f"aks-{NODE_POOL}-31415926-vmss/virtualMachines/{index}"},
        "status": {
            # Loopback only: the API server dials this address for exec and logs (see node_exec.py).
            "addresses": [{"type": "InternalIP", "address": node_exec.NODE_ADDRESS},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": "containerd://1.7.5-1",
                "kernelVersion": KERNEL_VERSION,
                "kubeProxyVersion": f"v{kube_version}",
                "kubeletVersion": f"v{kube_version}",
                "machineID": uuid.uuid4().hex,
                "operatingSystem": "linux",
                "osImage": OS_IMAGE,
                "systemUUID": str(uuid.uuid4()),
            },
        },
    }


def kured_daemonset() -> dict[str, Any]:
    # Only the object matters (it carries kured's lock annotation); its pods are kwok-simulated like any
    # DaemonSet's, so drains meet a kured pod on every node as they would on a real cluster.
    labels = {"name": "kured"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kured", "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostPID": True,
                    "restartPolicy": "Always",
                    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "kured",
                        "image": "ghcr.io/kubereboot/kured:1.17.1",
                        "command": ["/usr/bin/kured", "--period=1h", "--reboot-command=/bin/true"],
                        "env": [{"name": "KURED_NODE_ID",
                                 "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    }],
                },
            },
        },
    }


KWOK_STAGES = """\
# kwok's default node stages (v0.7.0 fast/node-initialize and heartbeat-with-lease), each with one more
# selector term: a node annotated {annotation} is "rebooting" and kwok must not mark it Ready meanwhile.
# Pod stages are not listed, so kwok keeps its defaults for pods.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.metadata.annotations["{annotation}"]'
      operator: 'DoesNotExist'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      {{{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}}}
      conditions:
      {{{{ range NodeConditions }}}}
      - lastHeartbeatTime: {{{{ $now | Quote }}}}
        lastTransitionTime: {{{{ $lastTransitionTime | Quote }}}}
        message: {{{{ .message | Quote }}}}
        reason: {{{{ .reason | Quote }}}}
        status: {{{{ .status | Quote }}}}
        type: {{{{ .type  | Quote}}}}
      {{{{ end }}}}
      addresses:
      {{{{ with .status.addresses }}}}
      {{{{ YAML . 1 }}}}
      {{{{ else }}}}
      {{{{ with NodeIP }}}}
      - address: {{{{ . | Quote }}}}
        type: InternalIP
      {{{{ end }}}}
      {{{{ end }}}}
      {{{{ with NodePort }}}}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{{{ . }}}}
      {{{{ end }}}}
      allocatable:
      {{{{ with .status.allocatable }}}}
      {{{{ YAML . 1 }}}}
      {{{{ else }}}}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{{{ end }}}}
      capacity:
      {{{{ with .status.capacity }}}}
      {{{{ YAML . 1 }}}}
      {{{{ else }}}}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{{{ end }}}}
      {{{{ $nodeInfo := .status.nodeInfo }}}}
      {{{{ $kwokVersion := printf "kwok-%s" Version }}}}
      nodeInfo:
        architecture: {{{{ or $nodeInfo.architecture "amd64" }}}}
        bootID: {{{{ or $nodeInfo.bootID `""` }}}}
        containerRuntimeVersion: {{{{ or $nodeInfo.containerRuntimeVersion $kwokVersion }}}}
        kernelVersion: {{{{ or $nodeInfo.kernelVersion $kwokVersion }}}}
        kubeProxyVersion: {{{{ or $nodeInfo.kubeProxyVersion $kwokVersion }}}}
        kubeletVersion: {{{{ or $nodeInfo.kubeletVersion $kwokVersion }}}}
        machineID: {{{{ or $nodeInfo.machineID `""` }}}}
        operatingSystem: {{{{ or $nodeInfo.operatingSystem "linux" }}}}
        osImage: {{{{ or $nodeInfo.osImage `""` }}}}
        systemUUID: {{{{ or $nodeInfo.systemUUID `""` }}}}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat-with-lease
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.metadata.annotations["{annotation}"]'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'True'
  delay:
    durationMilliseconds: 600000
    jitterDurationMilliseconds: 610000
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      {{{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}}}
      conditions:
      {{{{ range NodeConditions }}}}
      - lastHeartbeatTime: {{{{ $now | Quote }}}}
        lastTransitionTime: {{{{ $lastTransitionTime | Quote }}}}
        message: {{{{ .message | Quote }}}}
        reason: {{{{ .reason | Quote }}}}
        status: {{{{ .status | Quote }}}}
        type: {{{{ .type | Quote }}}}
      {{{{ end }}}}
"""


# --------------------------------------------------------------------------------------------------- processes


@dataclass
class Component:
    name: str
    argv: list[str]
    port: int | None = None
    cwd: Path | None = None
    pid: int = 0

    def start(self, pids: dict[str, int]) -> None:
        logfile = PATHS.component_log(self.name).open("ab")
        # A session (and so a process group) of its own: `down` kills the whole group, children included,
        # and the test bed outlives the shell that ran `up`.
        proc = subprocess.Popen(self.argv, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=self.cwd, start_new_session=True)
        logfile.close()
        self.pid = proc.pid
        pids[self.name] = proc.pid
        write_json(PATHS.pids, pids)  # written at once, so a failed `up` can still be cleaned by `down`

    def ensure_alive(self) -> None:
        if not pid_alive(self.pid):
            raise ComponentFailed(self.name, "exited during start-up")


class ComponentFailed(TestbedError):
    def __init__(self, component: str, why: str) -> None:
        log_path = PATHS.component_log(component)
        super().__init__(f"{component} failed to start: {why}\n--- last lines of {log_path} ---\n"
                         f"{log_tail(log_path)}\n---")
        self.component = component


def stop_pids(pids: dict[str, int], grace: float = 2.0) -> list[str]:
    """SIGTERM every process group, then SIGKILL what is left after the grace period. Returns what was stopped.

    The grace period is short on purpose: all state is thrown away, a slow graceful shutdown buys nothing.
    """
    stopped = []
    for name, pid in pids.items():
        if pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            except PermissionError:
                os.kill(pid, signal.SIGTERM)
            stopped.append(name)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    for pid in pids.values():
        if pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return stopped


# --------------------------------------------------------------------------------------------------- binaries


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


def find_prometheus() -> str | None:
    return shutil.which("prometheus") or next((p for p in ("/usr/bin/prometheus",) if os.access(p, os.X_OK)), None)


def find_sshd() -> str | None:
    return next((p for p in ("/usr/sbin/sshd", shutil.which("sshd") or "") if p and os.access(p, os.X_OK)), None)


# --------------------------------------------------------------------------------------------------- prometheus


def prometheus_rules(firing: set[str]) -> str:
    names = sorted(firing | {ALERT_DEFAULT})
    rules = []
    for name in names:
        # vector(1) > 0 yields one sample (firing); vector(0) > 0 yields none (inactive), so the rule stays
        # defined and visible in /api/v1/rules either way.
        expr = "vector(1) > 0" if name in firing else "vector(0) > 0"
        rules.append(
            f"  - alert: {name}\n    expr: {expr}\n    labels:\n      severity: warning\n      source: nodepatch-testbed\n"
            f"    annotations:\n      summary: 'test bed alert {name}, switched with: testbed alert on|off'\n"
        )
    return "groups:\n- name: nodepatch-testbed\n  interval: 1s\n  rules:\n" + "".join(rules)


def prometheus_config(port: int, api_port: int) -> str:
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


def firing_alerts(prometheus_url: str) -> set[str]:
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/alerts", timeout=5) as resp:
        data = json.load(resp)
    return {a["labels"]["alertname"] for a in data["data"]["alerts"] if a.get("state") == "firing"}


# --------------------------------------------------------------------------------------------------- ssh


def generate_ssh(ssh_dir: Path, port: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ssh_dir.mkdir(parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)

    def keypair(name: str) -> str:
        key = ed25519.Ed25519PrivateKey.generate()
        path = ssh_dir / name
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        (ssh_dir / f"{name}.pub").write_text(public + "\n")
        return public

    host_public = keypair("ssh_host_ed25519_key")
    client_public = keypair("id_ed25519")
    (ssh_dir / "authorized_keys").write_text(client_public + " nodepatch-testbed\n")
    (ssh_dir / "authorized_keys").chmod(0o600)
    (ssh_dir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public}\n")
    user = getpass.getuser()
    (ssh_dir / "sshd_config").write_text(
        f"# The test bed's own sshd: loopback only, key only, nothing from /etc/ssh.\n"
        f"Port {port}\nListenAddress 127.0.0.1\n"
        f"HostKey {ssh_dir / 'ssh_host_ed25519_key'}\n"
        f"PidFile {ssh_dir / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}\n"
        f"AllowUsers {user}\n"
        "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\n"
        # The state directory sits in a checkout whose permissions sshd's StrictModes would reject.
        "StrictModes no\n"
        "Subsystem sftp internal-sftp\n"
    )
    return {
        "host": "127.0.0.1",
        "port": port,
        "user": user,
        "private_key": str(ssh_dir / "id_ed25519"),
        "known_hosts": str(ssh_dir / "known_hosts"),
    }


# --------------------------------------------------------------------------------------------------- up


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


def healthy(info: dict[str, Any]) -> bool:
    """A test bed described by testbed.json is running: its API server answers /readyz."""
    try:
        api = Api(info["api_url"], Path(info["state_dir"]) / "pki")
        return api.request("GET", "/readyz", timeout=3)[0] == 200
    except (OSError, ssl.SSLError, KeyError, urllib.error.URLError):
        return False


def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if PATHS.info.exists():
        info = read_json(PATHS.info)
        if healthy(info) and len(info["nodes"]) == args.nodes:
            log(f"already up ({len(info['nodes'])} nodes); `testbed down` first to start afresh")
            print(info["admin_kubeconfig"])
            return 0
    cmd_down(argparse.Namespace(quiet=True))
    try:
        info = start(args.nodes, started)
    except (TestbedError, node_exec.ExecSetupError) as err:
        log(str(err))
        log("stopping what was started; logs stay in " + str(PATHS.logs))
        cmd_down(argparse.Namespace(quiet=True, keep_logs=True))
        return 1
    log(f"up in {info['start_seconds']:.1f} s: {len(info['nodes'])} nodes, API {info['api_url']}, "
        f"Prometheus {info['prometheus_url']}, sshd 127.0.0.1:{info['ssh']['port']}")
    log(f"least-privilege kubeconfig: {info['kubeconfig']}; inventory: {info['inventory']}")
    print(info["admin_kubeconfig"])
    return 0


def start(node_count: int, started: float) -> dict[str, Any]:
    vers = versions()
    bin_dir = binaries()
    prometheus_bin, sshd_bin = find_prometheus(), find_sshd()
    missing = [name for name, found in (("prometheus", prometheus_bin), ("sshd", sshd_bin)) if not found]
    if missing:
        raise TestbedError(f"not installed: {', '.join(missing)}; run tests/testbed/install-deps.sh (as root)")
    assert prometheus_bin is not None and sshd_bin is not None

    for sub in (PATHS.logs, PATHS.pki, PATHS.nodes, PATHS.prometheus, PATHS.reboots):
        sub.mkdir(parents=True, exist_ok=True)
    (PATHS.root / "etcd").mkdir(mode=0o700, exist_ok=True)  # etcd warns about anything wider
    ports = Ports()
    pki = PATHS.pki
    generate_pki(pki)
    api_url = f"https://127.0.0.1:{ports.apiserver}"
    for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
        (PATHS.root / f"{name}.kubeconfig").write_text(
            kubeconfig_yaml(api_url, pki / "ca.crt", client_cert_user(pki, name), name))
    PATHS.admin_kubeconfig.write_text(
        kubeconfig_yaml(api_url, pki / "ca.crt", client_cert_user(pki, "admin"), "nodepatch-testbed-admin"))
    PATHS.admin_kubeconfig.chmod(0o600)
    (PATHS.root / "kwok-stages.yaml").write_text(KWOK_STAGES.format(annotation=REBOOTING_ANNOTATION))
    (PATHS.prometheus / "prometheus.yml").write_text(prometheus_config(ports.prometheus, ports.apiserver))
    (PATHS.prometheus / "rules.yml").write_text(prometheus_rules(set()))
    write_json(PATHS.prometheus / "firing.json", [])
    ssh = generate_ssh(PATHS.ssh, ports.sshd)
    # sshd refuses to start without its privilege-separation directory; Debian creates it only at boot.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    b = str(bin_dir)
    etcd_data = PATHS.root / "etcd"
    components = [
        Component("etcd", [
            f"{b}/etcd", "--name=testbed", f"--data-dir={etcd_data}",
            f"--listen-client-urls=http://127.0.0.1:{ports.etcd}",
            f"--advertise-client-urls=http://127.0.0.1:{ports.etcd}",
            f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-cluster=testbed=http://127.0.0.1:{ports.etcd_peer}",
            # A throw-away store: durability costs start-up and test time for nothing.
            "--unsafe-no-fsync=true", "--quota-backend-bytes=1073741824", "--log-level=warn",
        ], ports.etcd),
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
        ], ports.apiserver),
        Component("kube-controller-manager", [
            f"{b}/kube-controller-manager", f"--kubeconfig={PATHS.root / 'kube-controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={ports.controller_manager}",
            # "*" = every controller that is on by default: disruption, replicaset, deployment, daemonset,
            # statefulset, job, nodelifecycle, garbage-collector, namespace, serviceaccount(-token), ...
            "--controllers=*", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--leader-elect=false", "--node-monitor-period=2s",
            "--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
        ], ports.controller_manager),
        Component("kube-scheduler", [
            f"{b}/kube-scheduler", f"--kubeconfig={PATHS.root / 'kube-scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={ports.scheduler}", "--leader-elect=false",
            "--kube-api-qps=200", "--kube-api-burst=400",
        ], ports.scheduler),
        Component("kwok", node_exec.confined([
            f"{b}/kwok", f"--kubeconfig={PATHS.root / 'kwok.kubeconfig'}",
            f"--config={PATHS.root / 'kwok-stages.yaml'}",
            "--manage-all-nodes=true", "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16",
            *node_exec.kwok_flags(pki, ports.kwok),
        ]), ports.kwok),
        Component("node-exec", node_exec.watcher_argv(api_url, PATHS.root)),
        Component("prometheus", [
            prometheus_bin, f"--config.file={PATHS.prometheus / 'prometheus.yml'}",
            f"--storage.tsdb.path={PATHS.prometheus / 'data'}",
            f"--web.listen-address=127.0.0.1:{ports.prometheus}", "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d", "--log.level=warn",
        ], ports.prometheus, cwd=PATHS.prometheus),
        Component("sshd", [sshd_bin, "-D", "-e", "-f", str(PATHS.ssh / "sshd_config")], ports.sshd),
    ]
    by_name = {c.name: c for c in components}
    pids: dict[str, int] = {}
    # Everything starts at once (the Kubernetes components retry until their dependencies answer); checks
    # then go in dependency order, so the first failure reported is the component that actually broke.
    for component in components:
        component.start(pids)

    def check_http(url: str, context: ssl.SSLContext | None = None) -> Callable[[], bool]:
        def check() -> bool:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                return bool(resp.status == 200)
        return check

    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # only for the components' own /healthz on loopback

    def ready(name: str, check: Callable[[], bool], timeout: float) -> None:
        component = by_name[name]
        try:
            wait_for(name, check, timeout, alive=component.ensure_alive)
        except ComponentFailed:
            raise
        except TestbedError as err:
            raise ComponentFailed(name, str(err)) from None

    ready("etcd", check_http(f"http://127.0.0.1:{ports.etcd}/health"), 30)
    api = Api(api_url, pki)
    ready("kube-apiserver", lambda: api.request("GET", "/readyz", timeout=2)[0] == 200, 90)

    names = node_names(node_count)
    kube_version = vers.get("K8S_VERSION", "0.0.0")
    for index, name in enumerate(names):
        api.call("POST", "/api/v1/nodes", node_manifest(name, index, kube_version, ports.kwok))
    exec_info = node_exec.prepare(api, PATHS.root, names)
    apply_manifest(api, RBAC_MANIFEST)
    api.call("POST", "/apis/apps/v1/namespaces/kube-system/daemonsets", kured_daemonset())
    token = api.call("POST", f"/api/v1/namespaces/{SA_NAMESPACE}/serviceaccounts/{SA_NAME}/token",
                     {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                      "spec": {"expirationSeconds": TOKEN_SECONDS}})["status"]["token"]
    PATHS.kubeconfig.write_text(kubeconfig_yaml(api_url, pki / "ca.crt", {"token": token}, "nodepatch-testbed"))
    PATHS.kubeconfig.chmod(0o600)

    ready("kube-controller-manager", check_http(f"https://127.0.0.1:{ports.controller_manager}/healthz", insecure), 60)
    ready("kube-scheduler", check_http(f"https://127.0.0.1:{ports.scheduler}/healthz", insecure), 60)
    ready("kwok", check_http(f"http://127.0.0.1:{ports.kwok}/healthz"), 30)

    def nodes_ready() -> bool:
        items = api.get("/api/v1/nodes")["items"]
        ready_names = {n["metadata"]["name"] for n in items if node_condition(n, "Ready") == "True"}
        return set(names) <= ready_names

    ready("kwok", nodes_ready, 60)
    by_name["node-exec"].ensure_alive()
    # The serviceaccount controller creates `default` in each namespace; pods cannot be created before it.
    ready("kube-controller-manager",
          lambda: api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200, 60)
    prometheus_url = f"http://127.0.0.1:{ports.prometheus}"
    ready("prometheus", check_http(f"{prometheus_url}/-/ready"), 60)
    ready("sshd", lambda: port_open(ports.sshd), 20)

    ssh["node"] = names[0]
    info: dict[str, Any] = {
        "version": 1,
        "simulated": True,
        "state_dir": str(PATHS.root),
        "started_at": now_rfc3339(),
        "start_seconds": round(time.monotonic() - started, 1),
        "api_url": api_url,
        "ca_cert": str(pki / "ca.crt"),
        "admin_kubeconfig": str(PATHS.admin_kubeconfig),
        "kubeconfig": str(PATHS.kubeconfig),
        "service_account": f"{SA_NAMESPACE}/{SA_NAME}",
        "inventory": str(PATHS.inventory),
        "nodes": names,
        "sentinels": {name: str(PATHS.sentinel(name)) for name in names},
        # Bound to this state directory: sshd, a role or a shim running it does not inherit NODEPATCH_TESTBED_DIR.
        "reboot_command": f"env NODEPATCH_TESTBED_DIR={PATHS.root} {HERE / 'testbed'} reboot",
        "prometheus_url": prometheus_url,
        "alert_name": ALERT_DEFAULT,
        "ssh": ssh,
        "pids": pids,
        "ports": dict(vars(ports)),
        "bin_dir": b,
        "versions": vers,
        "logs": str(PATHS.logs),
        **exec_info,
    }
    write_inventory(info)
    write_json(PATHS.info, info)
    return info


def node_condition(node: dict[str, Any], kind: str) -> str | None:
    for condition in node.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status"))
    return None


def write_inventory(info: dict[str, Any]) -> None:
    import yaml

    reboot = info["reboot_command"]
    common = {
        "ansible_python_interpreter": sys.executable,
        "nodepatch_testbed_kubeconfig": info["kubeconfig"],
        "nodepatch_testbed_admin_kubeconfig": info["admin_kubeconfig"],
    }
    hosts: dict[str, Any] = {}
    for name in info["nodes"]:
        hosts[name] = {
            "ansible_connection": "local",
            "nodepatch_node_name": name,
            "nodepatch_sentinel_file": info["sentinels"][name],
            "nodepatch_testbed_reboot_command": f"{reboot} {name}",
        }
    ssh = info["ssh"]
    ssh_host = {
        "ssh-node": {
            "ansible_host": ssh["host"],
            "ansible_port": ssh["port"],
            "ansible_user": ssh["user"],
            "ansible_ssh_private_key_file": ssh["private_key"],
            # The test bed's own known_hosts holds its generated host key: checking stays on and passes.
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={ssh['known_hosts']} -o StrictHostKeyChecking=yes",
            "nodepatch_node_name": ssh["node"],
            "nodepatch_sentinel_file": info["sentinels"][ssh["node"]],
            "nodepatch_testbed_reboot_command": f"{reboot} {ssh['node']}",
        }
    }
    inventory = {
        "all": {
            "vars": common,
            "children": {
                "testbed_nodes": {"hosts": hosts},
                "testbed_ssh": {"hosts": ssh_host},
            },
        }
    }
    header = "# Written by tests/testbed/testbed up; one host per simulated node, plus ssh-node over real SSH.\n"
    PATHS.inventory.write_text(header + yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False, width=1000))


# --------------------------------------------------------------------------------------------------- down


def cmd_down(args: argparse.Namespace) -> int:
    quiet = getattr(args, "quiet", False)
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
    ports: list[int] = []
    if PATHS.info.exists():
        try:
            ports = list(read_json(PATHS.info).get("ports", {}).values())
        except ValueError:
            pass
    stopped = stop_pids({name: pid for name, pid in pids.items() if isinstance(pid, int) and pid > 0})
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
    # Credentials and inventory of a stopped cluster only mislead whoever finds them.
    for stale in (*PATHS.root.glob("*.kubeconfig"), PATHS.admin_kubeconfig, PATHS.kubeconfig, PATHS.inventory,
                  PATHS.root / "kwok-stages.yaml"):
        stale.unlink(missing_ok=True)
    if not getattr(args, "keep_logs", False) and quiet:
        shutil.rmtree(PATHS.logs, ignore_errors=True)
    if not quiet:
        log(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    if busy:
        log(f"ports still in use after stop: {busy}")
        return 1
    return 0


# --------------------------------------------------------------------------------------------------- status


def load_info() -> dict[str, Any]:
    if not PATHS.info.exists():
        raise TestbedError(f"the test bed is not up (no {PATHS.info}); run: tests/testbed/testbed up")
    return dict(read_json(PATHS.info))


def cmd_status(args: argparse.Namespace) -> int:
    try:
        info = load_info()
    except TestbedError as err:
        log(str(err))
        return 1
    ok = True
    print(f"state dir   {info['state_dir']}")
    print(f"API         {info['api_url']}  ({'ready' if healthy(info) else 'NOT ANSWERING'})")
    print(f"kubeconfig  admin: {info['admin_kubeconfig']}\n            least privilege: {info['kubeconfig']}")
    print(f"inventory   {info['inventory']}")
    print(f"prometheus  {info['prometheus_url']}")
    print(f"ssh         {info['ssh']['user']}@127.0.0.1 -p {info['ssh']['port']} -i {info['ssh']['private_key']}")
    print("\ncomponent                pid     state")
    for name, pid in info["pids"].items():
        alive = pid_alive(pid)
        ok = ok and alive
        print(f"{name:24} {pid:<7} {'running' if alive else 'DEAD (see ' + str(PATHS.component_log(name)) + ')'}")
    if healthy(info):
        api = Api(info["api_url"], Path(info["state_dir"]) / "pki")
        print("\nnode                                 ready  sched  sentinel  boot id")
        for node in api.get("/api/v1/nodes")["items"]:
            name = node["metadata"]["name"]
            sentinel = "yes" if PATHS.sentinel(name).exists() else "no"
            sched = "no" if node["spec"].get("unschedulable") else "yes"
            print(f"{name:36} {node_condition(node, 'Ready') or '?':6} {sched:6} {sentinel:9} "
                  f"{node['status'].get('nodeInfo', {}).get('bootID', '')}")
    else:
        ok = False
    return 0 if ok else 1


# --------------------------------------------------------------------------------------------------- reboot


def api_from_info(info: dict[str, Any]) -> Api:
    return Api(info["api_url"], Path(info["state_dir"]) / "pki")


def ready_condition(status: str, reason: str, message: str) -> dict[str, str]:
    now = now_rfc3339()
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now}


def cmd_reboot(args: argparse.Namespace) -> int:
    info = load_info()
    api = api_from_info(info)
    node = args.node
    path = f"/api/v1/nodes/{node}"
    if api.request("GET", path)[0] == 404:
        raise TestbedError(f"no node {node}; nodes: {', '.join(info['nodes'])}")
    # A reboot already in flight for this node is superseded by this one.
    pid_file = PATHS.reboots / f"{node}.pid"
    if pid_file.exists():
        try:
            old = int(pid_file.read_text())
            if pid_alive(old):
                os.killpg(old, signal.SIGTERM)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
        pid_file.unlink(missing_ok=True)
    # Going down: first tell kwok to keep its hands off (annotation), then report NotReady like a kubelet
    # that stopped; the sentinel goes with the old boot (/var/run is a tmpfs).
    api.merge_patch(path, {"metadata": {"annotations": {REBOOTING_ANNOTATION: now_rfc3339()}}})
    api.strategic_patch(f"{path}/status", {"status": {"conditions": [
        ready_condition("False", "KubeletNotReady", "node is rebooting (nodepatch test bed)")]}})
    NodeState(PATHS.root, node).clear_sentinel()
    log(f"{node}: rebooting, back in {args.delay:g} s")
    if args.wait:
        time.sleep(args.delay)
        come_back(api, node)
        return 0
    PATHS.reboots.mkdir(parents=True, exist_ok=True)
    with PATHS.component_log("reboots").open("ab") as logfile:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "_come-back", node,
                                 "--delay", str(args.delay)],
                                stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    pid_file.write_text(str(proc.pid))
    return 0


def come_back(api: Api, node: str) -> str:
    """The node has booted: a new boot id and Ready, reported first, then kwok may manage it again."""
    boot_id = str(uuid.uuid4())
    path = f"/api/v1/nodes/{node}"
    node_info = {"bootID": boot_id}
    kernel = NodeState(PATHS.root, node).boot()  # a kernel installed by a simulated upgrade runs from now on
    if kernel:
        node_info["kernelVersion"] = kernel
    api.strategic_patch(f"{path}/status", {"status": {
        "nodeInfo": node_info,
        "conditions": [ready_condition("True", "KubeletReady", "kubelet is posting ready status")]}})
    api.merge_patch(path, {"metadata": {"annotations": {REBOOTING_ANNOTATION: None}}})
    log(f"{node}: back, boot id {boot_id}")
    return boot_id


def cmd_come_back(args: argparse.Namespace) -> int:
    time.sleep(args.delay)
    info = load_info()
    come_back(api_from_info(info), args.node)
    (PATHS.reboots / f"{args.node}.pid").unlink(missing_ok=True)
    return 0


# --------------------------------------------------------------------------------------------------- sentinel, alert


def known_node(node: str) -> NodeState:
    """The simulated state of a node of the running test bed; an unknown name is refused with the known ones."""
    nodes = load_info()["nodes"]
    if node not in nodes:
        raise TestbedError(f"no node {node}; nodes: {', '.join(nodes)}")
    return NodeState(PATHS.root, node)


def cmd_sentinel(args: argparse.Namespace) -> int:
    state = known_node(args.node)
    if args.state == "on":
        state.write_sentinel()
    else:
        state.clear_sentinel()
    print(state.sentinel)
    return 0


def cmd_updates(args: argparse.Namespace) -> int:
    state = known_node(args.node)
    import apt_repo

    if args.update == "apt":
        print(apt_repo.setup(state))
        return 0
    apt_repo.teardown(state)
    if args.update == "kernel":
        print(state.offer_kernel())
    else:
        state.withdraw_kernel()
    return 0


def cmd_alert(args: argparse.Namespace) -> int:
    info = load_info()
    firing_file = PATHS.prometheus / "firing.json"
    firing = set(read_json(firing_file)) if firing_file.exists() else set()
    if args.state == "on":
        firing.add(args.name)
    else:
        firing.discard(args.name)
    (PATHS.prometheus / "rules.yml").write_text(prometheus_rules(firing))
    write_json(firing_file, sorted(firing))
    url = info["prometheus_url"]
    urllib.request.urlopen(urllib.request.Request(f"{url}/-/reload", method="POST"), timeout=10).close()
    # Return only once Prometheus reports the new state, so a caller can assert on it straight away.
    want = args.state == "on"
    wait_for(f"alert {args.name} to be {'firing' if want else 'inactive'}",
             lambda: (args.name in firing_alerts(url)) == want, timeout=30, interval=0.2)
    log(f"alert {args.name}: {'firing' if want else 'inactive'}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    info = load_info()
    print(f"export KUBECONFIG={info['admin_kubeconfig']}")
    print(f"export NODEPATCH_TESTBED_KUBECONFIG={info['kubeconfig']}")
    print(f"export PATH={info['bin_dir']}:$PATH")
    return 0


def cmd_kubectl(args: argparse.Namespace) -> int:
    info = load_info()
    argv = [f"{info['bin_dir']}/kubectl", f"--kubeconfig={info['admin_kubeconfig']}", *args.args]
    os.execv(argv[0], argv)


# --------------------------------------------------------------------------------------------------- main


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="testbed", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the test bed (etcd, API server, controllers, kwok, Prometheus, sshd)")
    up.add_argument("--nodes", type=int, default=int(os.environ.get("NODES", "5")))
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop everything `up` started; idempotent").set_defaults(func=cmd_down)
    sub.add_parser("status", help="components, ports, nodes").set_defaults(func=cmd_status)
    reboot = sub.add_parser("reboot", help="simulated reboot: NotReady, new boot id, sentinel cleared, Ready")
    reboot.add_argument("node")
    reboot.add_argument("--delay", type=float, default=3.0, help="seconds the node stays down (default 3)")
    reboot.add_argument("--wait", action="store_true", help="return only when the node is back")
    reboot.set_defaults(func=cmd_reboot)
    back = sub.add_parser("_come-back", help=argparse.SUPPRESS)
    back.add_argument("node")
    back.add_argument("--delay", type=float, default=3.0)
    back.set_defaults(func=cmd_come_back)
    sentinel = sub.add_parser("sentinel", help="mark (on) or unmark (off) a node as needing a reboot")
    sentinel.add_argument("node")
    sentinel.add_argument("state", choices=("on", "off"))
    sentinel.set_defaults(func=cmd_sentinel)
    updates = sub.add_parser("updates", help="what a node's package managers can install: the next kernel "
                                             "(apt: as a real package for real apt), or none")
    updates.add_argument("node")
    updates.add_argument("update", choices=("kernel", "apt", "none"))
    updates.set_defaults(func=cmd_updates)
    alert = sub.add_parser("alert", help="switch a Prometheus test alert firing (on) or inactive (off)")
    alert.add_argument("state", choices=("on", "off"))
    alert.add_argument("--name", default=ALERT_DEFAULT)
    alert.set_defaults(func=cmd_alert)
    sub.add_parser("env", help="shell exports for kubectl against the test bed").set_defaults(func=cmd_env)
    kubectl = sub.add_parser("kubectl", help="kubectl with the admin kubeconfig")
    kubectl.add_argument("args", nargs=argparse.REMAINDER)
    kubectl.set_defaults(func=cmd_kubectl)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kured"]:  # kured peers (tests/testbed/kured.py), imported only here
        from kured import main as kured_main

        return kured_main(argv[1:])
    if argv[:1] == ["kubectl"]:
        # Everything after `kubectl` is kubectl's, flags first included (argparse would claim `-n`).
        args = argparse.Namespace(func=cmd_kubectl, args=argv[1:])
    else:
        args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TestbedError as err:
        log(str(err))
        return 1


if __name__ == "__main__":
    sys.exit(main())
