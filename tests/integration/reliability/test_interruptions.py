# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A roll-out interrupted at every step of a node's safe reboot, by SIGKILL (a crash, a controller that vanished)
and by SIGTERM (AWX's cancel), then run again: the re-run finishes the job and its report tells what happened.

Each case runs playbooks/patch_and_reboot.yml on one node, reached through the Kubernetes API only (connection
nodepatch.kube.node, the default for AKS), with a lock of its own (alternately a DaemonSet annotation and a Lease),
so the cases run in parallel on the nodes of one test bed. The kill lands at a known step, without sleeps:
callback_plugins/hold_at.py holds the play at a named task (or signals that a task's module is running), and the
test watches the cluster for the rest (the cordon appearing; pods evicted while a PodDisruptionBudget makes the
drain retry the last one; the node down while node_info waits for it). After the kill every process of the run is
killed (the job's container is gone), and the re-run starts once the node is Ready again.

Every case then checks: the node rebooted exactly once (one `systemctl reboot` in the node's log, and a new boot
id), it is schedulable unless an administrator had cordoned it, no mark of ours is left, its lock is free, no
node pod is left, and the re-run's report row is complete and true (result, was_unschedulable, resumed, boot ids).

test_every_phase_of_the_role_has_a_case reads the phases from the role (the recovery table and every value that
the task files give safe_reboot_phase) and fails for a phase no case covers.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "safe_reboot"
HERE = Path(__file__).resolve().parent
MANAGED = "app.kubernetes.io/managed-by=nodepatch.kube"
IN_PROGRESS = "weave.works/kured-reboot-in-progress"
OWN_PREFIX = "nodepatch.kube/"
LOCK_NAMESPACE = "kube-system"
# The simulated reboot: down this long (the shortest the kill cases allow; the node is still down at the kill).
REBOOT_DELAY = 2
WAIT_REBOOT_DELAY = 6  # the case killed while node_info waits: the node must still be down when the kill lands
WAIT_TASK = "Wait until the node is Ready with a new boot id"
DRAIN_TASK = "Mark, cordon and drain the node"


@dataclass(frozen=True)
class Case:
    """Where the kill lands: `task` names the task of the role; `event` task_start (held before it starts) or
    runner_start (its module runs); `watch` a cluster state to wait for as well (cordoned, evicting, down)."""

    name: str
    phase: str  # safe_reboot_phase at the kill
    task: str
    event: str = "task_start"
    watch: str = ""
    admin_cordon: bool = False
    # What the first run had left when killed: the re-run resumes (our marks on the node) or finds nothing to do.
    resumes: bool = True
    result: str = "rebooted"
    reboot_delay: int = 0  # seconds the first run's reboot keeps the node down; 0: the phase's default
    # The re-run starts right after the kill, not once the node is Ready again; the node stays down until the
    # re-run waits for it (then the test brings it back), so the re-run's every look at it finds it down.
    rerun_at_once: bool = False
    ready_timeout: int = 120  # safe_reboot_ready_timeout of both runs


STEPS = [
    Case("after detect", "detect", "Check the reboot window, blocking pods and alerts", resumes=False),
    Case("after gate", "detect", "Record that the node waits for the reboot lock", resumes=False),
    Case("waiting for the lock", "lock", "Take the reboot lock, shared by at most safe_reboot_concurrency holders",
         event="runner_start", watch="lock-wait", resumes=False),
    Case("after the lock is taken", "locked", "Record that the drain starts", resumes=False),
    # The marks go in the cordon's patch: after the mark is after the cordon.
    Case("after mark and cordon (one patch)", "drain", DRAIN_TASK, event="runner_start", watch="cordoned"),
    Case("mid-drain, evictions in flight", "drain", DRAIN_TASK, event="runner_start",
         watch="evicting"),
    Case("after the reboot command", "reboot", "Record that the node is expected back"),
    # Killed between the mark that says the command is sent and the command itself: the re-run gives the node what
    # is left of safe_reboot_ready_timeout to go down, then reboots it (one reboot in all, not none and not two).
    Case("after the reboot-requested mark, before the command", "reboot", "Reboot the node over its connection",
         ready_timeout=20),
    Case("while waiting for Ready", "wait", WAIT_TASK, event="runner_start",
         watch="down"),
    Case("after uncordon and unmark (one patch)", "back", "Record that the node is schedulable again"),
    Case("before release", "uncordoned", "Release the reboot lock and clear the marks a re-run would resume from"),
    Case("after release", "done", "Close the reboot record of the node", resumes=False, result="not-needed"),
]
ADMIN = [
    Case("after the reboot command, admin-cordoned", "reboot", "Record that the node is expected back",
         admin_cordon=True),
    Case("mid-drain, admin-cordoned", "drain", DRAIN_TASK, event="runner_start",
         watch="evicting", admin_cordon=True),
]
# Every step under both signals, and both administrator cases: 26 cases, about 30 minutes of two cores, so only with
# NODEPATCH_INTERRUPT_ALL=1 (`make test-interruptions`). The suite runs one step per phase, the signals alternating
# from step to step, the kill between the reboot-requested mark and the command, and the administrator's cordon
# once: 11 cases.
ALL_CASES = ([(case, signal.SIGKILL) for case in STEPS + ADMIN] + [(case, signal.SIGTERM) for case in STEPS])
SUITE_STEPS = ["after gate", "waiting for the lock", "after the lock is taken", "mid-drain, evictions in flight",
               "after the reboot command", "while waiting for Ready", "after uncordon and unmark (one patch)",
               "before release",
               "after release", "after the reboot-requested mark, before the command"]
SUITE_CASES = ([(case, (signal.SIGKILL, signal.SIGTERM)[index % 2])
                for index, case in enumerate(next(step for step in STEPS if step.name == name) for name in SUITE_STEPS)]
               + [(ADMIN[0], signal.SIGKILL)])
CASES = ALL_CASES if os.environ.get("NODEPATCH_INTERRUPT_ALL") == "1" else SUITE_CASES


def case_id(case: Case, signum: int) -> str:
    return f"{signal.Signals(signum).name}: {case.name}"


# ------------------------------------------------------------------------------------------------ the role's phases


def role_phases() -> set[str]:
    """Every phase the role can be in: the recovery table's keys and each value a task file sets."""
    recovery = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["safe_reboot_recovery"]
    phases = set(recovery)
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for match in re.finditer(r"^\s*safe_reboot_phase:\s*['\"]?([\w-]+)", path.read_text(), re.MULTILINE):
            phases.add(match.group(1))
    return phases


def test_every_phase_of_the_role_has_a_case() -> None:
    phases = role_phases()
    print(f"\nphases of the role: {sorted(phases)}")
    for case, signum in CASES:
        print(f"  {case_id(case, signum):55s} phase {case.phase}")
    assert {"detect", "lock", "drain", "reboot", "wait", "done"} <= phases, "the phases could not be read"
    covered = {case.phase for case, _signum in SUITE_CASES}
    assert phases - covered == set(), f"phases of roles/safe_reboot without a case in the suite: {phases - covered}"
    assert covered - phases == set(), f"cases name phases the role does not have: {covered - phases}"
    assert {signum for _case, signum in SUITE_CASES} == {signal.SIGKILL, signal.SIGTERM}
    for signum in (signal.SIGKILL, signal.SIGTERM):
        assert {case.phase for case, sig in ALL_CASES if sig == signum} == phases, signal.Signals(signum).name


# ------------------------------------------------------------------------------------------------ running a case


@dataclass
class Outcome:
    case: Case
    signum: int
    node: str
    lock: dict[str, str]
    at_start: dict[str, Any] = field(default_factory=dict)  # the drain load's pods before the first run
    held: dict[str, Any] = field(default_factory=dict)  # what the callback saw at the kill
    at_kill: dict[str, Any] = field(default_factory=dict)  # the cluster at the kill
    at_rerun: dict[str, Any] = field(default_factory=dict)  # rerun_at_once: the node as the re-run waited for it
    survivors: int = 0  # processes of the run still alive after the signal (then killed, as the container goes)
    first_log: str = ""
    rerun_rc: int | None = None
    rerun_log: str = ""
    boot_before: str = ""
    boot_after: str = ""
    reboots: int = 0
    node_after: Any = None
    holders_after: list[str] = field(default_factory=list)
    pods_after: list[str] = field(default_factory=list)
    row: dict[str, Any] = field(default_factory=dict)
    html: str = ""
    error: str = ""
    seconds: float = 0.0


def agent_namespace(bed: Testbed) -> str:
    return str(bed.info.get("agent_namespace", "nodepatch-system"))


def node_pods(bed: Testbed, node: str) -> list[str]:
    return [pod.metadata.name for pod in bed.core_v1().list_namespaced_pod(
        agent_namespace(bed), label_selector=MANAGED, field_selector=f"spec.nodeName={node}").items]


def reboot_count(bed: Testbed, node: str) -> int:
    log = Path(bed.info["node_roots"][node]) / "systemctl.log"
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if re.search(r"\breboot\b", line))


def lock_holders(bed: Testbed, lock: dict[str, str]) -> list[str]:
    if lock["backend"] == "daemonset":
        return bed.lock_holders(LOCK_NAMESPACE, "kured", lock["annotation"])
    prefix = lock["lease_name"] + "-"
    return [lease.spec.holder_identity for lease in bed.coordination_v1().list_namespaced_lease(LOCK_NAMESPACE).items
            if lease.metadata.name.startswith(prefix) and lease.metadata.name[len(prefix):].isdigit()
            and lease.spec.holder_identity]


def take_lock(bed: Testbed, lock: dict[str, str], holder: str) -> None:
    """Another holder (a kured elsewhere) on the case's lock, in the format that backend keeps."""
    if lock["backend"] == "daemonset":
        value = json.dumps({"nodeID": holder, "metadata": {"unschedulable": False},
                            "created": "2026-12-01T08:00:00.000000001Z", "TTL": 0})
        bed.apps_v1().patch_namespaced_daemon_set("kured", LOCK_NAMESPACE,
                                                  {"metadata": {"annotations": {lock["annotation"]: value}}})
        return
    bed.coordination_v1().create_namespaced_lease(LOCK_NAMESPACE, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": lock["lease_name"] + "-0"}, "spec": {"holderIdentity": holder}})


def clear_lock(bed: Testbed, lock: dict[str, str]) -> None:
    if lock["backend"] == "daemonset":
        bed.apps_v1().patch_namespaced_daemon_set("kured", LOCK_NAMESPACE,
                                                  {"metadata": {"annotations": {lock["annotation"]: None}}})
        return
    for lease in bed.coordination_v1().list_namespaced_lease(LOCK_NAMESPACE).items:
        if lease.metadata.name.startswith(lock["lease_name"] + "-"):
            bed.coordination_v1().delete_namespaced_lease(lease.metadata.name, LOCK_NAMESPACE)


def reset_node(bed: Testbed, node: str) -> None:
    bed.core_v1().patch_node(node, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
        IN_PROGRESS: None, "nodepatch.kube/boot-id-before": None, "nodepatch.kube/reboot-requested": None, "nodepatch.kube/was-unschedulable": None}}})
    bed.sentinel(node, on=False)
    core = bed.core_v1()
    for name in node_pods(bed, node):
        core.delete_namespaced_pod(name, agent_namespace(bed), grace_period_seconds=0)
    bed.wait_until(lambda: bed.node_ready(node), 60, f"{node} Ready")


