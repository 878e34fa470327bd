# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: node
short_description: Run tasks on a Kubernetes node's host through the Kubernetes API, without SSH
version_added: 0.1.0
description:
  - A host is a Kubernetes node. Commands run on the node's host through a short-lived privileged pod pinned to
    the node, entering the host's namespaces with C(nsenter -t 1 -m -u -i -n -p --), over the API server's
    C(pods/exec) subresource; so every module (M(nodepatch.kube.reboot_required), the C(os_patch) role,
    M(ansible.builtin.command), M(ansible.builtin.setup)) runs unchanged on a node reached with nothing but a
    kubeconfig, as C(kubectl debug node/NAME --profile=sysadmin) or kured's DaemonSet pod reach it.
  - The pod is created by the first task on the host, in O(namespace) (created when missing, labelled
    C(pod-security.kubernetes.io/enforce=privileged)), and reused by every later task of the same
    C(ansible-playbook) run. Its spec pins it with C(nodeName), tolerates every taint (O(tolerations)), uses
    C(hostPID) and a privileged container, C(restartPolicy=Never), and C(activeDeadlineSeconds) (O(pod_deadline))
    as a backstop.
  - When the run ends, however it ends (success, failure, Ctrl-C, even SIGKILL of C(ansible-playbook)), a
    detached reaper process deletes the run's pods. The next run removes pods that earlier runs left behind -
    ended ones, ones whose run on this controller is gone, and ones past their deadline. C(meta
    reset_connection) deletes the host's pod at once (the next task gets a new one); role
    C(nodepatch.kube.safe_reboot) does so after a reboot.
  - Each command prints its own exit status after a random marker, because some API servers lose non-zero exit
    codes of exec sessions.
  - Commands run as root on the node (the pod is privileged), so C(become) to root is not needed and is skipped.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube.connection
options:
  node_name:
    description:
      - The Kubernetes node the host is; the inventory host name when not set.
    type: str
    vars:
      - name: inventory_hostname
      - name: nodepatch_node_name
  namespace:
    description:
      - Namespace of the node pods. Created when missing, with the label
        C(pod-security.kubernetes.io/enforce=privileged); an existing namespace is used as it is, so it must allow
        privileged pods.
    type: str
    default: nodepatch-system
    env:
      - name: NODEPATCH_POD_NAMESPACE
    vars:
      - name: nodepatch_pod_namespace
  image:
    description:
      - Image of the node pod's container. It must have C(sh), C(head) and C(nsenter) (BusyBox has all three).
      - On AKS, an image from Microsoft's registry avoids Docker Hub limits and egress rules, for example
        C(mcr.microsoft.com/cbl-mariner/busybox:2.0) (the image the AKS documentation uses with C(kubectl debug)).
    type: str
    default: docker.io/library/busybox:1.36
    env:
      - name: NODEPATCH_POD_IMAGE
    vars:
      - name: nodepatch_pod_image
  image_pull_secrets:
    description: Names of Secrets in O(namespace) for pulling O(image) from a private registry.
    type: list
    elements: str
    default: []
    vars:
      - name: nodepatch_pod_image_pull_secrets
  resources:
    description:
      - The container's C(resources). Commands entered with C(nsenter) stay in the pod's cgroup, so a memory limit
        here also limits the package manager; the default requests a little and limits nothing.
    type: dict
    default: {requests: {cpu: 10m, memory: 16Mi}}
    vars:
      - name: nodepatch_pod_resources
  tolerations:
    description:
      - Tolerations of the node pod. The default tolerates every taint, so that cordoned, tainted and NotReady
        nodes are reached too.
    type: list
    elements: dict
    default: [{operator: Exists}]
    vars:
      - name: nodepatch_pod_tolerations
  pod_start_timeout:
    description:
      - Seconds to wait for the node pod to run (and accept exec) before failing with the reason the pod's status
        and events give (a taint, an image pull, Pod Security).
    type: int
    default: 120
    env:
      - name: NODEPATCH_POD_START_TIMEOUT
    vars:
      - name: nodepatch_pod_start_timeout
  pod_deadline:
    description:
      - C(activeDeadlineSeconds) of the node pod, the backstop that ends a pod nothing deleted. A pod is reused for
        the first half of its deadline only, so that no command starts in a pod that the deadline may end
        halfway; later tasks get a new pod.
    type: int
    default: 7200
    env:
      - name: NODEPATCH_POD_DEADLINE
    vars:
      - name: nodepatch_pod_deadline
  pipelining:
    description:
      - Send modules through the command's stdin instead of copying them to the node first (one exec instead of
        several per task).
    type: bool
    default: true
    env:
      - name: ANSIBLE_PIPELINING
    vars:
      - name: ansible_pipelining
  remote_user:
    description:
      - The user commands run as on the node. Always C(root); an option only so that Ansible skips C(become) to
        root.
    type: str
    default: root
    choices: [root]
notes:
  - The identity of the kubeconfig needs, in O(namespace), C(pods) create, get, list, watch and delete, and
    C(pods/exec) create and get; C(deploy/rbac.yml) grants them. See C(docs/aks.md) and C(docs/rbac.md).
  - A command entered through the pod ends with the pod. Start a reboot detached (role
    C(nodepatch.kube.safe_reboot) with method C(api) does); keep C(async) tasks shorter than half the deadline.
requirements:
  - kubernetes >= 36.0.2 (Python library, on the controller)
