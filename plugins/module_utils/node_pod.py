# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node pod: a short-lived privileged pod pinned to one node, through which the ``nodepatch.kube.node``
connection runs commands on the node's host (``nsenter`` into PID 1's namespaces over the pods/exec subresource).

Pure parts first (the pod, the command wrapper and its exit-status marker, which pods are leftovers, why a pod
did not start), then ``NodePods``, which only reads, decides with them and writes through ``KubeClient.call``."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import secrets
import socket
import time
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import (
    EVENTS,
    NAMESPACES,
    NODES,
    PODS,
    ApiException,
    KubeClient,
    api_error,
    forbidden_hint,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.retry import backoff_delays

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "nodepatch.kube"
NODE_LABEL = "nodepatch.kube/node"
RUN_LABEL = "nodepatch.kube/run"
CONTROLLER_ANNOTATION = "nodepatch.kube/controller"
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
CONTAINER = "node"
NSENTER = ("nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--")
DEFAULT_IMAGE = "docker.io/library/busybox:1.36"
# Waiting reasons of a container that will not start by waiting longer.
FATAL_WAITING = frozenset({"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError",
                           "CreateContainerError"})
IMAGE_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")

# The script the pod's own shell runs. The command comes as "$1", so it needs no quoting; its exit status is
# printed as the last line of stderr after the nonce "$2", because some API servers (kwok, older streaming
# proxies) lose non-zero exit codes. With stdin, "$3" bytes are passed on and then end of file: the websocket
# protocols before v5 cannot half-close stdin, and a pipelined python reads its module until end of file.
WRAPPER_STDIN = ('head -c "$3" | ' + " ".join(NSENTER) + ' /bin/sh -c "$1"; '
                 'rc=$?; printf "\\n%s%d\\n" "$2" "$rc" >&2; exit "$rc"')
WRAPPER = (" ".join(NSENTER) + ' /bin/sh -c "$1" </dev/null; '
           'rc=$?; printf "\\n%s%d\\n" "$2" "$rc" >&2; exit "$rc"')


@dataclasses.dataclass(frozen=True)
class Controller:
    """Who runs the play: a pod of another run whose controller process is gone on this host is a leftover."""

    host: str
    pid: int
    started: str

    def to_json(self) -> str:
        return json.dumps({"host": self.host, "pid": self.pid, "started": self.started}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Controller | None:
        try:
            data = json.loads(text or "")
            return cls(str(data["host"]), int(data["pid"]), str(data["started"]))
        except (ValueError, TypeError, KeyError):
            return None

    @property
    def run_id(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def process_started(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat): a pid plus this names
    one process, even after the pid is reused. None when the process does not exist."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 else None


def current_controller() -> Controller:
    """The process that runs the play. Ansible runs each task in a forked worker of ansible-playbook (or ansible),
    so a worker names its parent, and the main process (``meta: reset_connection``) names itself."""
    import multiprocessing  # pylint: disable=import-outside-toplevel

    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None and parent.pid else os.getpid()
    return Controller(socket.gethostname(), pid, process_started(pid) or "0")


def controller_alive(controller: Controller) -> bool:
    return process_started(controller.pid) == controller.started


@dataclasses.dataclass(frozen=True)
class PodSettings:
    """What the node pod looks like; defaults mirror the connection plugin's options."""

    node: str
    namespace: str = "nodepatch-system"
    image: str = DEFAULT_IMAGE
    image_pull_secrets: tuple[str, ...] = ()
    resources: t.Mapping[str, t.Any] = dataclasses.field(
        default_factory=lambda: {"requests": {"cpu": "10m", "memory": "16Mi"}})
    tolerations: tuple[t.Mapping[str, t.Any], ...] = ({"operator": "Exists"},)
    deadline: int = 7200
    start_timeout: int = 120

    def validate(self) -> None:
        if not self.node:
            raise NodepatchError("the node name is empty", hint="set nodepatch_node_name or inventory_hostname")
        if self.deadline < 60:
            raise NodepatchError(f"pod_deadline is {self.deadline} s; it must be at least 60 s",
                                 hint="the deadline is a backstop that ends a pod a crashed run left behind")
        if self.start_timeout < 1:
            raise NodepatchError(f"pod_start_timeout is {self.start_timeout} s; it must be at least 1 s")


def label_value(text: str) -> str:
    """``text`` when it is a valid label value, else a readable prefix and a hash (node names may be 253 long)."""
    if LABEL_VALUE.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    prefix = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:50].strip("._-")
    return f"{prefix}-{digest}" if prefix else digest


def is_node_pod(pod: t.Any) -> bool:
    """A node pod of the nodepatch.kube.node connection: a drain leaves it, as it leaves DaemonSet pods (it
    tolerates the cordon, and the reboot after the drain runs through it)."""
    labels = pod.metadata.labels or {}
    return labels.get(MANAGED_BY) == MANAGER and NODE_LABEL in labels and RUN_LABEL in labels


def pod_manifest(settings: PodSettings, controller: Controller) -> dict[str, t.Any]:
    """The node pod, as ``kubectl debug node --profile=sysadmin`` and kured's DaemonSet make it, plus a deadline."""
    name_part = re.sub(r"[^a-z0-9-]", "-", settings.node.lower())[:40].strip("-") or "node"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"nodepatch-{name_part}-",
            "namespace": settings.namespace,
            "labels": {MANAGED_BY: MANAGER, NODE_LABEL: label_value(settings.node), RUN_LABEL: controller.run_id},
            "annotations": {CONTROLLER_ANNOTATION: controller.to_json()},
        },
        "spec": {
            "nodeName": settings.node,
            "hostPID": True,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": settings.deadline,
            # sleep as PID 1 ignores SIGTERM: a long grace period would only delay the deletion.
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "tolerations": [dict(toleration) for toleration in settings.tolerations],
            "imagePullSecrets": [{"name": name} for name in settings.image_pull_secrets],
            "containers": [{
                "name": CONTAINER,
                "image": settings.image,
                "command": ["sleep", str(settings.deadline)],
                "securityContext": {"privileged": True},
                "resources": dict(settings.resources),
            }],
        },
    }


