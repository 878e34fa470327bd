# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every verb of every rule in deploy/rbac.yml is needed: without it, a named module path fails, naming the verb
and the resource it lacks (kube.forbidden_hint's words), and with the whole file the same path does its job.

The grants are parsed from deploy/rbac.yml, so a new rule or verb is covered by default: one without an entry in
CASES fails `test_every_rule_has_a_case`. For each grant the test builds, with the admin kubeconfig, a
ServiceAccount bound to copies of the file's roles minus that one verb (nothing else differs), waits until the
API server's authorizer answers for the new bindings (SelfSubjectAccessReview, no sleep), and runs the case's path
with that identity's token. The module paths run directly through the module runner; the node connection runs a
one-task playbook, since a connection plugin only runs inside Ansible.

TOLERATED grants are used by the code but their refusal is absorbed on purpose (the path still does its job, with
less: a slower retry, fewer words in an error); the test proves both that the identity lacked it and that the path
still ended as with the whole file.

All cases run at once in threads (their waits are mostly the RBAC-denial retries of KubeClient.call) on one test
bed; the two that need a node pod that never starts run last, with kwok stopped for a few seconds.
"""

from __future__ import annotations

import concurrent.futures
import copy
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from spec_cases import Case as SpecCase
from spec_cases import run_cases

if TYPE_CHECKING:
    from tests.integration.conftest import ModuleRunner, PlaybookRunner, Testbed

REPO = Path(__file__).resolve().parents[3]
RBAC = REPO / "deploy" / "rbac.yml"
ROLE_KINDS = ("ClusterRole", "Role")
SA_NAMESPACE = "nodepatch-system"
CASE_LABEL = "nodepatch.test/rbac-case"
WORKERS = 40  # every job at once: they wait on the API server, on batches of module runs and on retries


# --------------------------------------------------------------------------------------------------- the grants


def rbac_items() -> list[dict[str, Any]]:
    document = yaml.safe_load(RBAC.read_text())
    return list(document["items"]) if document.get("kind") == "List" else [document]


@dataclass(frozen=True)
class Grant:
    """One verb of one rule of one role in deploy/rbac.yml."""

    kind: str
    role: str
    namespace: str
    rule: int
    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verb: str

    @property
    def key(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.role}: {','.join(self.resources)} {self.verb}"

    def refusals(self) -> list[str]:
        """What kube.forbidden_hint says when the API server refuses this verb (any of the rule's resources)."""
        return [f"may not {self.verb} {resource} (API group {group or 'core'})"
                for group in self.groups for resource in self.resources]


def grants() -> list[Grant]:
    found = []
    for item in rbac_items():
        if item["kind"] not in ROLE_KINDS:
            continue
        meta = item["metadata"]
        for index, rule in enumerate(item.get("rules") or []):
            for verb in rule["verbs"]:
                found.append(Grant(item["kind"], meta["name"], meta.get("namespace", ""), index,
                                   tuple(rule.get("apiGroups") or ()), tuple(rule["resources"]), verb))
    return found


def scene_manifest(suffix: str, without: Grant | None) -> tuple[list[dict[str, Any]], str]:
    """deploy/rbac.yml for a ServiceAccount of its own (roles and bindings renamed with ``suffix``), minus the
    verb of ``without``; returns the objects and the ServiceAccount's name."""
    account = f"nodepatch-{suffix}"
    objects = []
    for original in rbac_items():
        item = copy.deepcopy(original)
        kind, meta = item["kind"], item["metadata"]
        if kind == "Namespace":
            continue  # deploy/rbac.yml's own namespace exists already; the copies live in it
        meta.setdefault("labels", {})[CASE_LABEL] = suffix
        if kind == "ServiceAccount":
            meta["name"] = account
        elif kind in ROLE_KINDS:
            rules = []
            for index, rule in enumerate(item.get("rules") or []):
                if (without is not None and (without.kind, without.role, without.namespace, without.rule)
                        == (kind, meta["name"], meta.get("namespace", ""), index)):
                    rule["verbs"] = [verb for verb in rule["verbs"] if verb != without.verb]
                if rule["verbs"]:
                    rules.append(rule)
            item["rules"] = rules
            meta["name"] = f"{meta['name']}-{suffix}"
        elif kind in ("ClusterRoleBinding", "RoleBinding"):
            meta["name"] = f"{meta['name']}-{suffix}"
            item["roleRef"]["name"] = f"{item['roleRef']['name']}-{suffix}"
            item["subjects"] = [{"kind": "ServiceAccount", "name": account, "namespace": SA_NAMESPACE}]
        else:
            pytest.fail(f"deploy/rbac.yml has a {kind}: teach scene_manifest how to copy it")
        objects.append(item)
    return objects, account


# --------------------------------------------------------------------------------------------------- one identity


def access_review(api_client: Any, grant: Grant, verb: str, resource: str) -> bool:
    from kubernetes import client

    name, _slash, sub = resource.partition("/")
    attributes = client.V1ResourceAttributes(verb=verb, group=grant.groups[0] if grant.groups else "",
                                             resource=name, subresource=sub or None,
                                             namespace=grant.namespace or None)
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=attributes))
    answer = client.AuthorizationV1Api(api_client).create_self_subject_access_review(review)
    return bool(answer.status.allowed)


