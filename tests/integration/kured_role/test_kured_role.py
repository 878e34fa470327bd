# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kured role against the real API server, and what it deploys run by the real kured binary.

Two installs, each in a lock group of its own (DaemonSet `kured-np`, so kured peers' own RBAC, named `kured`, never
meets ours):
- `window`: in a namespace that existed before, beside an unrelated ConfigMap, with a reboot window that is closed
  all test long;
- `pause`: in a namespace the role creates, window open, notify URL to a local receiver, and paused from the start.
kwok runs no containers, so each DaemonSet is proven by running the test bed's kured peer with exactly the args and
KURED_* env the API server holds for it: only the flags the test bed always sets itself (reboot command, sentinel,
node id, metrics address) are left to the peer. Both peers start in the module fixture, since kured's first lock
check comes 30-90 s after its start; the tests that need them come last.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kured_peers import KuredPeers, require_kured

if TYPE_CHECKING:
    from tests.integration.conftest import ModuleRunner, PlaybookRunner, Testbed

APPLY = Path(__file__).with_name("apply.yml")
ROLLOUT = "playbooks/patch_and_reboot.yml"
ANNOTATION = "weave.works/kured-node-lock"
DAEMONSET = "kured-np"
# The flags `testbed kured` sets for every peer (tests/testbed/kured.py OWN_FLAGS): what kured may run and check.
PEER_FLAGS = ("reboot-command", "reboot-method", "reboot-signal", "reboot-sentinel", "reboot-sentinel-command",
              "node-id", "metrics-host", "metrics-port")
DRAIN_MESSAGE = "nodepatch test: draining %s"
KURED_START = 90  # kured's first lock check comes within 90 s of its start


class Receiver:
    """kured's notifications (shoutrrr generic webhook) as they arrive."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"generic+http://127.0.0.1:{self.server.server_address[1]}/hooks/kured"


@dataclass
class Group:
    name: str
    namespace: str
    node: str
    rbac_name: str
    settings: dict[str, Any]
    started: float = 0.0
    outputs: list[str] = field(default_factory=list)

    def extra(self, kubeconfig: str, **more: Any) -> dict[str, Any]:
        return {"kured_kubeconfig": kubeconfig, "kured_namespace": self.namespace, "kured_daemonset": DAEMONSET,
                "kured_rbac_name": self.rbac_name, **self.settings, **more}


@dataclass
class Bed:
    testbed: Testbed
    run_playbook: PlaybookRunner
    run_module: ModuleRunner
    peers: KuredPeers
    receiver: Receiver
    window: Group
    pause: Group

    def apply(self, group: Group, *args: str, **more: Any) -> Any:
        proc = self.run_playbook(APPLY, group.extra(self.testbed.admin_kubeconfig, **more), args=args)
        group.outputs.append(proc.stdout + proc.stderr)
        return proc

    def daemonset(self, group: Group) -> Any:
        return self.testbed.apps_v1().read_namespaced_daemon_set(DAEMONSET, group.namespace)

    def lock(self, group: Group) -> list[str]:
        return self.testbed.lock_holders(group.namespace, DAEMONSET)

    def run_kured_as_deployed(self, group: Group) -> tuple[list[str], dict[str, str]]:
        """Starts the group's peer with the DaemonSet's args and KURED_* env, as its pod would get them."""
        container = self.daemonset(group).spec.template.spec.containers[0]
        args = list(container.command[1:]) + list(container.args or [])
        flags = [arg for arg in args if arg[2:].split("=", 1)[0] not in PEER_FLAGS]
        env = {}
        for item in container.env or []:
            if item.value_from and item.value_from.secret_key_ref:
                ref = item.value_from.secret_key_ref
                secret = self.testbed.core_v1().read_namespaced_secret(ref.name, group.namespace)
                env[item.name] = base64.b64decode(secret.data[ref.key]).decode()
            elif item.value is not None:
                env[item.name] = item.value
        # KURED_NODE_ID comes from spec.nodeName: the peer's --node-id, which is its node.
        self.peers.start(group.node, flags, env=env)
        group.started = time.monotonic()
        return flags, env


def recap(output: str) -> dict[str, int]:
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output)
    assert match, output[-3000:]
    return {"ok": int(match.group(1)), "changed": int(match.group(2)), "failed": int(match.group(3))}


def closed_window() -> tuple[str, str]:
    """A window starting two hours from now and lasting one (UTC): closed for as long as the test runs."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{(now.hour + 2) % 24:02d}:00", f"{(now.hour + 3) % 24:02d}:00"


