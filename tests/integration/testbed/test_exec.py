# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Exec through the real API server into a node pod on a simulated node (tests/testbed/EXEC-CONTRACT.md).

The API server dials the node's loopback address at kwok's TLS port; kwok runs the command locally as that
node: nsenter enters the node's simulated environment (its own /var/run), systemctl reboot reboots exactly that
node, the package managers record what they were asked and install a newer kernel.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

NSENTER = ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--"]
TESTBED_CLI = Path(__file__).resolve().parents[2] / "testbed" / "testbed"


@dataclass
class Result:
    stdout: str
    stderr: str
    status: dict[str, Any]


def loopback_only(testbed: Testbed) -> None:
    for node in testbed.core_v1().list_node().items:
        for address in node.status.addresses or []:
            if address.type == "Hostname":
                continue
            ip = ipaddress.ip_address(address.address)
            assert ip in ipaddress.ip_network("127.0.0.0/8"), f"node {node.metadata.name} has {address.type} {ip}"


def bed_cli(testbed: Testbed, *args: str) -> str:
    return subprocess.run([str(TESTBED_CLI), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, "NODEPATCH_TESTBED_DIR": str(testbed.state_dir)}).stdout.strip()


@pytest.fixture(scope="module")
def exec_bed(testbed: Testbed) -> Testbed:
    if not testbed.simulated:
        pytest.skip("the exec shims are the simulated test bed's; a real cluster's nodes are real")
    # Before the first exec: nothing may make the API server dial off this machine.
    loopback_only(testbed)
    return testbed


def run(testbed: Testbed, pod: str, command: list[str], stdin: bytes | None = None, shell: bool = True) -> Result:
    """One exec through the API server, on a client of its own (the stream() call patches the client it uses)."""
    api = client.CoreV1Api(config.new_client_from_config(config_file=testbed.admin_kubeconfig))
    argv = [*NSENTER, "/bin/sh", "-c", command[0]] if shell else command
    resp = stream(api.connect_get_namespaced_pod_exec, pod, testbed.info["agent_namespace"], command=argv,
                  stdin=stdin is not None, stdout=True, stderr=True, tty=False, _preload_content=False)
    if stdin is not None:
        resp.write_stdin(stdin)
    out, err = [], []
    while resp.is_open():
        resp.update(timeout=5)
        out.append(resp.read_stdout() if resp.peek_stdout() else "")
        err.append(resp.read_stderr() if resp.peek_stderr() else "")
    status = resp.read_channel(3) or "{}"
    resp.close()
    return Result("".join(out), "".join(err), json.loads(status))


@pytest.fixture(scope="module")
def pods(exec_bed: Testbed) -> Iterator[dict[str, str]]:
    """A node pod (as the connection plugin makes them) on each of the last three nodes: node -> pod name."""
    testbed = exec_bed
    core = testbed.core_v1()
    namespace = testbed.info["agent_namespace"]
    key = uuid.uuid4().hex[:6]
    made = {}
    for node in testbed.nodes[-3:]:
        name = f"np-exec-{key}-{node[-1]}"
        core.create_namespaced_pod(namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "np-exec-test"}},
            "spec": {"nodeName": node, "hostPID": True, "restartPolicy": "Never", "activeDeadlineSeconds": 600,
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "node", "image": "busybox", "command": ["sleep", "infinity"],
                                     "securityContext": {"privileged": True}}]}})
        made[node] = name
    try:
        testbed.wait_until(lambda: all(core.read_namespaced_pod(pod, namespace).status.phase == "Running"
                                       for pod in made.values()), 30, "the node pods Running")
        yield made
    finally:
        for pod in made.values():
            try:
                core.delete_namespaced_pod(pod, namespace, grace_period_seconds=0)
            except ApiException as err:
                if err.status != 404:
                    raise


def test_no_node_address_is_outside_loopback(exec_bed: Testbed) -> None:
    loopback_only(exec_bed)
    for node in exec_bed.core_v1().list_node().items:
        assert node.status.daemon_endpoints.kubelet_endpoint.port == exec_bed.info["ports"]["kwok"]
    assert set(exec_bed.info["node_addresses"].values()) == {"127.0.0.1"}