@dataclass
class Identity:
    """A ServiceAccount bound to deploy/rbac.yml (minus one verb) and a kubeconfig with its token."""

    testbed: Testbed
    suffix: str
    without: Grant | None
    kubeconfig: str = ""

    def create(self, workdir: Path) -> None:
        from kubernetes import client, config

        objects, account = scene_manifest(self.suffix, self.without)
        admin = self.testbed.api_client()
        core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
        creators = {"ServiceAccount": lambda body: core.create_namespaced_service_account(SA_NAMESPACE, body),
                    "ClusterRole": rbac.create_cluster_role, "ClusterRoleBinding": rbac.create_cluster_role_binding,
                    "Role": lambda body: rbac.create_namespaced_role(body["metadata"]["namespace"], body),
                    "RoleBinding": lambda body: rbac.create_namespaced_role_binding(body["metadata"]["namespace"],
                                                                                    body)}
        for item in objects:
            creators[item["kind"]](item)
        token = core.create_namespaced_service_account_token(account, SA_NAMESPACE, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 7200}}).status.token
        kubeconfig = yaml.safe_load(Path(self.testbed.kubeconfig).read_text())
        for user in kubeconfig["users"]:
            user["user"] = {"token": token}
        path = workdir / f"kubeconfig-{self.suffix}.yaml"
        path.write_text(yaml.safe_dump(kubeconfig))
        path.chmod(0o600)
        self.kubeconfig = str(path)
        api_client = config.new_client_from_config(config_file=self.kubeconfig)
        try:
            # The authorizer's cache has the new bindings once every role answers for a verb it keeps.
            for kept in self._one_kept_verb_per_role():
                self.testbed.wait_until(lambda kept=kept: access_review(api_client, kept, kept.verb, kept.resources[0]),
                                        30, f"the authorizer to allow {kept.key} to {account}")
            if self.without is not None:
                for resource in self.without.resources:
                    assert not access_review(api_client, self.without, self.without.verb, resource), (
                        f"without {self.without.key}, another rule of deploy/rbac.yml still grants it: the case "
                        "cannot show that this rule is needed")
        finally:
            api_client.close()

    def _one_kept_verb_per_role(self) -> list[Grant]:
        kept: dict[tuple[str, str], Grant] = {}
        for grant in grants():
            if grant != self.without:
                kept.setdefault((grant.kind, grant.role), grant)
        return list(kept.values())


# --------------------------------------------------------------------------------------------------- module runs


