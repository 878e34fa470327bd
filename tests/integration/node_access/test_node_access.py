# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Nodes reached through the Kubernetes API only (connection nodepatch.kube.node), on the test bed: the nodes
inventory with the least-privilege kubeconfig, exec through the real API server into node pods on the simulated
nodes (tests/testbed/EXEC-CONTRACT.md), and the whole roll-out of playbooks/patch_and_reboot.yml that way."""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from tests.integration.conftest import PlaybookRunner, Testbed

REPO = Path(__file__).resolve().parents[3]
MANAGED = "app.kubernetes.io/managed-by=nodepatch.kube"
LOCK_ANNOTATION = "weave.works/kured-node-lock"
IN_PROGRESS = "weave.works/kured-reboot-in-progress"


@pytest.fixture(scope="module")
def bed(testbed: Testbed) -> Testbed:
    testbed.require_simulated("these tests patch and reboot nodes")
    for node in testbed.core_v1().list_node().items:  # before any exec: nothing may dial off this machine
        for address in node.status.addresses or []:
            assert address.type == "Hostname" or address.address.startswith("127."), (node.metadata.name, address)
    return testbed


def agent_namespace(testbed: Testbed) -> str:
    return str(testbed.info.get("agent_namespace", "nodepatch-system"))


def write_inventory(tmp_path: Path, testbed: Testbed, kubeconfig: str | None = None, **host_vars: Any) -> Path:
    """The nodes inventory, as a user with only a kubeconfig writes it; the node's python is this venv's."""
    compose = {"ansible_python_interpreter": repr(sys.executable),
               **{key: repr(value) for key, value in host_vars.items()}}
    config = {"plugin": "nodepatch.kube.nodes", "kubeconfig": kubeconfig or testbed.kubeconfig,
              "label_selector": "agentpool=nodepool1", "compose": compose}
    path = tmp_path / f"bed-{uuid.uuid4().hex[:6]}.nodes.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def node_pods(testbed: Testbed, namespace: str | None = None) -> list[Any]:
    return list(testbed.core_v1().list_namespaced_pod(namespace or agent_namespace(testbed),
                                                      label_selector=MANAGED).items)


def wait_no_node_pods(testbed: Testbed, namespace: str | None = None) -> None:
    testbed.wait_until(lambda: not node_pods(testbed, namespace), 30, "no node pod left (the run's reaper)")


def exec_requests(testbed: Testbed) -> int:
    """pods/exec requests the API server counted (its own metrics)."""
    text = testbed.kubectl("get", "--raw", "/metrics").stdout
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{") and 'resource="pods"' in line and 'subresource="exec"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def playbook(tmp_path: Path, plays: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"play-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


@pytest.fixture
def clean(bed: Testbed) -> Iterator[Testbed]:
    """No sentinel, every node schedulable and Ready, the lock free, no node pod: before and after."""

    def reset() -> None:
        core = bed.core_v1()
        for name in bed.nodes:
            bed.sentinel(name, on=False)
            core.patch_node(name, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
                IN_PROGRESS: None, "nodepatch.kube/boot-id-before": None, "nodepatch.kube/reboot-requested": None}}})
        bed.apps_v1().patch_namespaced_daemon_set("kured", "kube-system",
                                                  {"metadata": {"annotations": {LOCK_ANNOTATION: None}}})
        for pod in node_pods(bed):
            core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        bed.wait_until(lambda: all(bed.node_ready(name) for name in bed.nodes), 60, "all nodes Ready")

    reset()
    yield bed
    reset()


# ------------------------------------------------------------------------------------------------ modules


def test_modules_run_unchanged_on_the_nodes_host_and_exit_codes_come_back(
        clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner) -> None:
    marked, unmarked = clean.nodes[0], clean.nodes[1]
    clean.sentinel(marked)
    before = exec_requests(clean)
    probe = f"/run/nodepatch-probe-{uuid.uuid4().hex[:6]}"
    checks = playbook(tmp_path, [{
        "hosts": f"{marked}:{unmarked}", "gather_facts": False, "tasks": [
            {"name": "Reboot needed?", "nodepatch.kube.reboot_required": {}, "register": "needed"},
            {"name": "Only the marked node needs it", "ansible.builtin.assert": {"that": [
                f"needed.reboot_required == (inventory_hostname == '{marked}')"]}},
            {"name": "A command with output on both streams and exit code 3",
             "ansible.builtin.command": "/bin/sh -c 'echo out; echo err >&2; exit 3'",
             "register": "three", "failed_when": False, "changed_when": False},
            {"name": "Its exit code and streams come back", "ansible.builtin.assert": {"that": [
                "three.rc == 3", "three.stdout == 'out'", "three.stderr == 'err'"]}},
            {"name": "The node runs as itself", "ansible.builtin.command": "/bin/sh -c 'echo $NODEPATCH_TESTBED_NODE'",
             "register": "whoami", "changed_when": False},
            {"ansible.builtin.assert": {"that": ["whoami.stdout == inventory_hostname"]}},
            {"name": "Facts", "ansible.builtin.setup": {"gather_subset": ["pkg_mgr"]}},
            {"ansible.builtin.assert": {"that": ["ansible_facts.pkg_mgr | length > 0"]}},
            {"name": "A file to the node",
             "ansible.builtin.copy": {"content": "hello {{ inventory_hostname }}\n", "dest": probe, "mode": "0600"}},
            {"name": "And back",
             "ansible.builtin.fetch": {"src": probe, "dest": str(tmp_path / "fetched") + "/", "flat": False}},
            {"ansible.builtin.file": {"path": probe, "state": "absent"}},
        ]}])
    inventory = write_inventory(tmp_path, clean)
    proc = run_playbook(checks, inventory=inventory)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    for node in (marked, unmarked):
        assert (tmp_path / "fetched" / node / probe.lstrip("/")).read_text() == f"hello {node}\n"
    # Without pipelining the modules go through put_file.
    proc = run_playbook(checks, inventory=inventory, env={"ANSIBLE_PIPELINING": "False"})
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert exec_requests(clean) - before >= 2 * 2 * 6
    wait_no_node_pods(clean)


def test_a_failing_command_on_the_node_is_a_failed_task_not_a_crash(
        clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner) -> None:
    node = clean.nodes[2]
    failing = playbook(tmp_path, [{"hosts": node, "gather_facts": False, "tasks": [
        {"ansible.builtin.command": "/bin/sh -c 'echo broken >&2; exit 42'"}]}])
    proc = run_playbook(failing, inventory=write_inventory(tmp_path, clean))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"fatal: [{node}]: FAILED!" in proc.stdout and '"rc": 42' in proc.stdout
    assert "UNREACHABLE" not in proc.stdout
    wait_no_node_pods(clean)


def test_a_new_pod_that_does_not_serve_exec_yet_is_waited_for_and_the_command_runs_once(
        clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner) -> None:
    """A node pod Running before its node serves exec into it: on the test bed, before the node-exec watcher has
    given it its Exec (a race seen in CI, where the first command came back with no word at all). The connection
    runs a no-op until one runs to its end, then the task's command, once."""
    node = clean.nodes[3]
    counter = f"/run/nodepatch-once-{uuid.uuid4().hex[:6]}"
    play = playbook(tmp_path, [{"hosts": node, "gather_facts": False, "tasks": [
        {"name": "Count this command's runs", "ansible.builtin.raw": f"echo ran >> {counter}"},
        {"ansible.builtin.command": f"cat {counter}", "register": "runs", "changed_when": False},
        {"ansible.builtin.file": {"path": counter, "state": "absent"}},
        {"ansible.builtin.assert": {"that": ["runs.stdout_lines == ['ran']"]}},
    ]}])
    inventory = write_inventory(tmp_path, clean)
    outcome: dict[str, Any] = {}
    clean.component("stop", "node-exec")
    try:
        thread = threading.Thread(target=lambda: outcome.update(proc=run_playbook(play, inventory=inventory)),
                                  daemon=True)
        thread.start()
        clean.wait_until(lambda: any(pod.status.phase == "Running" and pod.spec.node_name == node
                                     for pod in node_pods(clean)), 60, f"a node pod Running on {node}")
        time.sleep(3)  # every exec meanwhile finds no Exec for the pod
    finally:
        clean.component("start", "node-exec")
    thread.join(120)
    proc = outcome["proc"]
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert "UNREACHABLE" not in proc.stdout
    wait_no_node_pods(clean)


