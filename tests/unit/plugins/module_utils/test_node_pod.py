# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node pod's pure parts: its spec, the command wrapper and its exit-status marker, which pods are leftovers,
why a pod did not start, and how a refused exec is worded."""

from __future__ import annotations

import datetime
import os
import subprocess
import typing as t
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils import node_pod
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import ApiException
from ansible_collections.nodepatch.kube.plugins.module_utils.node_pod import (
    Controller,
    PodSettings,
    exec_argv,
    exec_error,
    label_value,
    leftover_reason,
    pod_manifest,
    refused_before_start,
    reusable,
    split_marker,
    start_failure,
    status_exit_code,
)

NOW = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
HERE = Controller("controller-1", 4242, "987654")
NODE = "aks-nodepool1-31415926-vmss000000"


def pod(run: str = "other", phase: str = "Running", age: float = 60, deadline: int = 7200,
        controller: Controller | None = None, deleting: bool = False) -> NS:
    annotations = {node_pod.CONTROLLER_ANNOTATION: controller.to_json()} if controller else {}
    return NS(metadata=NS(name=f"nodepatch-{run}", labels={node_pod.RUN_LABEL: run}, annotations=annotations,
                          creation_timestamp=NOW - datetime.timedelta(seconds=age),
                          deletion_timestamp=NOW if deleting else None),
              spec=NS(active_deadline_seconds=deadline), status=NS(phase=phase))


# ------------------------------------------------------------------------------------------------- the pod


def test_the_pod_is_pinned_privileged_host_pid_tolerant_and_ours() -> None:
    settings = PodSettings(node=NODE, image="mcr.microsoft.com/cbl-mariner/busybox:2.0",
                           image_pull_secrets=("acr",), deadline=600)
    manifest = pod_manifest(settings, HERE)
    spec = manifest["spec"]
    assert spec["nodeName"] == NODE and spec["hostPID"] is True
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] == 600
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["automountServiceAccountToken"] is False
    assert spec["imagePullSecrets"] == [{"name": "acr"}]
    container = spec["containers"][0]
    assert container["securityContext"] == {"privileged": True}
    assert container["image"] == "mcr.microsoft.com/cbl-mariner/busybox:2.0"
    assert container["command"] == ["sleep", "600"]
    assert "limits" not in container["resources"]  # nsenter'd package managers stay in the pod's cgroup
    labels = manifest["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/managed-by": "nodepatch.kube", "nodepatch.kube/node": NODE,
                      "nodepatch.kube/run": HERE.run_id}
    assert manifest["metadata"]["namespace"] == "nodepatch-system"
    assert manifest["metadata"]["generateName"].startswith("nodepatch-aks-nodepool1-")
    assert Controller.from_json(manifest["metadata"]["annotations"][node_pod.CONTROLLER_ANNOTATION]) == HERE


def test_a_long_node_name_becomes_a_valid_label_value() -> None:
    long_name = "node-" + "x" * 80 + ".example.com"
    value = label_value(long_name)
    assert len(value) <= 63 and node_pod.LABEL_VALUE.match(value)
    assert label_value(long_name) == value and label_value(NODE) == NODE


@pytest.mark.parametrize(("settings", "wording"), [
    (PodSettings(node=""), "node name is empty"),
    (PodSettings(node="n", deadline=10), "pod_deadline is 10 s"),
    (PodSettings(node="n", start_timeout=0), "pod_start_timeout is 0 s"),
])
def test_settings_that_cannot_work_are_refused_with_the_option_named(settings: PodSettings, wording: str) -> None:
    with pytest.raises(NodepatchError, match=wording):
        settings.validate()


def test_the_run_id_names_one_controller_process() -> None:
    assert HERE.run_id == Controller("controller-1", 4242, "987654").run_id
    assert HERE.run_id != Controller("controller-1", 4242, "987655").run_id  # same pid, another process
    assert len(HERE.run_id) == 16 and node_pod.LABEL_VALUE.match(HERE.run_id)
    assert Controller.from_json("not json") is None and Controller.from_json(None) is None


def test_this_process_is_alive_and_a_made_up_start_time_is_not() -> None:
    me = node_pod.current_controller()
    assert node_pod.controller_alive(me)
    assert not node_pod.controller_alive(Controller(me.host, me.pid, "1"))


# ------------------------------------------------------------------------------------------------- the marker


def test_the_marker_gives_the_status_and_is_removed_from_stderr() -> None:
    marker = "NODEPATCH_RC_abc="
    assert split_marker(b"warning\n\nNODEPATCH_RC_abc=3\n", marker) == (3, b"warning\n")
    assert split_marker(b"\nNODEPATCH_RC_abc=0\n", marker) == (0, b"")
    # Output a background process wrote after the marker stays.
    assert split_marker(b"a\nNODEPATCH_RC_abc=1\nlate\n", marker) == (1, b"alate\n")


def test_no_marker_means_no_status() -> None:
    assert split_marker(b"Killed\n", "NODEPATCH_RC_abc=") == (None, b"Killed\n")
    assert split_marker(b"\nNODEPATCH_RC_abc=\n", "NODEPATCH_RC_abc=") == (None, b"\nNODEPATCH_RC_abc=\n")


def test_the_error_channel_is_read_when_it_kept_the_exit_code() -> None:
    assert status_exit_code(b'{"metadata":{},"status":"Success"}') == 0
    failure = (b'{"status":"Failure","reason":"NonZeroExitCode",'
               b'"details":{"causes":[{"reason":"ExitCode","message":"42"}]}}')
    assert status_exit_code(failure) == 42
    assert status_exit_code(b"") is None and status_exit_code(b"garbage") is None


@pytest.fixture
def fake_nsenter(tmp_path: Path) -> dict[str, str]:
    """A PATH whose nsenter drops its options and runs the command here, as the test bed's shim does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "nsenter"
    shim.write_text('#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n')
    shim.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def run_wrapped(command: str, stdin: bytes | None, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    marker = node_pod.new_marker()
    proc = subprocess.run(exec_argv(command, marker, None if stdin is None else len(stdin)), input=stdin or b"",
                          capture_output=True, env=env, check=False, timeout=30)
    rc, stderr = split_marker(proc.stderr, marker)
    assert rc == proc.returncode
    return t.cast(int, rc), proc.stdout, stderr


def test_the_wrapper_reports_exit_codes_output_and_exit_inside_the_command(fake_nsenter: dict[str, str]) -> None:
    assert run_wrapped("echo out; echo err >&2; exit 7", None, fake_nsenter) == (7, b"out\n", b"err\n")
    assert run_wrapped("true", None, fake_nsenter) == (0, b"", b"")
    assert run_wrapped("printf '%s' \"it's quoted\"", None, fake_nsenter) == (0, b"it's quoted", b"")


def test_the_wrapper_passes_exactly_the_input_then_end_of_file(fake_nsenter: dict[str, str]) -> None:
    data = bytes(range(256)) * 1024  # binary, 256 KiB
    assert run_wrapped("cat", data, fake_nsenter)[:2] == (0, data)
    # Without input the command reads end of file at once instead of waiting.
    assert run_wrapped("cat; echo done", None, fake_nsenter) == (0, b"done\n", b"")


# ------------------------------------------------------------------------------------------------- leftovers


def test_this_runs_pods_are_never_leftovers() -> None:
    assert leftover_reason(pod(run=HERE.run_id, phase="Failed"), HERE.run_id, HERE.host, NOW) is None


@pytest.mark.parametrize(("other", "reason"), [
    (pod(phase="Failed"), "ended (Failed)"),
    (pod(phase="Succeeded"), "ended (Succeeded)"),
    (pod(age=7300), "past its deadline of 7200 s"),
    (pod(controller=Controller("controller-1", 1, "5")), "process 1 on controller-1) is gone"),
])
def test_ended_orphaned_and_expired_pods_of_other_runs_are_leftovers(other: NS, reason: str) -> None:
    found = leftover_reason(other, HERE.run_id, HERE.host, NOW, alive=lambda controller: False)
    assert found is not None and reason in found


def test_a_running_pod_of_a_live_run_or_of_another_controller_is_left_alone() -> None:
    live = pod(controller=Controller("controller-1", 1, "5"))
    assert leftover_reason(live, HERE.run_id, HERE.host, NOW, alive=lambda controller: True) is None
    elsewhere = pod(controller=Controller("awx-job-7", 1, "5"))
    assert leftover_reason(elsewhere, HERE.run_id, HERE.host, NOW, alive=lambda controller: False) is None


def test_a_pod_is_reused_while_running_and_in_the_first_half_of_its_deadline() -> None:
    assert reusable(pod(age=3000), NOW)
    assert not reusable(pod(age=3700), NOW)
    assert not reusable(pod(phase="Pending"), NOW)
    assert not reusable(pod(deleting=True), NOW)


# ------------------------------------------------------------------------------------------------- start failures


def waiting(reason: str, message: str = "") -> NS:
    return NS(phase="Pending", reason=None, message=None, conditions=[],
              container_statuses=[NS(state=NS(waiting=NS(reason=reason, message=message), terminated=None))])


def test_an_image_that_cannot_be_pulled_is_named() -> None:
    reason, fatal = start_failure(NS(status=waiting("ImagePullBackOff", 'Back-off pulling image "nope:1"')))
    assert reason == 'image pull failed: ImagePullBackOff: Back-off pulling image "nope:1"' and not fatal
    assert start_failure(NS(status=waiting("InvalidImageName")))[1] is True


def test_a_condition_or_a_warning_event_explains_a_pending_pod() -> None:
    status = NS(phase="Pending", reason=None, message=None, container_statuses=None,
                conditions=[NS(type="PodScheduled", status="False", reason="Unschedulable",
                               message="node(s) had untolerated taint {dedicated: gpu}")])
    assert start_failure(NS(status=status))[0] == ("PodScheduled is False: Unschedulable: node(s) had untolerated "
                                                   "taint {dedicated: gpu}")
    quiet = NS(phase="Pending", reason=None, message=None, container_statuses=None, conditions=None)
    event = NS(type="Warning", reason="TaintManagerEviction", message="Marking for deletion Pod x")
    assert start_failure(NS(status=quiet), [event])[0] == "TaintManagerEviction: Marking for deletion Pod x"
    assert "stayed Pending" in start_failure(NS(status=quiet))[0]


def test_a_pod_that_ended_cannot_start() -> None:
    status = NS(phase="Failed", reason="DeadlineExceeded", message="Pod was active too long", conditions=[],
                container_statuses=[])
    assert start_failure(NS(status=status)) == ("the pod ended (Failed): DeadlineExceeded Pod was active too long",
                                                True)


# ------------------------------------------------------------------------------------------------- exec refusals

FORBIDDEN_BODY = ('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods '
                  '\\"nodepatch-n-abc\\" is forbidden: User \\"system:serviceaccount:nodepatch-system:nodepatch\\" '
                  'cannot create resource \\"pods/exec\\" in API group \\"\\" in the namespace '
                  '\\"nodepatch-system\\"","reason":"Forbidden","code":403}')


class Handshake(Exception):
    def __init__(self, status_code: int, body: bytes) -> None:
        super().__init__(f"Handshake status {status_code}")
        self.status_code = status_code
        self.resp_body = body


def wrapped(cause: Exception) -> ApiException:
    """What the client library raises: ApiException(status=0) while handling the websocket error."""
    try:
        raise cause
    except Exception:  # pylint: disable=broad-exception-caught
        try:
            raise ApiException(status=0, reason=str(cause))  # noqa: B904 - the library does exactly this
        except ApiException as error:
            return error
    raise AssertionError("unreachable")


def test_a_refused_exec_names_the_missing_permission() -> None:
    error = exec_error(wrapped(Handshake(403, FORBIDDEN_BODY.encode())), "nodepatch-n-abc", "n", "nodepatch-system")
    text = str(error)
    assert "cannot exec into pod nodepatch-system/nodepatch-n-abc on node n: HTTP 403" in text
    assert "may not create pods/exec (API group core) in namespace nodepatch-system" in text


def test_a_refused_exec_is_understood_from_the_message_text_alone() -> None:
    text = f"Handshake status 403 Forbidden -+-+- {{'content-type': 'application/json'}} -+-+- {FORBIDDEN_BODY}"
    error = exec_error(ApiException(status=0, reason=text), "p", "n", "nodepatch-system")
    assert "may not create pods/exec" in str(error)


def test_an_exec_that_never_reached_the_api_says_so() -> None:
    error = exec_error(ApiException(status=0, reason="Connection refused"), "p", "n", "ns")
    assert "cannot exec into pod ns/p on node n: Connection refused" in str(error)
    assert "kubelet" in str(error.hint)


def test_a_drain_leaves_the_node_pod_as_it_leaves_daemonset_pods() -> None:
    from ansible_collections.nodepatch.kube.plugins.module_utils.drain import SKIP, DrainOptions, decide

    manifest = pod_manifest(PodSettings(node=NODE), HERE)
    ours = NS(metadata=NS(name="nodepatch-x", namespace="nodepatch-system", labels=manifest["metadata"]["labels"],
                          annotations={}, owner_references=None, deletion_timestamp=None),
              spec=NS(volumes=None), status=NS(phase="Running"))
    assert node_pod.is_node_pod(ours)
    decision = decide(ours, DrainOptions())
    assert decision.action == SKIP and "nodepatch.kube.node" in decision.reason
    ours.metadata.labels = {"app.kubernetes.io/managed-by": "nodepatch.kube"}  # only the label: not a node pod
    assert not node_pod.is_node_pod(ours)


def test_a_failure_status_without_exit_code_means_the_command_never_started() -> None:
    refused = b'{"metadata":{},"status":"Failure","message":"no exec found for container node","reason":"InternalError"}'
    assert refused_before_start(refused)
    exited = (b'{"status":"Failure","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}')
    assert not refused_before_start(exited)
    assert not refused_before_start(b'{"status":"Success"}')
    assert not refused_before_start(b"")


# ------------------------------------------------------------------------------------------- exec readiness


class ScriptedPods(node_pod.NodePods):
    """NodePods whose exec answers from a script: an exception is raised, an ExecResult returned."""

    def __init__(self, answers: list[t.Any]) -> None:
        super().__init__(client=t.cast(t.Any, None), controller=HERE)
        self.answers = answers
        self.commands: list[str] = []

    def _exec_once(self, name: str, namespace: str, command: str, stdin: bytes | None) -> node_pod.ExecResult:
        self.commands.append(command)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_pod.time, "sleep", lambda _seconds: None)