class ModuleBatches:
    """run_module for many threads at once: the calls made meanwhile run together in one module_forks.py process
    (one Python start-up importing ansible and the client, then a fork per call), so thirty module runs cost one
    start-up, not thirty (about 3 s of CPU each on the test machine). A batch starts once no call has come for
    QUIET seconds."""

    QUIET = 1.0

    def __init__(self, collections_root: Path, workdir: Path) -> None:
        self.collections_root = collections_root
        self.workdir = workdir
        self.changed = threading.Condition()
        self.pending: list[tuple[str, dict[str, Any], dict[str, Any], threading.Event]] = []
        self.last_call = 0.0
        self.batches = 0
        self.closed = False
        self.thread = threading.Thread(target=self._serve, name="module-batches", daemon=True)
        self.thread.start()

    def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        done = threading.Event()
        with self.changed:
            self.pending.append((name, args, answer, done))
            self.last_call = time.monotonic()
            self.changed.notify_all()
        done.wait()
        return dict(answer["result"])

    def now(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """One call at once, in a module_forks.py process of its own: for a path whose timing matters, which
        must not wait behind a batch of slow calls."""
        workdir = self.workdir / f"now-{uuid.uuid4().hex[:8]}"
        workdir.mkdir()
        case = SpecCase(module=name, what="rbac", options=(), args=args, key="call-0")
        return dict(run_cases([case], self.collections_root, workdir)["call-0"])

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self.thread.join(timeout=30)

    def _serve(self) -> None:
        while True:
            with self.changed:
                while not self.closed and (not self.pending or time.monotonic() - self.last_call < self.QUIET):
                    self.changed.wait(timeout=0.2)
                if not self.pending:
                    return
                batch, self.pending = self.pending, []
            self.batches += 1
            workdir = self.workdir / f"batch-{self.batches}"
            workdir.mkdir()
            cases = [SpecCase(module=name, what="rbac", options=(), args=args, slow=True, key=f"call-{index}")
                     for index, (name, args, _answer, _done) in enumerate(batch)]
            try:
                results = run_cases(cases, self.collections_root, workdir)
            except BaseException as error:  # noqa: BLE001 - every waiting thread gets the reason
                results = {case.key: {"failed": True, "msg": f"module_forks.py: {error}"} for case in cases}
            for case, (_name, _args, answer, done) in zip(cases, batch):
                answer["result"] = results[case.key]
                done.set()


# --------------------------------------------------------------------------------------------------- the scene


@dataclass
class Scene:
    """What a path needs beyond an identity: the test bed (admin), a namespace for its objects, runners."""

    testbed: Testbed
    namespace: str
    run_module: ModuleBatches
    run_playbook: PlaybookRunner
    workdir: Path
    nodes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    reboot_turns: threading.Lock = field(default_factory=threading.Lock)

    def new_node(self) -> str:
        """A Node object of its own (kwok runs it: Ready, its pods Running), so cases cordon and drain in
        parallel without touching the test bed's nodes."""
        name = f"np-rbac-{uuid.uuid4().hex[:8]}"
        self.testbed.core_v1().create_node({"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": name, "labels": {CASE_LABEL: "node", "kubernetes.io/hostname": name}}})
        with self.lock:
            self.nodes.append(name)
        return name

    def pod_on(self, node: str, labels: dict[str, str] | None = None, running: bool = False) -> str:
        name = f"p-{uuid.uuid4().hex[:8]}"
        core = self.testbed.core_v1()
        core.create_namespaced_pod(self.namespace, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}})
        if running:
            self.testbed.wait_until(
                lambda: core.read_namespaced_pod(name, self.namespace).status.phase == "Running", 30,
                f"pod {self.namespace}/{name} Running")
        return name


PathFn = Callable[[Scene, str], "str | None"]


def failure(result: dict[str, Any]) -> str | None:
    return str(result.get("msg", result)) if result.get("failed") else None


def cordon(scene: Scene, kubeconfig: str) -> str | None:
    return failure(scene.run_module("node_drain", {"kubeconfig": kubeconfig, "name": scene.new_node(),
                                                   "state": "cordoned"}))


def node_facts(scene: Scene, kubeconfig: str) -> str | None:
    return failure(scene.run_module("node_info", {"kubeconfig": kubeconfig, "names": [scene.new_node()],
                                                  "lock_backend": "none"}))


def wait_for_reboot(scene: Scene, kubeconfig: str) -> str | None:
    """node_info waiting for a node back with a new boot id: one list, then a watch while it reboots. The runs of
    this path take turns, each with a reboot of its own, and run at once rather than in the next batch (which may
    wait behind slow calls), so every one finds the node down when it lists it (one that found it back already
    would never watch)."""
    node = scene.testbed.nodes[-1]  # the node pod cases use the first one
    with scene.reboot_turns:
        scene.testbed.wait_until(lambda: scene.testbed.node_ready(node), 60, f"node {node} back")
        before = scene.testbed.boot_id(node)
        scene.testbed.reboot(node, delay=30)
        return failure(scene.run_module.now("node_info", {
            "kubeconfig": kubeconfig, "names": [node], "wait_ready": True,
            "changed_boot_id_from": {node: before}, "wait_timeout": 90, "lock_backend": "none"}))