"""

EXAMPLES = r"""
# inventory: the nodes inventory sets this connection for every node (node_connection: api, the default)
# cluster.nodes.yml
#   plugin: nodepatch.kube.nodes
#   kubeconfig: ~/.kube/aks-prod

# Or per host in any inventory:
# aks-nodepool1-31415926-vmss000000 ansible_connection=nodepatch.kube.node nodepatch_kube_kubeconfig=~/.kube/aks

- name: Check the nodes through the Kubernetes API
  hosts: aks_nodes
  gather_facts: false
  vars:
    ansible_connection: nodepatch.kube.node
    nodepatch_pod_image: mcr.microsoft.com/cbl-mariner/busybox:2.0
  tasks:
    - name: Does the node need a reboot?
      nodepatch.kube.reboot_required:
      register: reboot
"""

import os
import shlex
import typing as t

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, KubeClient
from ansible_collections.nodepatch.kube.plugins.module_utils.node_pod import NodePods, PodSettings, start_reaper

display = Display()

AUTH_OPTIONS = ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert",
                "client_key", "proxy")


class Connection(ConnectionBase):
    transport = "nodepatch.kube.node"
    has_pipelining = True
    has_tty = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pods: NodePods | None = None
        self._pod: str | None = None
        self._fresh = False

    def _params(self) -> dict[str, t.Any]:
        return {option: self.get_option(option) for option in AUTH_OPTIONS}

    def _settings(self) -> PodSettings:
        node = self.get_option("node_name") or self._play_context.remote_addr
        return PodSettings(
            node=str(node or ""), namespace=self.get_option("namespace"), image=self.get_option("image"),
            image_pull_secrets=tuple(self.get_option("image_pull_secrets") or ()),
            resources=self.get_option("resources") or {},
            tolerations=tuple(self.get_option("tolerations") or ()),
            deadline=int(self.get_option("pod_deadline")), start_timeout=int(self.get_option("pod_start_timeout")))

    def _client(self) -> KubeClient:
        if not HAS_KUBERNETES:
            raise AnsibleError("the nodepatch.kube.node connection needs the kubernetes Python library on the "
                               f"controller: {KUBERNETES_IMPORT_ERROR}")
        return KubeClient.from_params(self._params(), agent="connection-node")

    def _connect(self) -> Connection:
        if self._connected:
            return self
        settings = self._settings()
        try:
            client = self._client()
            self._pods = NodePods(client)
            # Before the pod exists, so that a run killed while it waits for the pod leaves nothing either.
            start_reaper(self._params(), client.host, settings.namespace, self._pods.controller,
                         max_wait=settings.deadline + 300)
            self._pod, self._fresh = self._pods.ensure(settings)
        except NodepatchError as error:
            self.close()
            raise AnsibleConnectionFailure(f"nodepatch.kube.node: {error}") from None
        display.vvv(f"NODE POD {settings.namespace}/{self._pod} ({'created' if self._fresh else 'reused'})",
                    host=settings.node)
        self._connected = True
        return self

    def _run(self, command: str, stdin: bytes | None) -> tuple[int, bytes, bytes]:
        self._connect()
        if self._pods is None or self._pod is None:
            raise AnsibleConnectionFailure("nodepatch.kube.node: no node pod after connecting")
        settings = self._settings()
        try:
            if self._fresh:
                self._pods.wait_exec_ready(self._pod, settings.namespace, settings.node, settings.start_timeout)
                self._fresh = False
            result = self._pods.exec(self._pod, settings.namespace, settings.node, command, stdin=stdin)
        except NodepatchError as error:
            raise AnsibleConnectionFailure(f"nodepatch.kube.node: {error}") from None
        return result.rc, result.stdout, result.stderr

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        command = to_text(cmd, errors="surrogate_or_strict")
        display.vvv(f"EXEC {command}", host=self._settings().node)
        return self._run(command, in_data)

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        display.vvv(f"PUT {in_path} TO {out_path}", host=self._settings().node)
        if not os.path.exists(in_path):
            raise AnsibleError(f"file or module does not exist: {in_path}")
        with open(in_path, "rb") as source:
            data = source.read()
        rc, _stdout, stderr = self._run(f"cat > {shlex.quote(out_path)}", data)
        if rc != 0:
            raise AnsibleError(f"failed to write {out_path} on node {self._settings().node} (exit {rc}): "
                               f"{to_text(stderr).strip()}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        display.vvv(f"FETCH {in_path} TO {out_path}", host=self._settings().node)
        rc, stdout, stderr = self._run(f"cat {shlex.quote(in_path)}", None)
        if rc != 0:
            raise AnsibleError(f"failed to read {in_path} on node {self._settings().node} (exit {rc}): "
                               f"{to_text(stderr).strip()}")
        with open(out_path, "wb") as target:
            target.write(stdout)

    def reset(self) -> None:
        """``meta: reset_connection``: delete the host's pod now, so that the next task gets a new one (after a
        reboot, the old pod belongs to the old boot)."""
        settings = self._settings()
        try:
            self._pods = self._pods or NodePods(self._client())
            deleted = self._pods.delete_run(settings.namespace, settings.node)
        except NodepatchError as error:
            raise AnsibleConnectionFailure(f"nodepatch.kube.node: {error}") from None
        finally:
            self.close()
        display.vvv(f"NODE POD deleted: {', '.join(deleted) or 'none'}", host=settings.node)

    def close(self) -> None:
        if self._pods is not None:
            self._pods.close()
        self._pods = None
        self._pod = None
        self._connected = False