def test_an_exec_runs_as_the_pods_node_and_sees_only_its_sentinel(exec_bed: Testbed, pods: dict[str, str]) -> None:
    marked, other = list(pods)[:2]
    exec_bed.sentinel(marked, on=True)
    try:
        seen = run(exec_bed, pods[marked], ["cat /var/run/reboot-required; echo node=$NODEPATCH_TESTBED_NODE; "
                                            "echo to-stderr >&2"])
        assert seen.stdout == f"*** System restart required ***\nnode={marked}\n"
        assert seen.stderr == "to-stderr\n"
        assert seen.status.get("status") == "Success"
        unseen = run(exec_bed, pods[other], ["test -e /var/run/reboot-required && echo yes || echo no"])
        assert unseen.stdout == "no\n"
    finally:
        exec_bed.sentinel(marked, on=False)


def test_stdin_reaches_the_command(exec_bed: Testbed, pods: dict[str, str]) -> None:
    node = next(iter(pods))
    payload = bytes(range(256)) * 64  # 16 KiB, every byte value
    result = run(exec_bed, pods[node], [f"head -c {len(payload)} | od -An -tx1 | tr -d ' \\n' | md5sum"],
                 stdin=payload)
    assert result.stdout.split()[0] == hashlib.md5(payload.hex().encode()).hexdigest()  # noqa: S324


def test_commands_by_path_or_with_another_path_still_meet_the_shims(exec_bed: Testbed, pods: dict[str, str]) -> None:
    node = next(iter(pods))
    by_path = run(exec_bed, pods[node], ["/usr/bin/nsenter", "-t", "1", "-m", "--", "/bin/sh", "-c",
                                         "test -e /run/nodepatch-testbed.env && echo simulated"], shell=False)
    assert by_path.stdout == "simulated\n"
    refused = run(exec_bed, pods[node], ["env PATH=/usr/sbin:/usr/bin:/sbin:/bin poweroff; echo exit=$?"])
    assert "can reboot, not power off" in refused.stderr
    assert refused.stdout == "exit=1\n"


def test_systemctl_reboot_reboots_exactly_that_node(exec_bed: Testbed, pods: dict[str, str]) -> None:
    node = list(pods)[1]
    before = {name: exec_bed.boot_id(name) for name in exec_bed.nodes}
    result = run(exec_bed, pods[node], ["NODEPATCH_TESTBED_REBOOT_DELAY=1 systemctl reboot; echo started"])
    assert result.stdout == "started\n"
    exec_bed.wait_until(lambda: exec_bed.boot_id(node) != before[node] and exec_bed.node_ready(node), 30,
                        f"{node} back with a new boot id")
    assert {name: exec_bed.boot_id(name) for name in exec_bed.nodes if name != node} == \
        {name: boot for name, boot in before.items() if name != node}
    assert "systemctl reboot" in Path(exec_bed.info["node_roots"][node], "systemctl.log").read_text()


