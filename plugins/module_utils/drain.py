# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cordon, drain through the Eviction API, uncordon — with kubectl drain's pod rules, and remembering an
administrator's cordon on the node itself so a later run (or another tool) knows not to undo it."""

from __future__ import annotations

import concurrent.futures
import datetime
import threading
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.selectors import selector_matches

WAS_UNSCHEDULABLE = "nodepatch.kube/was-unschedulable"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FINISHED_PHASES = ("Succeeded", "Failed")


@dataclass
class DrainOptions:
    grace_period: int = -1
    timeout: float = 300
    pod_selector: str | None = None
    ignore_daemonsets: bool = True
    delete_emptydir_data: bool = False
    force: bool = False
    disable_eviction: bool = False
    eviction_retry_delay: float = 5
    skip_wait_for_delete_timeout: int = 0
    concurrency: int = 16


@dataclass
class PodPlan:
    evict: list[t.Any] = field(default_factory=list)
    delete: list[t.Any] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)


def pod_ref(pod: t.Any) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def controller_of(pod: t.Any) -> t.Any:
    return next((owner for owner in pod.metadata.owner_references or [] if owner.controller), None)


def plan_pods(pods: t.Iterable[t.Any], options: DrainOptions) -> PodPlan:
    """Sort the node's pods the way kubectl drain does: which to evict, delete, skip, or refuse to touch."""
    plan = PodPlan()
    for pod in pods:
        ref = pod_ref(pod)
        if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
            plan.skipped.append({"pod": ref, "reason": "mirror pod of a static pod; the kubelet owns it"})
            continue
        controller = controller_of(pod)
        finished = pod.status is not None and pod.status.phase in FINISHED_PHASES
        if controller is not None and controller.kind == "DaemonSet":
            if options.ignore_daemonsets:
                plan.skipped.append({"pod": ref, "reason": f"managed by DaemonSet {controller.name}"})
            else:
                plan.refused.append({"pod": ref, "reason": "managed by a DaemonSet (set ignore_daemonsets)"})
            continue
        if finished:
            plan.delete.append(pod)
            continue
        if controller is None and not options.force:
            plan.refused.append({"pod": ref, "reason": "not managed by a controller, it would not come back "
                                                       "(set force to delete it)"})
            continue
        if any(volume.empty_dir is not None for volume in pod.spec.volumes or []) and not options.delete_emptydir_data:
            plan.refused.append({"pod": ref, "reason": "uses emptyDir, whose data would be lost "
                                                       "(set delete_emptydir_data)"})
            continue
        plan.evict.append(pod)
    return plan


def describe_pdb(pdb: t.Any) -> str:
    spec, status = pdb.spec, pdb.status
    rule = (f"minAvailable {spec.min_available}" if spec.min_available is not None
            else f"maxUnavailable {spec.max_unavailable}")
    if status is None:
        return f"PodDisruptionBudget {pdb.metadata.namespace}/{pdb.metadata.name} ({rule})"
    return (f"PodDisruptionBudget {pdb.metadata.namespace}/{pdb.metadata.name} allows "
            f"{status.disruptions_allowed} disruption(s) ({rule}, {status.current_healthy} healthy, "
            f"{status.desired_healthy} needed)")


def pdb_summary(pdb: t.Any) -> dict[str, t.Any]:
    status = pdb.status
    return {"name": pdb.metadata.name, "namespace": pdb.metadata.namespace,
            "min_available": None if pdb.spec.min_available is None else str(pdb.spec.min_available),
            "max_unavailable": None if pdb.spec.max_unavailable is None else str(pdb.spec.max_unavailable),
            "disruptions_allowed": status.disruptions_allowed if status else None,
            "current_healthy": status.current_healthy if status else None,
            "desired_healthy": status.desired_healthy if status else None}