# ------------------------------------------------------------------------------------------------ roll-out


def rollout_vars(testbed: Testbed, hosts: str, **extra: Any) -> dict[str, Any]:
    return {"patch_and_reboot_hosts": hosts,
            "safe_reboot_kubeconfig": testbed.kubeconfig, "safe_reboot_drain_timeout": 60,
            "safe_reboot_ready_timeout": 120, "safe_reboot_lock_wait_timeout": 120, "safe_reboot_lock_wait_sleep": 1,
            **extra}


def test_the_whole_rollout_patches_and_reboots_through_the_api_only(
        clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner) -> None:
    rolled = clean.nodes[:2]
    untouched = clean.nodes[2:]
    # A newer kernel waits on the rolled nodes only; patching installs it, which makes them need the reboot.
    offered = {name: clean._cli("updates", name, "kernel").stdout.strip() for name in rolled}  # noqa: SLF001
    for name in untouched:
        clean._cli("updates", name, "none")  # noqa: SLF001
    boots = {name: clean.boot_id(name) for name in clean.nodes}
    logs = {name: Path(clean.info["package_logs"][name]) for name in rolled}
    sizes = {name: log.stat().st_size if log.exists() else 0 for name, log in logs.items()}
    before = exec_requests(clean)
    proc = run_playbook("playbooks/patch_and_reboot.yml", rollout_vars(clean, "all"),
                        inventory=write_inventory(tmp_path, clean), env={"PWD": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    for name in rolled:
        calls = [json.loads(line) for line in logs[name].read_bytes()[sizes[name]:].decode().splitlines()]
        # ansible.builtin.apt: its cache update is libapt's own; the upgrade is the apt-get shim
        upgrades = [call for call in calls if call["tool"] == "apt-get" and "dist-upgrade" in call["argv"]]
        assert len(upgrades) == 1 and upgrades[0]["installed"], calls
        node = clean.node(name)
        assert node.status.node_info.boot_id != boots[name], f"{name} did not reboot"
        assert node.status.node_info.kernel_version == offered[name]
        assert not node.spec.unschedulable and IN_PROGRESS not in (node.metadata.annotations or {})
        assert not clean.sentinel_path(name).exists()
    assert {name: clean.boot_id(name) for name in untouched} == {name: boots[name] for name in untouched}
    assert clean.lock_holders() == []
    report = json.loads((tmp_path / "nodepatch-reports" / "rollout.json").read_text())
    results = {node["node"]: node["result"] for node in report["nodes"]}
    assert results == {**{name: "rebooted" for name in rolled}, **{name: "not-needed" for name in untouched}}
    # patch (setup, upgrade, check) and reboot (check, reboot) at least, per node, all through pods/exec
    assert exec_requests(clean) - before >= 5 * len(rolled)
    wait_no_node_pods(clean)


def reaper_pid(run_id: str) -> int | None:
    for lock in glob.glob(os.path.join(tempfile.gettempdir(), f"nodepatch-node-{run_id}-*.reaper")):
        try:
            return int(Path(lock).read_text() or "0") or None
        except (OSError, ValueError):
            continue
    return None


def test_a_killed_rollout_is_finished_by_the_rerun_which_removes_the_leftover_pod(
        clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner, collections_root: Path) -> None:
    node = clean.nodes[0]
    boot = clean.boot_id(node)
    clean.sentinel(node)
    inventory = write_inventory(tmp_path, clean)
    extra = tmp_path / "kill-vars.json"
    extra.write_text(json.dumps(rollout_vars(clean, node, patch_and_reboot_patch=False,
                                             safe_reboot_lock_release_delay=0)))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections_root), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "PWD": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    # The drain waits on a pod that its PodDisruptionBudget keeps: the run is killed while it holds the lock,
    # the node is cordoned and its node pod exists.
    namespace = clean.create_namespace("np-kill")
    clean.apps_v1().create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kept"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "kept"}}, "template": {
            "metadata": {"labels": {"app": "kept"}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}})
    clean.wait_until(lambda: any(pod.status.phase == "Running" for pod in
                                 clean.core_v1().list_namespaced_pod(namespace).items), 60, "the kept pod Running")
    clean.policy_v1().create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "kept"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "kept"}}}})
    try:
        with (tmp_path / "killed.log").open("w") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own venv's ansible-playbook
                [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                 str(REPO / "playbooks" / "patch_and_reboot.yml"), "-e", f"@{extra}"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True)
        try:
            clean.wait_until(lambda: bool(clean.node(node).spec.unschedulable) and bool(node_pods(clean)), 90,
                             f"{node} cordoned with its node pod")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        leftover = node_pods(clean)[0]
        pid = reaper_pid(leftover.metadata.labels["nodepatch.kube/run"])
        if pid:  # the controller's container is gone too: nothing of the run survives
            os.kill(pid, signal.SIGKILL)
        time.sleep(2)
        assert [pod.metadata.name for pod in node_pods(clean)] == [leftover.metadata.name]
        assert clean.lock_holders() == [node]
    finally:
        clean.delete_namespace(namespace)
    proc2 = run_playbook("playbooks/patch_and_reboot.yml", rollout_vars(clean, node, patch_and_reboot_patch=False),
                         inventory=inventory, env={"PWD": str(tmp_path)})
    assert proc2.returncode == 0, proc2.stdout[-6000:] + proc2.stderr[-3000:]
    assert clean.boot_id(node) != boot
    assert not clean.node(node).spec.unschedulable
    assert clean.lock_holders() == []
    names = [pod.metadata.name for pod in node_pods(clean)]
    assert leftover.metadata.name not in names
    wait_no_node_pods(clean)