@pytest.fixture(scope="module")
def bed(testbed: Testbed, make_runners: Any, tmp_path_factory: pytest.TempPathFactory,
        kured_session: KuredPeers) -> Iterator[Bed]:
    peers = require_kured(kured_session, ())
    assert peers is not None
    run_module, run_playbook = make_runners(tmp_path_factory.mktemp("kured-role"))
    uid = uuid.uuid4().hex[:6]
    start, end = closed_window()
    existing = testbed.create_namespace("kured-role-window")
    testbed.core_v1().create_namespaced_config_map(existing, {"metadata": {"name": "not-ours"}, "data": {"a": "b"}})
    receiver = Receiver()
    window = Group("window", existing, testbed.nodes[1], f"kured-np-window-{uid}", {
        "kured_period": "3s", "kured_start_time": start, "kured_end_time": end, "kured_time_zone": "UTC",
        "kured_reboot_days": ["mo", "tu", "we", "th", "fr", "sa", "su"], "kured_annotate_nodes": True})
    pause = Group("pause", f"kured-role-pause-{uid}", testbed.nodes[2], f"kured-np-pause-{uid}", {
        "kured_period": "3s", "kured_drain_timeout": 60, "kured_drain_grace_period": 0, "kured_annotate_nodes": True,
        "kured_notify_url": receiver.url, "kured_message_template_drain": DRAIN_MESSAGE,
        "kured_blocking_pod_selectors": ["nodepatch.test/blocks-kured=yes"], "kured_lock_release_delay": "0s"})
    result = Bed(testbed, run_playbook, run_module, peers, receiver, window, pause)
    nodes = [window.node, pause.node, testbed.nodes[0]]
    try:
        assert recap(result.apply(window).stdout)["failed"] == 0, window.outputs[-1]
        assert recap(result.apply(pause, kured_pause=True).stdout)["failed"] == 0, pause.outputs[-1]
        for group in (window, pause):
            testbed.sentinel(group.node)
            result.run_kured_as_deployed(group)
        yield result
    finally:
        peers.stop(window.node, pause.node)
        receiver.server.shutdown()
        for name in nodes:
            testbed.sentinel(name, on=False)
            testbed.core_v1().patch_node(name, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
                "weave.works/kured-reboot-in-progress": None, "weave.works/kured-most-recent-reboot-needed": None,
                "nodepatch.kube/boot-id-before": None, "nodepatch.kube/reboot-requested": None, "nodepatch.kube/was-unschedulable": None}}})
        testbed.wait_until(lambda: all(testbed.node_ready(name) for name in nodes), 60, f"{nodes} Ready")
        for group in (window, pause):
            testbed.delete_namespace(group.namespace)
            for name in ("delete_cluster_role", "delete_cluster_role_binding"):
                try:
                    getattr(rbac(testbed), name)(group.rbac_name)
                except Exception:  # noqa: BLE001, S110 - absent already (the absent test removed it)
                    pass


def rbac(testbed: Testbed) -> Any:
    from kubernetes import client

    return client.RbacAuthorizationV1Api(testbed.api_client())


def kureds_own_rbac() -> list[dict[str, Any]]:
    """kured-rbac.yaml from the kured build the peers run (tests/testbed/build.sh kured)."""
    import subprocess

    import yaml

    build = subprocess.run([str(Path(__file__).parents[2] / "testbed" / "build.sh"), "kured"], check=True, text=True,
                           capture_output=True).stdout.strip().splitlines()[-1]
    return [doc for doc in yaml.safe_load_all((Path(build) / "kured-rbac.yaml").read_text()) if doc]


# --------------------------------------------------------------------------------------------------- the objects


