#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: node_lock
short_description: Acquire, release or inspect the cluster-wide reboot lock, compatible with kured
version_added: 0.1.0
description:
  - The lock that keeps reboots apart. With O(backend=daemonset) it is the annotation kured uses on its own
    DaemonSet, in exactly kured's JSON, so this collection and kured can share one cluster without rebooting more
    nodes at once than allowed.
  - Writes are read-modify-write on the object's resourceVersion; a conflict re-reads and retries.
  - Expired entries and repeated holders are pruned when writing. A holder whose Node no longer exists is
    reported as stale and taken over only with O(break_stale=true).
  - Not getting the lock within O(wait_timeout) is a result (RV(acquired=false)), not a failure.
  - A roll-out can be stopped on the lock with O(state=stopped). The annotation C(nodepatch.kube/rollout-stopped) on
    the DaemonSet (or on the Lease named O(lease_name)) names the node whose failure stopped it. While it is there,
    O(state=acquired) refuses at once, for every holder (RV(acquired=false), RV(stop) set), and the node it names
    keeps its entry when it releases, so a kured sharing the lock stays held off too (kured itself ignores the
    annotation). O(state=resumed) clears the stop, and with it the entry its node kept only for the stop.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.kube
  - nodepatch.kube.attributes
options:
  holder:
    description:
      - Who takes or gives back the lock, usually the node name (kured's C(nodeID)); with O(state=stopped), the
        node whose failure stops the roll-out.
      - Required unless O(state=resumed).
    type: str
  state:
    description:
      - V(acquired) takes the lock (re-entrant), V(released) gives it back, V(inspected) only reports the holders
        and the stop.
      - V(stopped) marks the roll-out stopped by O(holder), leaving the holders as they are; the first stop stays,
        a later one changes nothing and reports the first.
      - V(resumed) clears the stop, whoever wrote it, and releases the entry of the node it names when that node
        kept it only for the stop (it released while stopped); an entry of a node that went down for its reboot
        stays until that node releases it.
    type: str
    choices: [acquired, released, inspected, stopped, resumed]
    default: acquired
  stop_phase:
    description: With O(state=stopped), the phase the node failed in, recorded with the stop.
    type: str
    default: ""
  stop_reason:
    description: With O(state=stopped), why the node failed, recorded with the stop (keep it short).
    type: str
    default: ""
  backend:
    description:
      - V(daemonset) is kured's lock, an annotation on a DaemonSet.
      - V(lease) uses coordination.k8s.io/v1 Leases, one per slot, named O(lease_name)-0 to O(lease_name)-N-1.
    type: str
    choices: [daemonset, lease]
    default: daemonset
  namespace:
    description: Namespace of the DaemonSet or Leases.
    type: str
    default: kube-system
  daemonset:
    description: DaemonSet carrying the lock annotation (kured's C(--ds-name)).
    type: str
    default: kured
  annotation:
    description: Annotation holding the lock (kured's C(--lock-annotation)).
    type: str
    default: weave.works/kured-node-lock
  lease_name:
    description: Name prefix of the Leases for O(backend=lease).
    type: str
    default: nodepatch-reboot
  max_holders:
    description:
      - How many holders the lock allows (kured's C(--concurrency)). 1 writes kured's single-holder form,
        more its C({"maxOwners":N,"locks":[...]}) form. Use the same number as any kured sharing the lock.
    type: int
    default: 1
  ttl:
    description:
      - How long an acquired lock lives, in seconds or as a duration like V(30m) or V(1h) (kured's
        C(--lock-ttl)); V(0) never expires.
    type: str
    default: "0"
  wait_timeout:
    description: Seconds to wait for a free place; V(0) tries once.
    type: int
    default: 0
  wait_sleep:
    description: Seconds between attempts while waiting.
    type: float
    default: 5
  break_stale:
    description:
      - Take over places held by holders whose Node object no longer exists (stale holders).
      - Without it a stale holder is reported (RV(holders[].stale)) and still counts.
    type: bool
    default: false
  metadata_unschedulable:
    description:
      - What to record as C(metadata.unschedulable) in the lock entry, that is whether the node was cordoned
        before the reboot started.
      - By default it is read from the holder's Node (V(false) when the holder is not a node).
    type: bool
  clear_node_annotations:
    description:
      - With O(state=released), annotations to remove from the Node named O(holder) right after the release (the
        marks from which a re-run resumes a reboot until its lock is released), also when it held nothing and when
        a stop keeps its place. A holder without a Node has none to remove.
      - Saves a M(nodepatch.kube.node_metadata) task after each release; any other O(state) refuses it.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Reports whether the lock would be acquired or released, and writes nothing.
  diff_mode:
    support: full
    details: Shows the holders before and after.
  idempotent:
    support: full
    details: Acquiring a lock already held, releasing one not held, stopping a stopped roll-out or resuming one not
      stopped changes nothing.
"""

EXAMPLES = r"""
- name: Take kured's lock for this node, waiting up to an hour
  nodepatch.kube.node_lock:
    holder: "{{ inventory_hostname }}"
    wait_timeout: 3600
    ttl: 2h
  delegate_to: localhost
  register: lock

- name: Give it back
  nodepatch.kube.node_lock:
    holder: "{{ inventory_hostname }}"
    state: released
  delegate_to: localhost

- name: Stop the roll-out after this node failed, so that no node takes the lock until the stop is cleared
  nodepatch.kube.node_lock:
    holder: "{{ inventory_hostname }}"
    state: stopped
    stop_phase: drain
    stop_reason: PodDisruptionBudget web-pdb allows 0 disruptions
  delegate_to: localhost

- name: Clear the stop at the start of the next roll-out
  nodepatch.kube.node_lock:
    state: resumed
  delegate_to: localhost
  run_once: true

- name: Allow three nodes at once with Leases
  nodepatch.kube.node_lock:
    holder: aks-nodepool1-12345678-vmss000002
    backend: lease
    max_holders: 3
"""

RETURN = r"""
acquired:
  description:
    - Whether O(holder) holds the lock after the task (V(false) after O(state=released)).
    - V(false) with O(state=acquired) means the lock stayed full for O(wait_timeout); RV(message) names the holders.
  returned: always
  type: bool
  sample: true
holders:
  description: The holders after the task.
  returned: always
  type: list
  elements: dict
  contains:
    holder:
      description: Holder name (kured's nodeID).
      type: str
    created:
      description: When the entry was written (RFC 3339, nanoseconds); for Leases, the acquireTime.
      type: str
    ttl_seconds:
      description: Time to live of the entry; 0 never expires.
      type: float
    unschedulable:
      description: Whether the node was cordoned before the reboot started (kured's metadata).
      type: bool
    expired:
      description: Whether the entry has outlived its TTL.
      type: bool
    stale:
      description: Whether the holder's Node object no longer exists.
      type: bool
    slot:
      description: The Lease holding the entry (O(backend=lease) only).
      type: str
      returned: when O(backend=lease)
  sample: [{holder: n1, created: "2024-05-31T06:31:37.441623522Z", ttl_seconds: 0, unschedulable: false,
            expired: false, stale: false}]
stop:
  description:
    - The stop of the roll-out after the task, V(null) when it is not stopped; with O(state=resumed), V(null).
  returned: always
  type: dict
  contains:
    node:
      description: The node whose failure stopped the roll-out.
      type: str
    phase:
      description: The phase it failed in, as recorded.
      type: str
    reason:
      description: Why it failed, as recorded.
      type: str
    created:
      description: When the stop was written (RFC 3339, nanoseconds, UTC).
      type: str
    release_with_stop:
      description: Whether the node's entry in the lock goes when the stop is cleared.
      type: bool
  sample: {node: n3, phase: drain, reason: "PodDisruptionBudget web-pdb allows 0 disruptions",
           created: "2026-12-01T17:40:00.123456789Z", release_with_stop: true}
node_annotations_cleared:
  description: Which of O(clear_node_annotations) the holder's Node had, and so were removed (would be, in check mode).
  returned: unless O(state=inspected); empty unless O(state=released)
  type: list
  elements: str
  sample: [nodepatch.kube/boot-id-before]
message:
  description: What happened, in a sentence (who holds the lock when it was not acquired).
  returned: always
  type: str
  sample: "the lock is full (1 of 1): held by n2"
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.durations import parse_duration
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.k8s_names import check_keys
from ansible_collections.nodepatch.kube.plugins.module_utils.kube_module import KubeModule
from ansible_collections.nodepatch.kube.plugins.module_utils.lock import LockSettings, RebootLock
from ansible_collections.nodepatch.kube.plugins.module_utils.metadata import MetadataRequest, set_node_metadata


def clear_marks(module: KubeModule, holder: str, marks: MetadataRequest) -> dict[str, str]:
    """Removes ``marks`` from the holder's Node; returns those it had, with their values."""
    try:
        change = set_node_metadata(module.client, holder, marks, module.check_mode)
    except NodepatchError as error:
        if error.is_not_found:
            return {}
        raise
    return {key: value for key, value in change.diff.before["annotations"].items() if value is not None}


def main() -> None:
    module = KubeModule(
        argument_spec=dict(
            holder=dict(type="str"),
            state=dict(type="str", choices=["acquired", "released", "inspected", "stopped", "resumed"],
                       default="acquired"),
            stop_phase=dict(type="str", default=""),
            stop_reason=dict(type="str", default=""),
            backend=dict(type="str", choices=["daemonset", "lease"], default="daemonset"),
            namespace=dict(type="str", default="kube-system"),
            daemonset=dict(type="str", default="kured"),
            annotation=dict(type="str", default="weave.works/kured-node-lock"),
            lease_name=dict(type="str", default="nodepatch-reboot"),
            max_holders=dict(type="int", default=1),
            ttl=dict(type="str", default="0"),
            wait_timeout=dict(type="int", default=0),
            wait_sleep=dict(type="float", default=5),
            break_stale=dict(type="bool", default=False),
            metadata_unschedulable=dict(type="bool"),
            clear_node_annotations=dict(type="list", elements="str", default=[]),
        ),
        required_if=[("state", state, ["holder"]) for state in ("acquired", "released", "inspected", "stopped")],
        supports_check_mode=True,
    )
    params = module.params
    if params["holder"] is not None and not params["holder"].strip():
        module.fail_json(msg="holder is empty: give the node name (kured's nodeID) that holds the lock")
    if params["max_holders"] < 1:
        module.fail_json(msg=f"max_holders must be 1 or more, got {params['max_holders']}")
    if params["wait_timeout"] < 0 or params["wait_sleep"] <= 0:
        module.fail_json(msg=f"wait_timeout must be 0 or more and wait_sleep more than 0 (seconds), got "
                             f"{params['wait_timeout']} and {params['wait_sleep']}")
    if params["clear_node_annotations"] and params["state"] != "released":
        module.fail_json(msg=f"clear_node_annotations is for state=released only, not state={params['state']}: "
                             "the marks go once the lock is given back")
    try:
        ttl = parse_duration(params["ttl"], "ttl")
        check_keys("annotation", {params["annotation"]: None})
    except ValueError as error:
        module.fail_json(msg=str(error))
    settings = LockSettings(params["backend"], params["namespace"], params["daemonset"], params["annotation"],
                            params["lease_name"], params["max_holders"], ttl, params["metadata_unschedulable"])
    holder = params["holder"]
    cleared: dict[str, str] = {}
    try:
        marks = MetadataRequest.from_params({"annotations": dict.fromkeys(params["clear_node_annotations"])},
                                            f"node/{holder}")
        lock = RebootLock(module.client, settings, check_mode=module.check_mode)
        if params["state"] == "acquired":
            result = lock.acquire(holder, params["wait_timeout"], params["wait_sleep"], params["break_stale"])
        elif params["state"] == "released":
            result = lock.release(holder)
            cleared = {} if marks.empty else clear_marks(module, holder, marks)
        elif params["state"] == "stopped":
            result = lock.stop(holder, params["stop_phase"], params["stop_reason"])
        elif params["state"] == "resumed":
            result = lock.resume()
        else:
            holders, stop = lock.inspect()
            module.exit_json(changed=False, acquired=any(entry["holder"] == holder for entry in holders),
                             holders=holders, stop=stop, message=f"{len(holders)} holder(s)"
                             + (f"; the roll-out is stopped by {stop['node']}" if stop else ""))
    except NodepatchError as error:
        module.fail_from(error, acquired=False)
    diff = DiffRecorder({"holders": [entry["holder"] for entry in result.before]})
    diff.set("holders", [entry["holder"] for entry in result.holders])
    if result.stop_before or result.stop:  # a roll-out's stop shows in the diff only where there is one
        diff.record("stop", result.stop_before, result.stop)
    if cleared:
        diff.record("node_annotations", cleared, dict.fromkeys(cleared))
    module.exit_json(
        node_annotations_cleared=sorted(cleared),
        changed=result.changed or bool(cleared),
        acquired=result.acquired,
        holders=result.holders,
        stop=result.stop,
        message=result.message,
        diff=diff,
    )


if __name__ == "__main__":
    main()