def run_token_pids(token: str) -> list[int]:
    """Every process of one run: they carry its token in their environment (the reaper and modules too)."""
    pids = []
    needle = f"NODEPATCH_TEST_RUN={token}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_all(token: str) -> int:
    """SIGKILL what is left of a run; returns how many processes were still alive."""
    pids = run_token_pids(token)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def deploy_drain_load(bed: Testbed, node: str) -> str:
    """Two free pods and one kept by its PodDisruptionBudget, all on the node: the drain evicts the free ones and
    retries the kept one until the budget allows (here: until the test deletes the budget)."""
    namespace = bed.create_namespace("np-interrupt")
    apps, policy = bed.apps_v1(), bed.policy_v1()
    for name, replicas in (("free", 2), ("kept", 1)):
        labels = {"app": name}
        apps.create_namespaced_deployment(namespace, {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "app", "image": "registry.local/app:1"}]}}}})
    policy.create_namespaced_pod_disruption_budget(namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "kept"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "kept"}}}})

    def settled() -> bool:
        pods = bed.core_v1().list_namespaced_pod(namespace).items
        pdb = policy.read_namespaced_pod_disruption_budget("kept", namespace)
        return (sum(1 for pod in pods if pod.status.phase == "Running") == 3 and bool(pdb.status)
                and (pdb.status.current_healthy or 0) == 1)
    bed.wait_until(settled, 60, f"the drain load Running on {node}")
    return namespace