def drain(scene: Scene, kubeconfig: str, **options: Any) -> str | None:
    node = scene.new_node()
    scene.pod_on(node)
    return failure(scene.run_module("node_drain", {"kubeconfig": kubeconfig, "name": node, "state": "drained",
                                                   "force": True, "grace_period": 0, "timeout": 60, **options}))


def drain_by_eviction(scene: Scene, kubeconfig: str) -> str | None:
    return drain(scene, kubeconfig)


def drain_by_deletion(scene: Scene, kubeconfig: str) -> str | None:
    return drain(scene, kubeconfig, disable_eviction=True)


def drain_blocked_by_a_budget(scene: Scene, kubeconfig: str) -> str | None:
    """A drain a PodDisruptionBudget refuses until its timeout: the error names the budget."""
    node = scene.new_node()
    app = uuid.uuid4().hex[:8]
    scene.testbed.policy_v1().create_namespaced_pod_disruption_budget(scene.namespace, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": f"pdb-{app}"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": app}}}})
    scene.pod_on(node, {"app": app}, running=True)  # a Pending pod is evicted whatever its budget says
    result = scene.run_module("node_drain", {"kubeconfig": kubeconfig, "name": node, "state": "drained",
                                             "force": True, "grace_period": 0, "timeout": 4,
                                             "eviction_retry_delay": 1})
    message = str(result.get("msg", ""))
    if result.get("failed") and f"PodDisruptionBudget {scene.namespace}/pdb-{app}" in message:
        return None
    return message or f"the drain was not refused by pdb-{app}: {result}"


def daemonset_lock(scene: Scene, kubeconfig: str) -> str | None:
    name = f"lock-{uuid.uuid4().hex[:8]}"
    scene.testbed.apps_v1().create_namespaced_daemon_set(scene.namespace, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            # On no node: the DaemonSet only carries the lock.
            "spec": {"nodeSelector": {"nodepatch.test/no-such-node": "true"},
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}})
    return failure(scene.run_module("node_lock", {"kubeconfig": kubeconfig, "namespace": scene.namespace,
                                                  "daemonset": name, "holder": "np-rbac-holder",
                                                  "state": "acquired"}))


def lease_lock(scene: Scene, kubeconfig: str) -> str | None:
    """Acquire (a new Lease) and release (the Lease written back empty)."""
    args = {"kubeconfig": kubeconfig, "backend": "lease", "namespace": scene.namespace,
            "lease_name": f"lock-{uuid.uuid4().hex[:8]}", "holder": "np-rbac-holder"}
    return (failure(scene.run_module("node_lock", {**args, "state": "acquired"}))
            or failure(scene.run_module("node_lock", {**args, "state": "released"})))


def node_inventory(scene: Scene, kubeconfig: str, **host_vars: Any) -> Path:
    node = scene.testbed.nodes[0]
    path = scene.workdir / f"inventory-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": {node: {
        "ansible_connection": "nodepatch.kube.node", "nodepatch_node_name": node,
        "nodepatch_kube_kubeconfig": kubeconfig, "ansible_python_interpreter": sys.executable, **host_vars}}}}))
    return path


def node_playbook(scene: Scene) -> Path:
    path = scene.workdir / "raw-true.yml"
    with scene.lock:
        if not path.exists():
            path.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "tasks": [
                {"name": "One command on the node's host", "ansible.builtin.raw": "true"}]}]))
    return path


def node_pod_command(scene: Scene, kubeconfig: str) -> str | None:
    """The nodepatch.kube.node connection: find leftovers, create the node pod, watch it start, exec, delete."""
    proc = scene.run_playbook(node_playbook(scene), inventory=node_inventory(scene, kubeconfig))
    return None if proc.returncode == 0 else proc.stdout[-3000:] + proc.stderr[-1000:]


def node_pod_that_never_starts(scene: Scene, kubeconfig: str) -> str | None:
    """A node pod that does not run within its start timeout (kwok stopped): the error says why, from the pod
    (read after the watch) and its events."""
    inventory = node_inventory(scene, kubeconfig, nodepatch_pod_start_timeout=3)
    proc = scene.run_playbook(node_playbook(scene), inventory=inventory)
    if proc.returncode != 0 and "did not run on node" in proc.stdout and "may not" not in proc.stdout:
        return None
    return proc.stdout[-3000:] + proc.stderr[-1000:]