def test_present_installs_kureds_objects_as_its_manifests_have_them(bed: Bed) -> None:
    testbed, group = bed.testbed, bed.pause
    ds = bed.daemonset(group)
    pod = ds.spec.template.spec
    container = pod.containers[0]
    assert container.image == "ghcr.io/kubereboot/kured:1.23.0"
    assert pod.node_selector == {"kubernetes.io/os": "linux"} and pod.host_pid is True
    assert {(item.key, item.effect) for item in pod.tolerations} == {
        ("node-role.kubernetes.io/control-plane", "NoSchedule"), ("node-role.kubernetes.io/master", "NoSchedule")}
    assert container.security_context.privileged is True
    assert pod.volumes[0].host_path.path == "/var/run" and container.volume_mounts[0].mount_path == "/sentinel"
    assert pod.service_account_name == DAEMONSET
    assert container.args == [
        f"--ds-namespace={group.namespace}", f"--ds-name={DAEMONSET}", "--reboot-sentinel=/sentinel/reboot-required",
        "--period=3s", "--drain-grace-period=0", "--drain-timeout=1m0s",
        "--blocking-pod-selector=nodepatch.test/blocks-kured=yes", "--annotate-nodes=true",
        f"--message-template-drain={DRAIN_MESSAGE}"]
    # kured's own RBAC, bound to our ServiceAccount: the ClusterRole's rules and the Role's as kured-rbac.yaml has them.
    own = {doc["kind"]: doc for doc in kureds_own_rbac()}
    cluster_role = testbed.api_client().sanitize_for_serialization(rbac(testbed).read_cluster_role(group.rbac_name))
    assert cluster_role["rules"] == own["ClusterRole"]["rules"]
    role = testbed.api_client().sanitize_for_serialization(
        rbac(testbed).read_namespaced_role(DAEMONSET, group.namespace))
    assert role["rules"] == [{**own["Role"]["rules"][0], "resourceNames": [DAEMONSET]}]
    binding = rbac(testbed).read_cluster_role_binding(group.rbac_name)
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [("ServiceAccount", DAEMONSET, group.namespace)]
    testbed.core_v1().read_namespaced_service_account(DAEMONSET, group.namespace)
    # The notify URL: in the Secret, given to kured through the env, never in the args nor in ansible's output.
    secret = testbed.core_v1().read_namespaced_secret(f"{DAEMONSET}-notify", group.namespace)
    assert base64.b64decode(secret.data["notify-url"]).decode() == bed.receiver.url
    assert [(e.name, e.value_from.secret_key_ref.name if e.value_from.secret_key_ref else None)
            for e in container.env] == [("KURED_NODE_ID", None), ("KURED_NOTIFY_URL", f"{DAEMONSET}-notify")]
    assert bed.receiver.url not in json.dumps(container.args)
    assert all(bed.receiver.url not in output for output in group.outputs)
    # The pause was taken in the same run, by kured's documented non-node holder.
    assert json.loads(ds.metadata.annotations[ANNOTATION])["nodeID"] == "manual"


def test_a_second_run_changes_nothing(bed: Bed) -> None:
    before = bed.daemonset(bed.pause).metadata.resource_version
    proc = bed.apply(bed.pause, kured_pause=True)
    counts = recap(proc.stdout)
    assert counts["changed"] == 0 and counts["failed"] == 0, proc.stdout[-3000:]
    assert bed.daemonset(bed.pause).metadata.resource_version == before


def test_check_mode_writes_nothing_and_the_diff_shows_the_args_that_would_change(bed: Bed) -> None:
    group = bed.window
    before = bed.daemonset(group).metadata.resource_version
    proc = bed.apply(group, "--check", "--diff", kured_period="10m", kured_drain_timeout="15m")
    assert recap(proc.stdout)["changed"] == 1 and recap(proc.stdout)["failed"] == 0, proc.stdout[-3000:]
    assert re.search(r'^-\s+"--period=3s"', proc.stdout, re.M), proc.stdout[-3000:]
    assert re.search(r'^\+\s+"--period=10m0s"', proc.stdout, re.M), proc.stdout[-3000:]
    assert re.search(r'^\+\s+"--drain-timeout=15m0s"', proc.stdout, re.M), proc.stdout[-3000:]
    assert bed.daemonset(group).metadata.resource_version == before