def pods_by_app(bed: Testbed, namespace: str, app: str) -> list[Any]:
    return [pod for pod in bed.core_v1().list_namespaced_pod(namespace, label_selector=f"app={app}").items
            if pod.metadata.deletion_timestamp is None]


class Runs:
    """Runs the cases on the nodes of one test bed, one case per node at a time."""

    def __init__(self, bed: Testbed, collections_root: Path, work: Path) -> None:
        self.bed = bed
        self.collections_root = collections_root
        self.work = work

    def inventory(self, work: Path) -> Path:
        compose = {"ansible_python_interpreter": repr(sys.executable)}
        path = work / "bed.nodes.yml"
        path.write_text(yaml.safe_dump({"plugin": "nodepatch.kube.nodes", "kubeconfig": self.bed.kubeconfig,
                                        "label_selector": "agentpool=nodepool1", "compose": compose}))
        return path

    def extra_vars(self, work: Path, node: str, lock: dict[str, str], delay: int, ready_timeout: int) -> Path:
        lock_vars = {"safe_reboot_lock_backend": lock["backend"], "safe_reboot_lock_namespace": LOCK_NAMESPACE}
        if lock["backend"] == "daemonset":
            lock_vars["safe_reboot_lock_annotation"] = lock["annotation"]
        else:
            lock_vars["safe_reboot_lock_lease_name"] = lock["lease_name"]
        path = work / "vars.json"
        path.write_text(json.dumps({
            "patch_and_reboot_hosts": node, "patch_and_reboot_patch": False,
            "safe_reboot_kubeconfig": self.bed.kubeconfig, "safe_reboot_drain_timeout": 120,
            "safe_reboot_ready_timeout": ready_timeout, "safe_reboot_lock_wait_timeout": 300, "safe_reboot_lock_wait_sleep": 1,
            "safe_reboot_api_reboot_delay": 1,
            "safe_reboot_api_reboot_command": f"env NODEPATCH_TESTBED_REBOOT_DELAY={delay} systemctl reboot",
            **lock_vars}))
        return path

    def playbook(self, work: Path, case: Case, node: str, lock: dict[str, str], delay: int, token: str,
                 hold: dict[str, Any] | None, log: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(self.collections_root), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_HOST_KEY_CHECKING": "False",
               "ANSIBLE_LOCAL_TEMP": str(work / "ansible-local"), "PWD": str(work),
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "NODEPATCH_TEST_RUN": token,
               "PYTHONUNBUFFERED": "1"}
        if hold is not None:
            env.update(ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"), ANSIBLE_CALLBACKS_ENABLED="hold_at",
                       NODEPATCH_HOLD_AT=json.dumps(hold))
        with log.open("w") as out:
            return subprocess.Popen(  # noqa: S603 - our own venv's ansible-playbook
                [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.inventory(work)),
                 str(REPO / "playbooks" / "patch_and_reboot.yml"),
                 "-e", f"@{self.extra_vars(work, node, lock, delay, case.ready_timeout)}"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work, start_new_session=True)

    def run(self, case: Case, signum: int, node: str, index: int) -> Outcome:
        bed = self.bed
        started = time.monotonic()
        lock = ({"backend": "daemonset", "annotation": f"nodepatch.test/interrupt-{index:02d}"} if index % 2 == 0
                else {"backend": "lease", "lease_name": f"np-interrupt-{index:02d}"})
        outcome = Outcome(case, signum, node, lock)
        work = self.work / f"case-{index:02d}"
        work.mkdir(parents=True)
        namespace = None
        try:
            reset_node(bed, node)
            clear_lock(bed, lock)
            if case.admin_cordon:
                bed.core_v1().patch_node(node, {"spec": {"unschedulable": True}})
            if case.watch == "evicting":
                namespace = deploy_drain_load(bed, node)
                outcome.at_start = {"free": {pod.metadata.uid for pod in pods_by_app(bed, namespace, "free")},
                                    "kept": [pod.metadata.uid for pod in pods_by_app(bed, namespace, "kept")]}
            if case.watch == "lock-wait":
                take_lock(bed, lock, "kured-elsewhere")
            bed.sentinel(node)
            outcome.boot_before = bed.boot_id(node)
            reboots_before = reboot_count(bed, node)
            self.interrupt(case, signum, node, lock, work, outcome, namespace)
            # The re-run comes once the node is back, as an operator's would (or at once: rerun_at_once); what the
            # kill left is repaired first only where a person would have to: the other holder leaves, the budget
            # that kept the pod goes.
            if not case.rerun_at_once:
                bed.wait_until(lambda: bed.node_ready(node), 60, f"{node} Ready before the re-run")
            if case.watch == "lock-wait":
                clear_lock(bed, lock)
            if namespace:
                bed.policy_v1().delete_namespaced_pod_disruption_budget("kept", namespace)
            token = uuid.uuid4().hex
            waited = work / "rerun-waits.json"
            hold = ({"task": WAIT_TASK, "event": "runner_start", "hold": False, "file": str(waited)}
                    if case.rerun_at_once else None)
            rerun = self.playbook(work, case, node, lock, REBOOT_DELAY, token, hold, work / "rerun.log")
            if case.rerun_at_once:
                bed.wait_until(lambda: waited.exists() or rerun.poll() is not None, 600, "the re-run waiting")
                outcome.at_rerun = {"waits": waited.exists(), "ready": bed.node_ready(node),
                                    "boot_id": bed.boot_id(node)}
                bed.reboot(node, delay=0.5)  # back now: supersedes the first run's long reboot
            outcome.rerun_rc = rerun.wait(timeout=900)
            outcome.rerun_log = (work / "rerun.log").read_text()
            outcome.boot_after = bed.boot_id(node)
            outcome.reboots = reboot_count(bed, node) - reboots_before
            outcome.node_after = bed.node(node)
            outcome.holders_after = lock_holders(bed, lock)
            deadline = time.monotonic() + 30
            while (pods := node_pods(bed, node)) and time.monotonic() < deadline:
                time.sleep(0.5)
            outcome.pods_after = pods
            kill_all(token)
            report = json.loads((work / "nodepatch-reports" / "rollout.json").read_text())
            outcome.row = next((row for row in report["nodes"] if row["node"] == node), {})
            outcome.html = (work / "nodepatch-reports" / "rollout.html").read_text()
        except BaseException as error:  # noqa: BLE001 - reported by the case's test
            outcome.error = f"{type(error).__name__}: {error}"
        finally:
            if namespace:
                bed.delete_namespace(namespace)
            try:
                clear_lock(bed, lock)
                if case.rerun_at_once and not bed.node_ready(node):
                    bed.reboot(node, delay=0.1, wait=True)  # the first run's reboot would keep it down for long
                reset_node(bed, node)
            except BaseException as error:  # noqa: BLE001
                outcome.error = outcome.error or f"cleanup: {error}"
            outcome.seconds = time.monotonic() - started
        return outcome

    def interrupt(self, case: Case, signum: int, node: str, lock: dict[str, str], work: Path, outcome: Outcome,
                  namespace: str | None) -> None:
        bed = self.bed
        token = uuid.uuid4().hex
        signal_file = work / "reached.json"
        hold = {"task": case.task, "event": case.event, "hold": case.event == "task_start", "file": str(signal_file)}
        delay = case.reboot_delay or (WAIT_REBOOT_DELAY if case.watch == "down" else REBOOT_DELAY)
        first = self.playbook(work, case, node, lock, delay, token, hold, work / "first.log")
        try:
            def reached() -> bool:
                if first.poll() is not None:
                    pytest.fail(f"the first run ended (rc {first.returncode}) before {case.task!r}:\n"
                                + (work / "first.log").read_text()[-3000:])
                return signal_file.exists() and self.watched(case, node, lock, namespace, outcome)
            bed.wait_until(reached, 600, f"the first run at {case.name}", interval=0.05)
            outcome.held = json.loads(signal_file.read_text())
            if case.watch == "down":
                outcome.at_kill["boot_id"] = bed.boot_id(node)
            if signum == signal.SIGKILL:
                os.killpg(first.pid, signal.SIGKILL)
            else:
                first.send_signal(signal.SIGTERM)  # AWX's cancel: the signal goes to ansible-playbook
            try:
                first.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            outcome.survivors = kill_all(token)  # the job's container is gone: nothing of the run survives it
            first.wait(timeout=10)
            outcome.at_kill["holders"] = lock_holders(bed, lock)
            outcome.at_kill["unschedulable"] = bool(bed.node(node).spec.unschedulable)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
            kill_all(token)
            outcome.first_log = (work / "first.log").read_text()

    def watched(self, case: Case, node: str, lock: dict[str, str], namespace: str | None, outcome: Outcome) -> bool:
        bed = self.bed
        if case.watch == "cordoned":
            return bool(bed.node(node).spec.unschedulable)
        if case.watch == "evicting":
            assert namespace is not None
            # A free pod the drain found is gone and the kept one is still there: the drain is retrying the
            # eviction its budget refuses.
            now = {pod.metadata.uid for pod in pods_by_app(bed, namespace, "free")}
            return (bool(bed.node(node).spec.unschedulable) and bool(outcome.at_start["free"] - now)
                    and [pod.metadata.uid for pod in pods_by_app(bed, namespace, "kept")] == outcome.at_start["kept"])
        if case.watch == "down":
            return not bed.node_ready(node)
        if case.watch == "lock-wait":
            return lock_holders(bed, lock) == ["kured-elsewhere"]
        return True