@dataclass(frozen=True)
class Case:
    path: PathFn
    tolerated: str = ""  # why the path still does its job without the verb (used, not required)
    refused: str = ""  # the path's words for the refusal, where kube.forbidden_hint has nothing to name


# Every (role, rule, verb) of deploy/rbac.yml -> the path that needs it. Keys are Grant.key.
CASES: dict[str, Case] = {
    "ClusterRole nodepatch: nodes get": Case(cordon),
    "ClusterRole nodepatch: nodes list": Case(node_facts),
    "ClusterRole nodepatch: nodes watch": Case(wait_for_reboot),
    "ClusterRole nodepatch: nodes patch": Case(cordon),
    "ClusterRole nodepatch: pods list": Case(drain_by_eviction),
    "ClusterRole nodepatch: pods watch": Case(node_pod_command),
    "ClusterRole nodepatch: pods delete": Case(drain_by_deletion),
    "ClusterRole nodepatch: pods/eviction create": Case(drain_by_eviction),
    "ClusterRole nodepatch: poddisruptionbudgets list": Case(drain_blocked_by_a_budget),
    "ClusterRole nodepatch: poddisruptionbudgets watch": Case(
        drain_blocked_by_a_budget, tolerated="a refused eviction is then asked again every eviction_retry_delay "
                                             "instead of as soon as a budget allows a disruption"),
    "ClusterRole nodepatch: daemonsets get": Case(daemonset_lock),
    "ClusterRole nodepatch: daemonsets patch": Case(daemonset_lock),
    "ClusterRole nodepatch: leases list": Case(lease_lock),
    "ClusterRole nodepatch: leases create": Case(lease_lock),
    "ClusterRole nodepatch: leases patch": Case(lease_lock),
    "Role nodepatch-system/nodepatch-node-access: pods create": Case(node_pod_command),
    "Role nodepatch-system/nodepatch-node-access: pods get": Case(node_pod_that_never_starts),
    # The API server refuses the websocket upgrade's create check with an empty reason ('pods "x" is forbidden: '):
    # node_pod.exec_error names the permission itself.
    "Role nodepatch-system/nodepatch-node-access: pods/exec create": Case(node_pod_command),
    "Role nodepatch-system/nodepatch-node-access: pods/exec get": Case(node_pod_command),
    "Role nodepatch-system/nodepatch-node-access: events list": Case(
        node_pod_that_never_starts, tolerated="the error on a node pod that does not start then lacks the "
                                              "events' words"),
}

# Paths that need a node pod which never runs: with kwok (every node's kubelet) stopped, after the others.
WITHOUT_KWOK = frozenset({node_pod_that_never_starts})


# --------------------------------------------------------------------------------------------------- running


@dataclass
class Outcome:
    grant: Grant | None
    path: PathFn
    problem: str | None = None  # what the path said (None: it did its job)
    error: str | None = None  # the scene could not be built
    seconds: float = 0.0


def run_one(scene: Scene, grant: Grant | None, path: PathFn) -> Outcome:
    outcome = Outcome(grant, path)
    started = time.monotonic()
    identity = Identity(scene.testbed, uuid.uuid4().hex[:8], grant)
    try:
        identity.create(scene.workdir)
    except (AssertionError, ApiException, pytest.fail.Exception) as error:
        outcome.error = str(error)
        return outcome
    outcome.problem = path(scene, identity.kubeconfig)
    outcome.seconds = time.monotonic() - started
    return outcome


def run_all(scene: Scene, jobs: list[tuple[Grant | None, PathFn]]) -> list[Outcome]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda job: run_one(scene, *job), jobs))