def test_bad_input_is_refused_before_anything_is_written(bed: Bed) -> None:
    fresh = Group("bad", f"kured-role-bad-{uuid.uuid4().hex[:6]}", "", f"kured-np-bad-{uuid.uuid4().hex[:6]}",
                  {"kured_reboot_days": ["mo", "funday"]})
    proc = bed.apply(fresh)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "kured_reboot_days (kured --reboot-days): 'funday' is not a day" in proc.stdout, proc.stdout[-3000:]
    # The role's module says the same for every setting, naming the role's variable (one run each is enough).
    for setting, value, says in (
            ("start_time", "24:30", "kured_start_time (kured --start-time): '24:30' is out of range"),
            ("lock_ttl", "an hour", "kured_lock_ttl (kured --lock-ttl): 'an hour' is not a duration")):
        result = bed.run_module("kured_deployment", {
            "kubeconfig": bed.testbed.admin_kubeconfig, "namespace": fresh.namespace, "rbac_name": fresh.rbac_name,
            "variable_prefix": "kured_", "settings": {setting: value}})
        assert result.get("failed") and says in result["msg"], result
    assert bed.testbed.kubectl("get", "namespace", fresh.namespace, check=False).returncode != 0
    assert bed.testbed.kubectl("get", "clusterrole", fresh.rbac_name, check=False).returncode != 0


# --------------------------------------------------------------------------------------------------- the real kured


def test_pause_holds_a_live_kured_off_and_our_roll_out_too(bed: Bed) -> None:
    group, testbed = bed.pause, bed.testbed
    boot = testbed.boot_id(group.node)
    offset = 0
    refusals = bed.peers.wait_log(group.node, r'Lock already held: manual"', offset, timeout=KURED_START + 60,
                                  count=2)
    assert refusals and not testbed.node(group.node).spec.unschedulable
    assert testbed.boot_id(group.node) == boot and bed.lock(group) == ["manual"]
    # Our roll-out waits for the same lock, and gives up naming the pause.
    testbed.sentinel(testbed.nodes[0])
    proc = bed.run_playbook(ROLLOUT, {
        "patch_and_reboot_hosts": testbed.nodes[0], "patch_and_reboot_patch": False,
        "safe_reboot_method": "command", "safe_reboot_command": "{{ nodepatch_testbed_reboot_command | split }}",
        "safe_reboot_kubeconfig": testbed.kubeconfig, "safe_reboot_lock_namespace": group.namespace,
        "safe_reboot_lock_daemonset": DAEMONSET, "safe_reboot_lock_wait_timeout": 3, "safe_reboot_lock_wait_sleep": 1,
    }, inventory=testbed.inventory)
    refused = r"Reboot lock not acquired within 3 s: the lock is full \(\d of \d\): held by manual"
    assert proc.returncode != 0 and re.search(refused, proc.stdout), proc.stdout[-3000:]
    assert not testbed.node(testbed.nodes[0]).spec.unschedulable
    # Removing kured now would drop the pause with the lock: refused.
    gone = bed.run_module("kured_deployment", {
        "kubeconfig": testbed.admin_kubeconfig, "state": "absent", "namespace": group.namespace,
        "daemonset": DAEMONSET, "rbac_name": group.rbac_name})
    assert gone.get("failed") and "kured's lock is held by manual" in gone["msg"], gone
    assert bed.daemonset(group).metadata.annotations[ANNOTATION]


def test_resume_lets_the_live_kured_take_the_lock_drain_notify_and_reboot(bed: Bed) -> None:
    group, testbed = bed.pause, bed.testbed
    boot = testbed.boot_id(group.node)
    proc = bed.apply(group, kured_pause=False)
    assert recap(proc.stdout)["failed"] == 0, proc.stdout[-3000:]
    testbed.wait_until(lambda: group.node in bed.lock(group), 30, f"kured on {group.node} to take the lock")
    testbed.wait_until(lambda: testbed.boot_id(group.node) != boot, 90, f"kured to reboot {group.node}")
    # The notify URL reached kured through the Secret and the env, and the message template through its flag.
    testbed.wait_until(lambda: any(DRAIN_MESSAGE % group.node in body for body in bed.receiver.bodies), 10,
                       f"kured's drain notification; got {bed.receiver.bodies}")