# ------------------------------------------------------------------------------------------------ refusals


@pytest.fixture
def no_exec_kubeconfig(bed: Testbed, tmp_path: Path) -> Iterator[str]:
    """An identity with the collection's cluster-wide rules and the node pods' Role WITHOUT pods/exec."""
    namespace = agent_namespace(bed)
    name = f"np-noexec-{uuid.uuid4().hex[:6]}"
    manifests = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "nodepatch"},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": namespace},
         "rules": [{"apiGroups": [""], "resources": ["pods"],
                    "verbs": ["create", "get", "list", "watch", "delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": name, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    ]
    path = tmp_path / "rbac.yml"
    path.write_text(yaml.safe_dump_all(manifests))
    bed.kubectl("apply", "-f", str(path))
    token = bed.kubectl("-n", namespace, "create", "token", name, "--duration=1h").stdout.strip()
    kubeconfig = tmp_path / "noexec.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "noexec",
        "clusters": [{"name": "bed", "cluster": {"server": bed.api_url, "certificate-authority": bed.info["ca_cert"]}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": "noexec", "context": {"cluster": "bed", "user": name}}]}))
    try:
        yield str(kubeconfig)
    finally:
        bed.kubectl("delete", "--ignore-not-found", "-f", str(path), check=False)


def test_without_pods_exec_the_error_names_it_and_nothing_is_cordoned_or_locked(
        clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner, no_exec_kubeconfig: str) -> None:
    node = clean.nodes[0]
    clean.sentinel(node)
    proc = run_playbook("playbooks/patch_and_reboot.yml",
                        rollout_vars(clean, node, safe_reboot_kubeconfig=no_exec_kubeconfig),
                        inventory=write_inventory(tmp_path, clean, kubeconfig=no_exec_kubeconfig),
                        env={"PWD": str(tmp_path)})
    assert proc.returncode != 0
    # The API server names the verb it checked first: get (the websocket's GET) or create.
    assert re.search(r"may not (get|create) pods/exec \(API group core\) in namespace", proc.stdout), \
        proc.stdout[-4000:]
    assert not clean.node(node).spec.unschedulable
    assert clean.lock_holders() == []
    wait_no_node_pods(clean)


def test_a_pod_refused_by_pod_security_is_named_within_the_timeout(
        clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner) -> None:
    namespace = clean.create_namespace("np-restricted")
    clean.core_v1().patch_namespace(namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    try:
        probe = playbook(tmp_path, [{"hosts": clean.nodes[0], "gather_facts": False, "tasks": [
            {"ansible.builtin.command": "true"}]}])
        started = time.monotonic()
        # The admin kubeconfig: the point is Pod Security, not RBAC in that namespace.
        proc = run_playbook(probe, inventory=write_inventory(tmp_path, clean, kubeconfig=clean.admin_kubeconfig,
                                                             nodepatch_pod_namespace=namespace,
                                                             nodepatch_pod_start_timeout=20))
        elapsed = time.monotonic() - started
        assert proc.returncode == 4, proc.stdout + proc.stderr  # unreachable
        assert "UNREACHABLE" in proc.stdout and "violates PodSecurity" in proc.stdout
        assert f"label namespace {namespace} pod-security.kubernetes.io/enforce=privileged" in proc.stdout
        assert elapsed < 60
        assert not node_pods(clean, namespace)
    finally:
        clean.delete_namespace(namespace)


def test_a_node_that_does_not_exist_is_named(clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner) -> None:
    probe = playbook(tmp_path, [{"hosts": clean.nodes[0], "gather_facts": False, "tasks": [
        {"ansible.builtin.command": "true"}]}])
    proc = run_playbook(probe, inventory=write_inventory(tmp_path, clean, nodepatch_node_name="aks-gone-vmss000009"))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "node aks-gone-vmss000009 does not exist in the cluster" in proc.stdout


# ------------------------------------------------------------------------------------------------ os_patch, real apt


def test_os_patch_with_real_apt_installs_the_kernel_package_and_the_reboot_reports_its_kernel(
        clean: Testbed, tmp_path: Path, run_playbook: PlaybookRunner) -> None:
    """apt-get, dpkg and libapt for real on one node (its own dpkg database and a local repository, tests/testbed/
    apt_repo.py): os_patch installs the newer kernel package, whose postinst writes the sentinel as Ubuntu's do; a
    second run changes nothing; the roll-out's reboot then boots the installed kernel."""
    node = clean.nodes[3]
    kernel = clean._cli("updates", node, "apt").stdout.strip()  # noqa: SLF001
    try:
        inventory = write_inventory(tmp_path, clean)
        patch = playbook(tmp_path, [{"hosts": node, "gather_facts": False,
                                     "roles": [{"role": "nodepatch.kube.os_patch"}]}])
        first = run_playbook(patch, inventory=inventory)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
        assert re.search(rf"{re.escape(node)}\s*:\s*ok=\d+\s+changed=[1-9]", first.stdout), first.stdout[-3000:]
        assert clean.sentinel_path(node).exists(), "the kernel package's postinst wrote no /var/run/reboot-required"
        dpkg_log = Path(clean.info["node_roots"][node]) / "apt" / "dpkg.log"
        assert re.search(r" (upgrade|install) linux-image-azure", dpkg_log.read_text()), dpkg_log.read_text()[-2000:]
        second = run_playbook(patch, inventory=inventory)
        assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
        assert re.search(rf"{re.escape(node)}\s*:\s*ok=\d+\s+changed=0", second.stdout), second.stdout[-3000:]
        boot = clean.boot_id(node)
        rollout = run_playbook("playbooks/patch_and_reboot.yml", rollout_vars(clean, node, patch_and_reboot_patch=False),
                               inventory=inventory, env={"PWD": str(tmp_path)})
        assert rollout.returncode == 0, rollout.stdout[-6000:] + rollout.stderr[-3000:]
        booted = clean.node(node).status.node_info
        assert booted.boot_id != boot and booted.kernel_version == kernel
        assert not clean.sentinel_path(node).exists()
    finally:
        clean._cli("updates", node, "none")  # noqa: SLF001
    wait_no_node_pods(clean)