class NodeDrainer:
    def __init__(self, client: t.Any, node: str, check_mode: bool = False) -> None:
        self.client = client
        self.node = node
        self.target = f"node/{node}"
        self.check_mode = check_mode

    def read_node(self) -> t.Any:
        return self.client.call(self.client.core.read_node, self.node, target=self.target, action="read")

    # ---------------------------------------------------------------- cordon / uncordon

    def cordon(self) -> tuple[bool, bool]:
        """Cordon; returns (changed, was_unschedulable before we first came)."""
        node = self.read_node()
        annotations = node.metadata.annotations or {}
        recorded = annotations.get(WAS_UNSCHEDULABLE)
        was = recorded == "true" if recorded is not None else bool(node.spec.unschedulable)
        patch: dict[str, t.Any] = {}
        if not node.spec.unschedulable:
            patch["spec"] = {"unschedulable": True}
        if recorded is None:
            patch["metadata"] = {"annotations": {WAS_UNSCHEDULABLE: "true" if was else "false"}}
        if patch and not self.check_mode:
            self.client.call(self.client.core.patch_node, self.node, patch, target=self.target, action="cordon")
        return bool(patch.get("spec")), was

    def uncordon(self, force: bool = False) -> tuple[bool, bool, str]:
        """Uncordon unless an administrator had cordoned the node; returns (changed, was_unschedulable, message)."""
        node = self.read_node()
        recorded = (node.metadata.annotations or {}).get(WAS_UNSCHEDULABLE)
        admin_cordon = recorded == "true" or (recorded is None and bool(node.spec.unschedulable))
        patch: dict[str, t.Any] = {}
        if recorded is not None:
            patch["metadata"] = {"annotations": {WAS_UNSCHEDULABLE: None}}
        if node.spec.unschedulable and (force or not admin_cordon):
            patch["spec"] = {"unschedulable": None}
            message = "uncordoned"
        elif node.spec.unschedulable:
            message = "left cordoned: it was cordoned before nodepatch came (set force_uncordon to override)"
        else:
            message = "already schedulable"
        if patch and not self.check_mode:
            self.client.call(self.client.core.patch_node, self.node, patch, target=self.target, action="uncordon")
        return "spec" in patch, admin_cordon, message

    # ---------------------------------------------------------------- drain

    def pods_on_node(self, label_selector: str | None = None) -> t.Any:
        return self.client.call(self.client.core.list_pod_for_all_namespaces, target=self.target,
                                action="list the pods of", field_selector=f"spec.nodeName={self.node}",
                                label_selector=label_selector or None)

    def drain(self, options: DrainOptions) -> dict[str, t.Any]:
        started = time.monotonic()
        deadline = started + options.timeout
        pods = self.pods_on_node(options.pod_selector)
        plan = plan_pods(pods.items, options)
        result: dict[str, t.Any] = {"evicted": [], "deleted": [], "skipped": plan.skipped, "blocking_pdbs": []}
        if plan.refused:
            raise NodepatchError(
                "cannot drain: " + "; ".join(f"{entry['pod']} {entry['reason']}" for entry in plan.refused),
                target=self.target, hint="nothing was evicted", details={**result, "refused": plan.refused})
        if self.check_mode:
            result["evicted"] = [pod_ref(pod) for pod in plan.evict]
            result["deleted"] = [pod_ref(pod) for pod in plan.delete]
            return result
        for pod in plan.delete:
            self._delete(pod, options)
            result["deleted"].append(pod_ref(pod))
        if options.disable_eviction:
            for pod in plan.evict:
                self._delete(pod, options)
                result["deleted"].append(pod_ref(pod))
        blocked: dict[str, t.Any] = {}
        lock = threading.Lock()
        if plan.evict and not options.disable_eviction:
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
                futures = {pool.submit(self._evict_until_accepted, pod, options, deadline, blocked, lock): pod
                           for pod in plan.evict}
                for future in concurrent.futures.as_completed(futures):
                    if future.result():
                        result["evicted"].append(pod_ref(futures[future]))
        if blocked:
            budgets = self._pdbs_for(list(blocked.values()))
            result["blocking_pdbs"] = [pdb_summary(pdb) for pdb in budgets]
            still = sorted(blocked)
            reasons = "; ".join(describe_pdb(pdb) for pdb in budgets)
            raise NodepatchError(
                f"drain timed out after {options.timeout:g} s: {len(still)} pod(s) could not be evicted "
                f"({', '.join(still[:10])}{' …' if len(still) > 10 else ''}): {reasons or 'eviction refused'}",
                target=self.target, hint="the budget would be violated; the node stays as it was, scale the "
                "workload or relax the PodDisruptionBudget", details=result)
        gone = [(pod.metadata.namespace, pod.metadata.name, pod.metadata.uid) for pod in plan.evict + plan.delete]
        self._wait_until_gone(gone, deadline, options.skip_wait_for_delete_timeout, result)
        return result

    def _delete(self, pod: t.Any, options: DrainOptions) -> None:
        body = {"gracePeriodSeconds": options.grace_period} if options.grace_period >= 0 else {}
        try:
            self.client.call(self.client.core.delete_namespaced_pod, pod.metadata.name, pod.metadata.namespace,
                             body=body, target=f"pod {pod_ref(pod)}", action="delete")
        except NodepatchError as error:
            if error.details.get("status") != 404:
                raise

    def _evict_until_accepted(self, pod: t.Any, options: DrainOptions, deadline: float,
                              blocked: dict[str, t.Any], lock: threading.Lock) -> bool:
        """Evict; a 429 means a PodDisruptionBudget says not now: retry until the deadline."""
        ref = pod_ref(pod)
        body: dict[str, t.Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                                  "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace}}
        if options.grace_period >= 0:
            body["deleteOptions"] = {"gracePeriodSeconds": options.grace_period}
        while True:
            try:
                self.client.call(self.client.core.create_namespaced_pod_eviction, pod.metadata.name,
                                 pod.metadata.namespace, body, target=f"pod {ref}", action="evict", retry_429=False)
            except NodepatchError as error:
                status = error.details.get("status")
                if status == 404:
                    return False
                if status != 429:
                    raise
                if time.monotonic() + options.eviction_retry_delay > deadline:
                    with lock:
                        blocked[ref] = pod
                    return False
                time.sleep(options.eviction_retry_delay)
                continue
            with lock:
                blocked.pop(ref, None)
            return True

    def _pdbs_for(self, pods: list[t.Any]) -> list[t.Any]:
        found: dict[str, t.Any] = {}
        for namespace in sorted({pod.metadata.namespace for pod in pods}):
            budgets = self.client.call(self.client.policy.list_namespaced_pod_disruption_budget, namespace,
                                       target=f"namespace {namespace}", action="list the PodDisruptionBudgets of")
            for pdb in budgets.items:
                if any(pod.metadata.namespace == namespace and selector_matches(pdb.spec.selector,
                                                                               pod.metadata.labels or {})
                       for pod in pods):
                    found[f"{namespace}/{pdb.metadata.name}"] = pdb
        return list(found.values())

    def _wait_until_gone(self, pods: list[tuple[str, str, str]], deadline: float, skip_after: int,
                         result: dict[str, t.Any]) -> None:
        """Follow one watch on the node's pods until every evicted pod (by UID: a StatefulSet pod recreated under
        the same name is a different pod) is deleted."""
        from kubernetes import watch  # pylint: disable=import-outside-toplevel

        pending = {uid: f"{namespace}/{name}" for namespace, name, uid in pods}
        while pending:
            listing = self.pods_on_node()
            present = {pod.metadata.uid: pod for pod in listing.items}
            for uid in list(pending):
                pod = present.get(uid)
                if pod is None or deleted_long_ago(pod, skip_after):
                    pending.pop(uid)
            remaining = deadline - time.monotonic()
            if not pending:
                return
            if remaining <= 0:
                raise NodepatchError(
                    f"drain timed out: {len(pending)} evicted pod(s) still terminating: "
                    f"{', '.join(sorted(pending.values())[:10])}", target=self.target,
                    hint="raise timeout, or skip_wait_for_delete_timeout for pods stuck in Terminating",
                    details=result)
            stream = watch.Watch()
            try:
                for event in stream.stream(self.client.core.list_pod_for_all_namespaces,
                                           field_selector=f"spec.nodeName={self.node}",
                                           resource_version=listing.metadata.resource_version,
                                           timeout_seconds=max(1, int(min(remaining, 30)))):
                    pod = event["object"]
                    if event["type"] == "DELETED" or deleted_long_ago(pod, skip_after):
                        pending.pop(pod.metadata.uid, None)
                    if not pending:
                        break
            except Exception:  # pylint: disable=broad-exception-caught
                # An expired resourceVersion or a dropped connection: list again and re-watch.
                time.sleep(0.2)
            finally:
                stream.stop()


def deleted_long_ago(pod: t.Any, skip_after: int) -> bool:
    stamp = pod.metadata.deletion_timestamp
    if not skip_after or stamp is None:
        return False
    age = datetime.datetime.now(datetime.timezone.utc) - stamp
    return age.total_seconds() > skip_after