def exec_argv(command: str, marker: str, stdin_size: int | None) -> list[str]:
    """The exec's argv: the pod's shell enters the host (nsenter by name, resolved by PATH) and reports the
    command's exit status after ``marker``."""
    if stdin_size is None:
        return ["/bin/sh", "-c", WRAPPER, "sh", command, marker]
    return ["/bin/sh", "-c", WRAPPER_STDIN, "sh", command, marker, str(stdin_size)]


def new_marker() -> str:
    return f"NODEPATCH_RC_{secrets.token_hex(8)}="


def split_marker(stderr: bytes, marker: str) -> tuple[int | None, bytes]:
    """The exit status the wrapper printed, and stderr without that line; None when it never printed one (the
    process was killed, the pod went away, the shell could not start)."""
    token = b"\n" + marker.encode()
    index = stderr.rfind(token)
    if index < 0:
        return None, stderr
    rest = stderr[index + len(token):]
    match = re.match(rb"(\d+)\n?", rest)
    if not match:
        return None, stderr
    return int(match.group(1)), stderr[:index] + rest[match.end():]


def status_exit_code(error_channel: bytes) -> int | None:
    """The exit code from the exec's error channel (a metav1.Status), when the API server kept it."""
    try:
        status = json.loads(error_channel.decode("utf-8", "replace") or "{}")
    except ValueError:
        return None
    if not isinstance(status, dict) or not status:
        return None
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", ""))
            except ValueError:
                return None
    return None


class ExecNotStarted(NodepatchError):
    """The exec stream ended with a refusal before the command ran: nothing happened on the node."""


def refused_before_start(error_channel: bytes) -> bool:
    """A Failure status on the exec's error channel with no exit code: the command was never started."""
    try:
        status = json.loads(error_channel.decode("utf-8", "replace") or "{}")
    except ValueError:
        return False
    return isinstance(status, dict) and status.get("status") == "Failure" and status_exit_code(error_channel) is None


def parse_time(value: t.Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, str) and value:
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def leftover_reason(pod: t.Any, run_id: str, here: str, now: datetime.datetime,
                    alive: t.Callable[[Controller], bool] = controller_alive) -> str | None:
    """Why a node pod of ANOTHER run may be deleted, or None when it may still be in use: it has ended, its
    controller process on this host is gone, or it is past its own deadline (a kubelet ends such a pod; a
    simulated one may not)."""
    labels = pod.metadata.labels or {}
    if labels.get(RUN_LABEL) == run_id:
        return None
    phase = pod.status.phase if pod.status else None
    if phase in ("Succeeded", "Failed"):
        return f"it has ended ({phase})"
    controller = Controller.from_json((pod.metadata.annotations or {}).get(CONTROLLER_ANNOTATION))
    if controller is not None and controller.host == here and not alive(controller):
        return f"its run (process {controller.pid} on {here}) is gone"
    created = parse_time(pod.metadata.creation_timestamp)
    deadline = pod.spec.active_deadline_seconds if pod.spec else None
    if created is not None and deadline and (now - created).total_seconds() >= deadline:
        return f"it is past its deadline of {deadline} s"
    return None