@pytest.fixture(scope="module")
def outcomes(testbed: Testbed, collections_root: Path, tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> Iterator[dict[str, Outcome]]:
    """Runs, in parallel on the test bed's nodes, the cases of the tests this session selected."""
    testbed.require_simulated("the interruption cases reboot nodes")
    runs = Runs(testbed, collections_root, tmp_path_factory.mktemp("interruptions"))
    selected = {(item.callspec.params["case"], item.callspec.params["signum"]) for item in request.session.items
                if getattr(item, "originalname", "") == "test_an_interrupted_rollout_is_finished_by_the_rerun_and_reported_truly"}
    nodes = testbed.nodes
    free = list(nodes)
    results: dict[str, Outcome] = {}
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        pending: dict[concurrent.futures.Future[Outcome], str] = {}
        queue = [(index, pair) for index, pair in enumerate(CASES) if pair in selected]
        while queue or pending:
            while queue and free:
                index, (case, signum) = queue.pop(0)
                node = free.pop(0)
                pending[pool.submit(runs.run, case, signum, node, index)] = node
            done = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED).done
            for future in done:
                free.append(pending.pop(future))
                outcome = future.result()
                results[case_id(outcome.case, outcome.signum)] = outcome
    print(f"\n{len(results)} interruption cases on {len(nodes)} nodes in {time.monotonic() - started:.0f} s")
    for name, outcome in results.items():
        print(f"  {name:55s} {outcome.seconds:5.1f} s  phase {outcome.held.get('phase')!s:10s} "
              f"survivors {outcome.survivors}  re-run rc {outcome.rerun_rc}")
    yield results


