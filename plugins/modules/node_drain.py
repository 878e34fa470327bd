#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: node_drain
short_description: Cordon, drain (respecting PodDisruptionBudgets) or uncordon a Kubernetes node
version_added: 0.1.0
description:
  - V(cordoned) marks the node unschedulable; V(drained) cordons it and removes its pods through the Eviction API,
    as C(kubectl drain) does, so the API server enforces PodDisruptionBudgets; V(uncordoned) makes it schedulable
    again.
  - Pod rules follow C(kubectl drain) - DaemonSet pods are skipped with O(ignore_daemonsets) (a pod whose DaemonSet
    no longer exists needs O(force)), mirror pods of static pods are always skipped, pods without a controller
    need O(force), pods with emptyDir volumes need O(delete_emptydir_data), finished pods (C(Succeeded),
    C(Failed)) are deleted. A pod that may not be removed fails the task B(before the cordon), so a drain that
    cannot succeed changes nothing; the error lists every such pod with every rule it breaks.
  - Evictions run concurrently (O(eviction_concurrency)). An eviction a PodDisruptionBudget refuses (HTTP 429) is
    asked again as soon as a budget in the pod's namespace allows a disruption (one watch on the budgets' status,
    started at the first refusal), at the latest after O(eviction_retry_delay) seconds, until O(timeout); the
    failure then names each budget with its numbers, the pods it refused, and the pods still on the node. The node
    stays cordoned.
  - Deletion is awaited with one watch on the node's pods, comparing UIDs, so a StatefulSet pod recreated under
    the same name counts as gone. Evictions and deletions carry the pod's UID as a precondition, so a new pod
    that took an old pod's name is never removed by mistake. Pods already terminating are awaited, not evicted
    again.
  - Cordoning records on the node, in the annotation C(nodepatch.kube/was-unschedulable) and in the same patch
    as C(spec.unschedulable), whether the node was already cordoned before; a re-cordon keeps the first record.
    V(uncordoned) then leaves an administrator's cordon alone unless O(force_uncordon=true), and removes the
    annotation. A cordoned node without the annotation counts as cordoned by an administrator.
  - Node patches carry the C(resourceVersion) that was read; a conflicting concurrent change re-reads and retries.
  - O(annotations), O(labels), O(held_annotations) and O(restored_annotations) work as in
    M(nodepatch.kube.node_metadata) and go in the same patch as the cordon (V(cordoned), V(drained)) or the uncordon
    (V(uncordoned), also when an administrator's cordon is kept). So a node is never cordoned without the marks a
    role sets with them, and one request does both. A drain refused before the cordon writes neither.
  - See the collection's C(docs/drain.md) for the differences to C(kubectl drain).
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube
  - nodepatch.kube.node_metadata
  - nodepatch.kube.attributes
options:
  name:
    description: The node.
    type: str
    required: true
  state:
    description: What the node should be.
    type: str
    choices: [cordoned, drained, uncordoned]
    default: drained
  grace_period:
    description:
      - Seconds each pod gets to terminate; V(-1) uses each pod's own C(terminationGracePeriodSeconds).
      - V(0) is sent as it is, which the API server treats as an immediate deletion, as C(kubectl drain
        --grace-period=0) does.
    type: int
    default: -1
  timeout:
    description: Seconds the whole drain may take, including eviction retries and waiting for the pods to go.
    type: int
    default: 300
  pod_selector:
    description: Only pods matching this label selector are considered; the others stay on the node.
    type: str
  ignore_daemonsets:
    description: Skip DaemonSet-managed pods (they would come straight back); without it they fail the drain.
    type: bool
    default: true
  delete_emptydir_data:
    description: Evict pods using emptyDir volumes; their data is lost.
    type: bool
    default: false
  force:
    description: Also remove pods no controller manages; they are not recreated.
    type: bool
    default: false
  disable_eviction:
    description: Delete pods directly instead of evicting them, bypassing PodDisruptionBudgets. Explicit opt-in only.
    type: bool
    default: false
  eviction_retry_delay:
    description:
      - The longest wait, in seconds, before an eviction a PodDisruptionBudget refused is asked again.
      - It is asked again sooner when the watch on the budgets sees one in its namespace allow a disruption.
    type: float
    default: 5
  eviction_concurrency:
    description: Evictions in flight at once.
    type: int
    default: 16
  skip_wait_for_delete_timeout:
    description:
      - Pods whose deletion started more than this many seconds ago count as gone (stuck in Terminating on an
        unreachable kubelet), as C(kubectl drain --skip-wait-for-delete-timeout). V(0) waits for every pod.
    type: int
    default: 0
  force_uncordon:
    description: With V(uncordoned), also uncordon a node that was cordoned before nodepatch cordoned it.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Lists what would be evicted and writes nothing.
  diff_mode:
    support: full
    details: Shows C(spec.unschedulable), the C(nodepatch.kube/was-unschedulable) annotation and the annotations and
      labels the metadata options manage, before and after.
  idempotent:
    support: full
    details: A drained node with nothing left to evict, or a cordoned or uncordoned node in that state, reports
      no change.
"""

EXAMPLES = r"""
- name: Drain the node, waiting up to 10 minutes for PodDisruptionBudgets
  nodepatch.kube.node_drain:
    name: aks-nodepool1-12345678-vmss000000
    state: drained
    timeout: 600
    delete_emptydir_data: true

- name: Uncordon it again (an administrator's cordon stays)
  nodepatch.kube.node_drain:
    name: aks-nodepool1-12345678-vmss000000
    state: uncordoned

- name: Cordon and drain, marking the node as kured does and keeping the autoscaler off it, in the cordon's patch
  nodepatch.kube.node_drain:
    name: aks-nodepool1-12345678-vmss000000
    annotations:
      weave.works/kured-reboot-in-progress: "2024-05-31T06:31:37Z"
    held_annotations:
      cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"

- name: Uncordon, clearing the mark and giving the autoscaler's annotation back, in one patch
  nodepatch.kube.node_drain:
    name: aks-nodepool1-12345678-vmss000000
    state: uncordoned
    annotations:
      weave.works/kured-reboot-in-progress: null
    restored_annotations:
      - cluster-autoscaler.kubernetes.io/scale-down-disabled
"""

RETURN = r"""
evicted:
  description: Pods evicted (namespace/name); in check mode, those that would be.
  returned: always
  type: list
  elements: str
  sample: [shop/web-7d9f8-abcde]
deleted:
  description: Pods deleted directly - finished pods, or all with O(disable_eviction); in check mode, those that would be.
  returned: always
  type: list
  elements: str
terminating:
  description: Pods that were already terminating when the drain started; awaited, not evicted again.
  returned: always
  type: list
  elements: str
left_on_node:
  description:
    - Pods left on the node, each with the reason (DaemonSet pods, mirror pods of static pods).
    - Called C(skipped) in 0.1.0, the key by which Ansible marks a whole task as skipped.
  returned: always
  type: list
  elements: dict
  sample: [{pod: kube-system/kured-x7k2p, reason: managed by DaemonSet kured}]
refused:
  description: Pods that may not be removed with the options given, each with the rules they break.
  returned: when the drain is refused
  type: list
  elements: dict
  sample: [{pod: shop/debug, reason: "has no controller, so nothing would recreate it (set force to remove it)"}]
blocking_pdbs:
  description:
    - PodDisruptionBudgets that refused evictions until the timeout, with the pods they refused.
    - In check mode, the budgets covering pods to evict that allow no disruption right now.
  returned: always
  type: list
  elements: dict
  sample: [{name: web-pdb, namespace: shop, min_available: "3", max_unavailable: null, disruptions_allowed: 0,
            current_healthy: 3, desired_healthy: 3, pods: [shop/web-7d9f8-abcde]}]
pods_remaining:
  description: Every pod still on the node when evictions timed out.
  returned: when a PodDisruptionBudget blocked the drain
  type: list
  elements: str
was_unschedulable:
  description: Whether the node was cordoned before nodepatch cordoned it (an administrator's cordon).
  returned: always
  type: bool
unschedulable:
  description: Whether the node is cordoned after the task.
  returned: success
  type: bool
duration_seconds:
  description: How long the task took.
  returned: always
  type: float
message:
  description: What happened to the node, for example C(drained), C(already drained), or why it was left cordoned.
  returned: success
  type: str
  sample: "left cordoned: it was cordoned before nodepatch came, by an administrator or another tool (set force_uncordon to uncordon it anyway)"
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.drain import WAS_UNSCHEDULABLE, DrainOptions, NodeDrainer
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube_module import KubeModule
from ansible_collections.nodepatch.kube.plugins.module_utils.metadata import METADATA_ARGUMENT_SPEC, MetadataRequest
from ansible_collections.nodepatch.kube.plugins.module_utils.selectors import check_selector


def main() -> None:
    module = KubeModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["cordoned", "drained", "uncordoned"], default="drained"),
            grace_period=dict(type="int", default=-1),
            timeout=dict(type="int", default=300),
            pod_selector=dict(type="str"),
            ignore_daemonsets=dict(type="bool", default=True),
            delete_emptydir_data=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            disable_eviction=dict(type="bool", default=False),
            eviction_retry_delay=dict(type="float", default=5),
            eviction_concurrency=dict(type="int", default=16),
            skip_wait_for_delete_timeout=dict(type="int", default=0),
            force_uncordon=dict(type="bool", default=False),
            **METADATA_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["grace_period"] < -1:
        module.fail_json(msg=f"grace_period must be -1 (each pod's own) or 0 and more, got {params['grace_period']}")
    for option in ("timeout", "eviction_retry_delay", "eviction_concurrency"):
        if params[option] <= 0:
            module.fail_json(msg=f"{option} must be greater than 0, got {params[option]}")
    if params["skip_wait_for_delete_timeout"] < 0:
        module.fail_json(msg="skip_wait_for_delete_timeout must be 0 (wait for every pod) or more")
    try:
        check_selector("pod_selector", params["pod_selector"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    options = DrainOptions(
        grace_period=params["grace_period"], timeout=params["timeout"], pod_selector=params["pod_selector"],
        ignore_daemonsets=params["ignore_daemonsets"], delete_emptydir_data=params["delete_emptydir_data"],
        force=params["force"], disable_eviction=params["disable_eviction"],
        eviction_retry_delay=params["eviction_retry_delay"],
        skip_wait_for_delete_timeout=params["skip_wait_for_delete_timeout"],
        concurrency=params["eviction_concurrency"])
    module.parallel_requests = params["eviction_concurrency"]
    try:
        metadata = MetadataRequest.from_params(params, f"node/{params['name']}", reserved=[WAS_UNSCHEDULABLE])
        result = NodeDrainer(module.client, params["name"], check_mode=module.check_mode, metadata=metadata).ensure(
            params["state"], options, force_uncordon=params["force_uncordon"])
    except NodepatchError as error:
        module.fail_from(error)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    change = result.pop("diff")
    module.exit_json(diff=DiffRecorder.between(change["before"], change["after"]), **result)


if __name__ == "__main__":
    main()