def reusable(pod: t.Any, now: datetime.datetime) -> bool:
    """A pod of this run that keeps serving: running, not being deleted, and in the first half of its deadline,
    so that no command starts in a pod that its deadline may end halfway (an upgrade killed mid-way)."""
    if pod.metadata.deletion_timestamp is not None or not pod.status or pod.status.phase != "Running":
        return False
    created = parse_time(pod.metadata.creation_timestamp)
    deadline = pod.spec.active_deadline_seconds if pod.spec else None
    return not (created and deadline and (now - created).total_seconds() >= deadline / 2)


def start_failure(pod: t.Any, events: t.Sequence[t.Any] = ()) -> tuple[str, bool]:
    """Why the pod is not running yet, from its status and events, and whether waiting longer can help."""
    status = pod.status
    for container in (status.container_statuses or []) if status else []:
        waiting = container.state.waiting if container.state else None
        if waiting and waiting.reason:
            what = "image pull" if waiting.reason in IMAGE_WAITING else "container start"
            return (f"{what} failed: {waiting.reason}: {waiting.message or ''}".rstrip(": "),
                    waiting.reason in FATAL_WAITING)
        terminated = container.state.terminated if container.state else None
        if terminated:
            return (f"the container ended: {terminated.reason or 'exit code'} {terminated.exit_code}"
                    f"{': ' + terminated.message if terminated.message else ''}", True)
    if status and status.phase in ("Failed", "Succeeded"):
        return f"the pod ended ({status.phase}): {status.reason or ''} {status.message or ''}".strip(), True
    for condition in (status.conditions or []) if status else []:
        if condition.status == "False" and condition.reason:
            return f"{condition.type} is False: {condition.reason}: {condition.message or ''}".rstrip(": "), False
    warnings = [event for event in events if getattr(event, "type", "") == "Warning"]
    if warnings:
        last = warnings[-1]
        return f"{last.reason}: {last.message}", False
    phase = status.phase if status and status.phase else "Pending"
    return f"it stayed {phase} with no reason reported (is the node's kubelet running?)", False


def exec_refusal(error: BaseException) -> tuple[int, str]:
    """HTTP status and body of a refused exec upgrade. The client wraps the websocket handshake error
    (``Handshake status 403 Forbidden -+-+- headers -+-+- body``) into an ApiException with status 0."""
    cause = error.__context__ or error.__cause__
    status = getattr(cause, "status_code", None)
    body = getattr(cause, "resp_body", None)
    if isinstance(status, int) and status:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        return status, text
    text = str(getattr(error, "reason", "") or error)
    match = re.search(r"Handshake status (\d{3})", text)
    if not match:
        return 0, text
    parts = text.split(" -+-+- ")
    return int(match.group(1)), (parts[-1] if len(parts) > 2 else "")


def exec_error(error: BaseException, pod: str, node: str, namespace: str) -> NodepatchError:
    status, body = exec_refusal(error)
    target = f"pod {namespace}/{pod} on node {node}"
    if status:
        refused = ApiException(status=status, reason="exec refused")
        refused.body = body
        wrapped = api_error(refused, "exec into", target)
        if status == 403 and forbidden_hint(wrapped.details.get("api_message", "")) is None:
            # The API server refuses the exec upgrade without the RBAC authorizer's words (an empty reason).
            wrapped.hint = (f"the identity may not create pods/exec (API group core) in namespace {namespace}, nor "
                            f"get it; deploy/rbac.yml grants both there (kubectl apply -f deploy/rbac.yml)")
        return wrapped
    return NodepatchError(f"cannot exec into {target}: {body or error}", target=target,
                          hint="check that the API server can reach the node's kubelet (port 10250)")


@dataclasses.dataclass
class ExecResult:
    rc: int
    stdout: bytes
    stderr: bytes