def test_patch_and_reboot_pauses_kured_for_its_run_and_resumes_it_after_a_failure(bed: Bed) -> None:
    group, testbed = bed.window, bed.testbed
    node = testbed.nodes[0]
    seen: list[tuple[str, ...]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = tuple(bed.lock(group))
            if not seen or seen[-1] != now:
                seen.append(now)
            stop.wait(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    testbed.sentinel(node)
    try:
        proc = bed.run_playbook(ROLLOUT, {
            "patch_and_reboot_hosts": node, "patch_and_reboot_patch": False, "patch_and_reboot_pause_kured": True,
            "safe_reboot_method": "command", "safe_reboot_command": ["/bin/false"],
            "safe_reboot_kubeconfig": testbed.kubeconfig, "kured_kubeconfig": testbed.kubeconfig,
            "safe_reboot_lock_namespace": group.namespace, "safe_reboot_lock_daemonset": DAEMONSET,
            "safe_reboot_lock_wait_timeout": 10, "safe_reboot_lock_wait_sleep": 1,
        }, inventory=testbed.inventory)
    finally:
        stop.set()
        watcher.join(5)
    assert proc.returncode != 0, proc.stdout[-3000:]
    # Paused first, then our node beside the pause (the pause's place is kured's, not the roll-out's); the reboot
    # failed, so the node keeps its place and cordon, and the pause is given back.
    assert ("patch-and-reboot",) in seen and ("patch-and-reboot", node) in seen, seen
    assert seen[-1] == (node,), seen
    testbed.apps_v1().patch_namespaced_daemon_set(DAEMONSET, group.namespace,
                                                  {"metadata": {"annotations": {ANNOTATION: None}}})


def test_the_deployed_args_run_kured_and_it_keeps_out_of_a_closed_window(bed: Bed) -> None:
    group, testbed = bed.window, bed.testbed
    boot = testbed.boot_id(group.node)
    # By now kured has left its start-up loop and checked its window every 3 s, with its sentinel on.
    remaining = group.started + KURED_START + 15 - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    state = bed.peers.state(group.node)
    log = bed.peers.since(group.node, 0)
    start, end = (group.settings["kured_start_time"], group.settings["kured_end_time"])
    assert state["starts"] == 1 and state["phase"] == "starting", log[-3000:]  # never crashed, never a check
    assert f'Reboot schedule: SunMonTueWedThuFriSat between {start} and {end} UTC"' in log, log[-3000:]
    assert "Reboot required" not in log and "Draining node" not in log, log[-3000:]
    assert testbed.boot_id(group.node) == boot and not testbed.node(group.node).spec.unschedulable


def test_absent_removes_what_present_created_and_nothing_else(bed: Bed) -> None:
    group, testbed = bed.window, bed.testbed
    bed.peers.stop(group.node)
    proc = bed.apply(group, kured_state="absent")
    assert recap(proc.stdout)["failed"] == 0, proc.stdout[-3000:]
    for kind, name in (("daemonset", DAEMONSET), ("serviceaccount", DAEMONSET), ("role", DAEMONSET),
                       ("rolebinding", DAEMONSET)):
        assert testbed.kubectl("-n", group.namespace, "get", kind, name, check=False).returncode != 0, kind
    for kind in ("clusterrole", "clusterrolebinding"):
        assert testbed.kubectl("get", kind, group.rbac_name, check=False).returncode != 0, kind
    # The namespace existed before: it stays, with what others put there (a ConfigMap, the kured peer's own Role).
    testbed.core_v1().read_namespaced_config_map("not-ours", group.namespace)
    assert rbac(testbed).read_namespaced_role("kured", group.namespace)
    again = bed.run_module("kured_deployment", {
        "kubeconfig": testbed.admin_kubeconfig, "state": "absent", "namespace": group.namespace,
        "daemonset": DAEMONSET, "rbac_name": group.rbac_name})
    assert again["changed"] is False and {entry["action"] for entry in again["objects"]} == {"none", "keep"}, again