def test_package_managers_record_and_upgrade_a_kernel_the_next_reboot_boots(
        exec_bed: Testbed, pods: dict[str, str]) -> None:
    node = list(pods)[2]
    log = Path(exec_bed.info["package_logs"][node])
    log.unlink(missing_ok=True)
    kernel = bed_cli(exec_bed, "updates", node, "kernel")
    first = run(exec_bed, pods[node], ["apt-get update >/dev/null && apt-get -y dist-upgrade"])
    assert "1 upgraded, 1 newly installed" in first.stdout
    assert f"linux-image-{kernel}" in first.stdout
    assert exec_bed.sentinel_path(node).exists()
    again = run(exec_bed, pods[node], ["apt-get -y dist-upgrade; unattended-upgrade --verbose; tdnf -y update; "
                                       "dnf -y upgrade --security"])
    assert "0 upgraded, 0 newly installed" in again.stdout
    assert "No packages found that can be upgraded unattended" in again.stdout
    assert again.stdout.count("Nothing to do.") == 2
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(call["tool"], call["argv"]) for call in calls] == [
        ("apt-get", ["update"]), ("apt-get", ["-y", "dist-upgrade"]), ("apt-get", ["-y", "dist-upgrade"]),
        ("unattended-upgrade", ["--verbose"]), ("tdnf", ["-y", "update"]), ("dnf", ["-y", "upgrade", "--security"])]
    assert calls[1]["installed"] == [f"linux-image-{kernel}", "linux-base"]
    assert exec_bed.sentinel_path(node).with_name("reboot-required.pkgs").read_text() == \
        f"linux-image-{kernel}\nlinux-base\n"
    boot = exec_bed.boot_id(node)
    exec_bed.reboot(node, delay=0.5)
    exec_bed.wait_until(lambda: exec_bed.boot_id(node) != boot and exec_bed.node_ready(node), 30,
                        f"{node} back after its upgrade")
    assert exec_bed.node(node).status.node_info.kernel_version == kernel
    assert not exec_bed.sentinel_path(node).exists()


def test_apt_sources_on_a_node_are_its_own_and_empty_so_libapt_stays_offline(
        exec_bed: Testbed, pods: dict[str, str]) -> None:
    node = next(iter(pods))
    seen = run(exec_bed, pods[node], ["cat /etc/apt/sources.list.d/* /etc/apt/sources.list 2>/dev/null | wc -l; "
                                      "ls /var/lib/apt/lists | grep -c -e Packages -e Release"])
    assert seen.stdout == "0\n0\n"


def test_real_apt_on_a_node_upgrades_only_that_nodes_package_database_from_its_local_repository(
        exec_bed: Testbed, pods: dict[str, str]) -> None:
    node = list(pods)[0]
    host_dpkg_log = Path("/var/log/dpkg.log")
    host_log_before = host_dpkg_log.read_bytes() if host_dpkg_log.exists() else b""
    kernel = bed_cli(exec_bed, "updates", node, "apt")
    version = ".".join(kernel.split("-")[:2])
    try:
        upgrade = run(exec_bed, pods[node], ["apt-get update >/dev/null && apt-get -y dist-upgrade"])
        assert f"Setting up linux-image-azure ({version})" in upgrade.stdout, upgrade
        libapt = run(exec_bed, pods[node], ["/usr/bin/python3 -c 'import apt; print(apt.Cache()[\"linux-image-azure\"]"
                                            ".installed.version)'"])
        assert libapt.stdout == f"{version}\n"
        assert exec_bed.sentinel_path(node).with_name("reboot-required.pkgs").read_text() == f"linux-image-{kernel}\n"
        again = run(exec_bed, pods[node], ["apt-get -y dist-upgrade"])
        assert "0 upgraded, 0 newly installed" in again.stdout
        # This machine's own package database never saw it.
        assert subprocess.run(["dpkg-query", "-W", "linux-image-azure"], capture_output=True, check=False).returncode
        assert (host_dpkg_log.read_bytes() if host_dpkg_log.exists() else b"") == host_log_before
        boot = exec_bed.boot_id(node)
        exec_bed.reboot(node, delay=0.5)
        exec_bed.wait_until(lambda: exec_bed.boot_id(node) != boot and exec_bed.node_ready(node), 30,
                            f"{node} back after its apt upgrade")
        assert exec_bed.node(node).status.node_info.kernel_version == kernel
    finally:
        bed_cli(exec_bed, "updates", node, "kernel")


def test_kubectl_exec_works_through_the_same_path(exec_bed: Testbed, pods: dict[str, str]) -> None:
    node, pod = next(iter(pods.items()))
    proc = exec_bed.kubectl("exec", "-n", exec_bed.info["agent_namespace"], pod, "--", *NSENTER,
                            "/bin/sh", "-c", "echo $NODEPATCH_TESTBED_NODE")
    assert proc.stdout == f"{node}\n"