class NodePods:
    """Create, find, wait for, exec into and delete node pods, through one KubeClient."""

    def __init__(self, client: KubeClient, controller: Controller | None = None,
                 now: t.Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc)) -> None:
        self.client = client
        self.controller = controller or current_controller()
        self.now = now

    # ----------------------------------------------------------------------------------------------- pods

    def ensure(self, settings: PodSettings) -> tuple[str, bool]:
        """A running node pod of this run on the node, and whether it was created just now: this run's pod is
        reused; leftovers of earlier runs are removed before a new one is created."""
        settings.validate()
        node = settings.node
        # A namespace that does not exist yet lists no pods; it is created with the first pod.
        pods = self.client.call(self.client.list, PODS, settings.namespace,
                                label_selector=f"{MANAGED_BY}={MANAGER}", field_selector=f"spec.nodeName={node}",
                                target=f"node pods in namespace {settings.namespace}", action="list").items
        now = self.now()
        keep = None
        for pod in pods:
            reason = leftover_reason(pod, self.controller.run_id, self.controller.host, now)
            mine = (pod.metadata.labels or {}).get(RUN_LABEL) == self.controller.run_id
            if reason or (mine and (keep is not None or not reusable(pod, now))):
                self.delete(pod.metadata.name, settings.namespace)
            elif mine:
                keep = pod.metadata.name
        if keep:
            return str(keep), False
        try:
            self.client.call(self.client.get, NODES, node, target=f"node/{node}", action="read")
        except NodepatchError as error:
            if error.is_not_found:
                raise NodepatchError(f"node {node} does not exist in the cluster at {self.client.host}",
                                     target=f"node/{node}",
                                     hint="set nodepatch_node_name to the Kubernetes node name of this host") from error
            raise
        return self._create(settings), True

    def _create(self, settings: PodSettings) -> str:
        manifest = pod_manifest(settings, self.controller)
        target = f"node pod for node {settings.node} in namespace {settings.namespace}"
        try:
            try:
                created = self.client.call(self.client.create, PODS, manifest, settings.namespace, target=target,
                                           action="create")
            except NodepatchError as error:
                if not error.is_not_found or "namespaces" not in error.details.get("api_message", ""):
                    raise
                self._create_namespace(settings.namespace)
                created = self.client.call(self.client.create, PODS, manifest, settings.namespace, target=target,
                                           action="create")
        except NodepatchError as error:
            if error.status == 403 and "PodSecurity" in error.details.get("api_message", ""):
                error.hint = (f"Pod Security admission refused the privileged node pod: label namespace "
                              f"{settings.namespace} {PSA_ENFORCE}=privileged (deploy/rbac.yml does), or choose "
                              f"another namespace")
            raise
        name = str(created.metadata.name)
        try:
            self._wait_running(settings, name, created.metadata.resource_version)
        except NodepatchError:
            self.delete(name, settings.namespace)
            raise
        return name

    def _create_namespace(self, namespace: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": namespace, "labels": {PSA_ENFORCE: "privileged", MANAGED_BY: MANAGER}}}
        try:
            self.client.call(self.client.create, NAMESPACES, body, target=f"namespace {namespace}",
                             action="create")
        except NodepatchError as error:
            if not error.is_conflict:  # created meanwhile by a parallel worker
                raise

    def _wait_running(self, settings: PodSettings, name: str, resource_version: str | None) -> None:
        """Follow one watch on the pod until it runs; on timeout, say why it did not, from status and events."""
        deadline = time.monotonic() + settings.start_timeout
        while time.monotonic() < deadline:
            try:
                for kind, pod in self.client.watch(PODS, settings.namespace, field_selector=f"metadata.name={name}",
                                                   resource_version=resource_version,
                                                   timeout_seconds=max(1, int(deadline - time.monotonic()))):
                    if kind == "ERROR":
                        resource_version = None  # 410 Gone: watch again from the current state
                        break
                    if kind == "BOOKMARK":
                        continue
                    resource_version = pod.metadata.resource_version
                    if kind == "DELETED":
                        raise self._start_error(settings, name, "the pod was deleted before it ran", pod)
                    if pod.status and pod.status.phase == "Running":
                        return
                    reason, fatal = start_failure(pod)
                    if fatal:
                        raise self._start_error(settings, name, reason, pod)
                    if time.monotonic() >= deadline:
                        break
            except ApiException as error:
                if error.status == 410:
                    resource_version = None
                    continue
                raise api_error(error, "watch", f"pod {settings.namespace}/{name}") from error
        pod = self.client.call(self.client.get, PODS, name, settings.namespace,
                               target=f"pod {settings.namespace}/{name}", action="read")
        raise self._start_error(settings, name, None, pod)

    def _start_error(self, settings: PodSettings, name: str, reason: str | None, pod: t.Any) -> NodepatchError:
        events = self._events(settings.namespace, name)
        if reason is None:
            reason = start_failure(pod, events)[0]
        elif events:
            reason += f"; last event: {events[-1].reason}: {events[-1].message}"
        return NodepatchError(
            f"the node pod {settings.namespace}/{name} did not run on node {settings.node} within "
            f"{settings.start_timeout} s: {reason}", target=f"node/{settings.node}",
            hint="a taint the tolerations do not cover, an image the node cannot pull (set image and "
                 "image_pull_secrets), or a node that is down; the pod was deleted")

    def _events(self, namespace: str, name: str) -> list[t.Any]:
        """The pod's events, oldest first; none when the identity may not list events (they only add detail)."""
        try:
            found = self.client.call(self.client.list, EVENTS, namespace,
                                     field_selector=f"involvedObject.name={name}",
                                     target=f"events of pod {namespace}/{name}", action="list")
        except NodepatchError:
            return []
        return sorted(found.items, key=lambda event: str(event.last_timestamp or event.event_time or ""))

    def delete(self, name: str, namespace: str) -> None:
        try:
            self.client.call(self.client.delete, PODS, name, namespace, grace_period_seconds=0,
                             target=f"pod {namespace}/{name}", action="delete")
        except NodepatchError as error:
            if not error.is_not_found:
                raise

    def delete_run(self, namespace: str, node: str | None = None) -> list[str]:
        """Delete this run's node pods (on one node, or all); returns their names."""
        selector = f"{MANAGED_BY}={MANAGER},{RUN_LABEL}={self.controller.run_id}"
        if node:
            selector += f",{NODE_LABEL}={label_value(node)}"
        try:
            pods = self.client.call(self.client.list, PODS, namespace, label_selector=selector,
                                    target=f"node pods in namespace {namespace}", action="list").items
        except NodepatchError as error:
            if error.is_not_found:
                return []
            raise
        for pod in pods:
            self.delete(pod.metadata.name, namespace)
        return [pod.metadata.name for pod in pods]

    # ----------------------------------------------------------------------------------------------- exec

    def wait_exec_ready(self, name: str, namespace: str, node: str, timeout: float) -> None:
        """Returns once an exec into the pod runs a no-op to its end, trying for ``timeout`` s. A pod that has just
        started may refuse exec for a moment, or end the stream without a word; the no-op is the command that
        finds out, as one of ours might have run and could not simply be sent again."""
        give_up = time.monotonic() + timeout
        delays = backoff_delays(1000, base=0.2, cap=2.0)
        while True:
            try:
                result = self.exec(name, namespace, node, "true")
                if result.rc == 0:
                    return
                problem = f"the no-op `true` exited {result.rc}: {result.stderr[-300:]!r}"
            except NodepatchError as error:
                if error.status in (401, 403, 404):
                    raise
                problem = str(error)
            delay = next(delays)
            if time.monotonic() + delay > give_up:
                raise NodepatchError(f"the node pod accepted no exec within {timeout:g} s: {problem}",
                                     target=f"pod {namespace}/{name} on node {node}",
                                     hint="raise pod_start_timeout if the node is slow to start containers")
            time.sleep(delay)

    def exec(self, name: str, namespace: str, node: str, command: str, stdin: bytes | None = None) -> ExecResult:
        """Run ``command`` on the node's host, once."""
        try:
            return self._exec_once(name, namespace, command, stdin)
        except ApiException as error:
            raise exec_error(error, name, node, namespace) from error

    def _exec_once(self, name: str, namespace: str, command: str, stdin: bytes | None) -> ExecResult:
        from websocket import WebSocketException  # pylint: disable=import-outside-toplevel

        marker = new_marker()
        argv = exec_argv(command, marker, None if stdin is None else len(stdin))
        ws = self.client.exec_stream(PODS.path(name, namespace, "exec"), container=CONTAINER, command=argv,
                                     stdin=stdin is not None, stdout=True, stderr=True, tty=False)
        stdout = bytearray()
        stderr = bytearray()
        error_channel = bytearray()

        def drain(timeout: float) -> None:
            ws.update(timeout=timeout)
            for channel, buffer in ((1, stdout), (2, stderr), (3, error_channel)):
                data = ws.read_channel(channel)
                if data:
                    buffer.extend(data)

        try:
            if stdin:
                view = memoryview(stdin)
                for start in range(0, len(view), 65536):
                    ws.write_stdin(bytes(view[start:start + 65536]))
                    drain(0)
            while ws.is_open():
                drain(1)
        except (OSError, WebSocketException):
            pass  # the stream broke (the node went down, the pod went away): no marker says so below
        finally:
            ws.close()
        rc, clean_stderr = split_marker(bytes(stderr), marker)
        if rc is None:
            rc = status_exit_code(bytes(error_channel))
        if rc is None and not stdout and not clean_stderr and refused_before_start(bytes(error_channel)):
            raise ExecNotStarted(f"the exec was refused before the command started: {bytes(error_channel)[-300:]!r}",
                                 target=f"pod {namespace}/{name}")
        if rc is None:
            raise NodepatchError(
                f"the command on the node ended without reporting its exit status: {clean_stderr[-500:]!r}"
                f" (status channel: {bytes(error_channel)[-300:]!r})",
                target=f"pod {namespace}/{name}",
                hint="the pod or its node went away while the command ran (a reboot ends the connection)")
        return ExecResult(rc, bytes(stdout), clean_stderr)

    def close(self) -> None:
        self.client.api_client.close()


# --------------------------------------------------------------------------------------------------- the reaper
# Ansible runs every task in a forked worker and calls no plugin hook when the play ends, fails or is killed; so
# the first worker that creates a node pod starts one detached reaper per run and namespace, which waits for the
# play's process to exit (however it exits) and then deletes that run's node pods. A reaper killed with its
# controller (a container gone) leaves pods that the next run removes, or their deadline ends.


def reaper_lock(controller: Controller, api_host: str, namespace: str) -> str:
    import tempfile  # pylint: disable=import-outside-toplevel

    scope = hashlib.sha256(f"{api_host} {namespace}".encode()).hexdigest()[:8]
    return os.path.join(tempfile.gettempdir(), f"nodepatch-node-{controller.run_id}-{scope}.reaper")


def start_reaper(params: t.Mapping[str, t.Any], api_host: str, namespace: str, controller: Controller,
                 max_wait: float) -> int | None:
    """Start the run's reaper unless one runs already; returns its pid, or None when it was there."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    lock = reaper_lock(controller, api_host, namespace)
    try:
        descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return None
    # The collections root that holds this file: ansible_collections/nodepatch/kube/plugins/module_utils/.
    root = os.path.dirname(os.path.abspath(__file__))
    for _level in range(5):
        root = os.path.dirname(root)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", "from ansible_collections.nodepatch.kube.plugins.module_utils.node_pod import "
                               "reap_main; reap_main()"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment,
        start_new_session=True, close_fds=True)
    # Credentials go through a pipe, never through argv or the environment of a long-lived process.
    stdin = t.cast(t.IO[bytes], process.stdin)
    order = {"params": dict(params), "namespace": namespace, "lock": lock,
             "controller": json.loads(controller.to_json()), "max_wait": max_wait}
    stdin.write(json.dumps(order).encode())
    stdin.close()
    os.write(descriptor, str(process.pid).encode())
    os.close(descriptor)
    return process.pid


def wait_for_exit(controller: Controller, max_wait: float) -> None:
    """Block until the controller process is gone (a pidfd when the kernel has them, else a 1 s poll)."""
    import select  # pylint: disable=import-outside-toplevel

    give_up = time.monotonic() + max_wait
    try:
        pidfd = os.pidfd_open(controller.pid)
    except (AttributeError, OSError):
        pidfd = None
    while controller_alive(controller) and time.monotonic() < give_up:
        if pidfd is not None:
            select.select([pidfd], [], [], min(60.0, max(0.0, give_up - time.monotonic())))
        else:
            time.sleep(1)
    if pidfd is not None:
        os.close(pidfd)


def reap_main() -> None:
    import sys  # pylint: disable=import-outside-toplevel

    order = json.loads(sys.stdin.read())
    controller = Controller(**order["controller"])
    try:
        wait_for_exit(controller, float(order["max_wait"]))
        pods = NodePods(KubeClient.from_params(order["params"], agent="node-pod-reaper"), controller=controller)
        pods.delete_run(order["namespace"])
    finally:
        try:
            os.unlink(order["lock"])
        except OSError:
            pass