# The first case's setup runs them all (the module fixture), five at a time: longer than the suite's 900 s a test.
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("case, signum", CASES, ids=[case_id(case, signum) for case, signum in CASES])
def test_an_interrupted_rollout_is_finished_by_the_rerun_and_reported_truly(
        outcomes: dict[str, Outcome], case: Case, signum: int) -> None:
    assert_finished_truly(outcomes[case_id(case, signum)])


def assert_finished_truly(outcome: Outcome) -> None:
    """The re-run finished the job: one reboot, node and lock as they should be, its report row true."""
    case = outcome.case
    context = (f"\n--- first run ---\n{outcome.first_log[-2500:]}\n--- re-run ---\n{outcome.rerun_log[-4000:]}")
    assert not outcome.error, outcome.error + context
    assert outcome.held.get("phase") == case.phase, f"killed in phase {outcome.held}, not {case.phase}"
    if case.watch == "down":
        assert outcome.at_kill["boot_id"] == outcome.boot_before, "the node was back before the kill"
    if case.watch == "lock-wait":
        assert outcome.at_kill["holders"] == ["kured-elsewhere"]
    assert outcome.rerun_rc == 0, context
    assert outcome.reboots == 1, f"{outcome.reboots} reboot commands" + context
    assert outcome.boot_after != outcome.boot_before
    node = outcome.node_after
    assert bool(node.spec.unschedulable) == case.admin_cordon, f"unschedulable={node.spec.unschedulable}"
    marks = {key: value for key, value in (node.metadata.annotations or {}).items()
             if key.startswith(OWN_PREFIX) or key == IN_PROGRESS}
    assert marks == {}, marks
    assert outcome.holders_after == []
    assert outcome.pods_after == [], "node pods left behind"
    row = outcome.row
    assert row["result"] == case.result, row
    assert row["error"] is None
    assert row["was_unschedulable"] is case.admin_cordon, row
    assert row["resumed"] is (case.resumes and case.result == "rebooted"), row
    if case.result == "rebooted":
        assert (row["boot_id_before"], row["boot_id_after"]) == (outcome.boot_before, outcome.boot_after), row
        assert row["needed"] and row["reasons"]
        assert row["timeline"].get("node_ready") and row["timeline"].get("lock_released"), row["timeline"]
    # The HTML timeline says it in so many words (the text table wraps it).
    left_cordoned = "left cordoned: an administrator had cordoned it" in outcome.html
    assert left_cordoned is case.admin_cordon, "the re-run's report says the opposite of what happened"