@pytest.fixture(scope="module")
def outcomes(testbed: Testbed, collections_root: Path,
             make_runners: Callable[[Path], tuple[ModuleRunner, PlaybookRunner]]) -> Iterator[dict[str, Outcome]]:
    """Every case once without its verb, and every path once with the whole file; keyed by Grant.key, and
    'full: <path>' for the whole file."""
    testbed.require_simulated("the cases create nodes and pods, reboot a node and stop kwok for a moment")
    known = [grant for grant in grants() if grant.key in CASES]
    paths = list(dict.fromkeys(CASES[grant.key].path for grant in known))
    namespace = testbed.create_namespace("np-rbac")
    with tempfile.TemporaryDirectory(prefix="np-rbac-") as tmp:
        workdir = Path(tmp)
        _run_module, run_playbook = make_runners(workdir)
        batches = ModuleBatches(collections_root, workdir)
        scene = Scene(testbed, namespace, batches, run_playbook, workdir)
        jobs: list[tuple[Grant | None, PathFn]] = [(None, path) for path in paths]
        jobs += [(grant, CASES[grant.key].path) for grant in known]
        try:
            done = run_all(scene, [job for job in jobs if job[1] not in WITHOUT_KWOK])
            rebooted = testbed.nodes[-1]
            testbed.wait_until(lambda: testbed.node_ready(rebooted), 60, f"node {rebooted} back")
            testbed._cli("stop", "kwok")  # noqa: SLF001 - the test bed's own command
            try:
                done += run_all(scene, [job for job in jobs if job[1] in WITHOUT_KWOK])
            finally:
                testbed._cli("start", "kwok")  # noqa: SLF001
            for outcome in done:
                sys.stderr.write(f"{outcome.seconds:6.1f} s  {outcome.grant.key if outcome.grant else 'full'}: "
                                 f"{outcome.path.__name__}: {(outcome.error or outcome.problem or 'ok')[-300:]!r}\n")
            yield {(outcome.grant.key if outcome.grant else f"full: {outcome.path.__name__}"): outcome
                   for outcome in done}
        finally:
            batches.close()
            cleanup(testbed, namespace, scene.nodes)


def cleanup(testbed: Testbed, namespace: str, nodes: list[str]) -> None:
    testbed.kubectl("delete", "clusterrole,clusterrolebinding", "-l", CASE_LABEL, "--wait=false", check=False)
    testbed.kubectl("-n", SA_NAMESPACE, "delete", "role,rolebinding,serviceaccount", "-l", CASE_LABEL,
                    "--wait=false", check=False)
    testbed.delete_namespace(namespace)
    testbed.delete_nodes(nodes)
    # Node pods the refused runs could not delete themselves (their reaper has the same identity).
    testbed.kubectl("-n", SA_NAMESPACE, "delete", "pods", "-l", "app.kubernetes.io/managed-by=nodepatch.kube",
                    "--grace-period=0", "--wait=false", check=False)


# --------------------------------------------------------------------------------------------------- the tests


def test_every_rule_has_a_case() -> None:
    keys = {grant.key for grant in grants()}
    missing = sorted(keys - set(CASES))
    assert not missing, f"grants of deploy/rbac.yml with no case in CASES (the path that needs each): {missing}"
    stale = sorted(set(CASES) - keys)
    assert not stale, f"CASES names grants deploy/rbac.yml no longer has: {stale}"


@pytest.mark.parametrize("path", sorted({case.path for case in CASES.values()}, key=lambda path: path.__name__),
                         ids=lambda path: path.__name__)
def test_with_the_whole_file_the_path_does_its_job(outcomes: dict[str, Outcome], path: PathFn) -> None:
    outcome = outcomes[f"full: {path.__name__}"]
    assert outcome.error is None, outcome.error
    assert outcome.problem is None, f"{path.__name__} failed with the whole of deploy/rbac.yml:\n{outcome.problem}"


@pytest.mark.parametrize("grant", grants(), ids=lambda grant: grant.key)
def test_without_the_verb_the_path_fails_naming_it(outcomes: dict[str, Outcome], grant: Grant) -> None:
    case = CASES.get(grant.key)
    if case is None:
        pytest.fail(f"no case for {grant.key} (test_every_rule_has_a_case)")
    outcome = outcomes[grant.key]
    assert outcome.error is None, outcome.error
    if case.tolerated:
        assert outcome.problem is None, (
            f"without {grant.key}, {case.path.__name__} was expected to end as with the whole file "
            f"({case.tolerated}), but said:\n{outcome.problem}")
        return
    assert outcome.problem is not None, (
        f"{case.path.__name__} did its job without {grant.key}: the verb is not needed there (remove it from "
        "deploy/rbac.yml, or name the path that needs it)")
    expected = [case.refused] if case.refused else grant.refusals()
    assert any(words in outcome.problem for words in expected), (
        f"without {grant.key}, {case.path.__name__} failed without naming it ({' or '.join(expected)}):\n"
        f"{outcome.problem}")