def test_a_fresh_pod_is_probed_until_a_no_op_runs_to_its_end(no_sleep: None) -> None:
    silent = NodepatchError("the command on the node ended without reporting its exit status: b''")
    refused = node_pod.ExecNotStarted("the exec was refused before the command started")
    pods = ScriptedPods([silent, refused, node_pod.ExecResult(0, b"", b"")])
    pods.wait_exec_ready("p", "ns", "n", timeout=60)
    assert pods.commands == ["true", "true", "true"] and not pods.answers


def test_a_forbidden_exec_is_not_retried(no_sleep: None) -> None:
    forbidden = wrapped(Handshake(403, FORBIDDEN_BODY.encode()))
    pods = ScriptedPods([forbidden, node_pod.ExecResult(0, b"", b"")])
    with pytest.raises(NodepatchError) as raised:
        pods.wait_exec_ready("p", "ns", "n", timeout=60)
    assert raised.value.status == 403 and pods.commands == ["true"]


def test_a_pod_that_never_accepts_exec_is_named_with_the_last_problem(no_sleep: None) -> None:
    clock = iter(range(0, 1000, 5))
    pods = ScriptedPods([node_pod.ExecNotStarted("no exec found for container node")] * 50)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(node_pod.time, "monotonic", lambda: float(next(clock)))
        with pytest.raises(NodepatchError) as raised:
            pods.wait_exec_ready("p", "ns", "n", timeout=20)
    text = str(raised.value)
    assert "accepted no exec within 20 s" in text and "no exec found for container node" in text, text
    assert "pod ns/p on node n" in text and "pod_start_timeout" in text
    assert len(pods.commands) < 10
