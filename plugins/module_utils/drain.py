# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cordon, drain through the Eviction API, uncordon — with kubectl drain's pod rules, and remembering an
administrator's cordon on the node itself so that a later run (or another tool) knows not to undo it.

The pod rules (``decide``, ``plan_pods``) are pure functions over pod objects, so unit tests cover them without a
cluster; ``NodeDrainer`` does the API calls."""

from __future__ import annotations

import concurrent.futures
import datetime
import threading
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.nodepatch.kube.plugins.module_utils.before_marks import BeforeMark
from ansible_collections.nodepatch.kube.plugins.module_utils.budgets import BudgetWatch
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError, is_conflict
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import (
    BUDGETS,
    DAEMONSETS,
    NAMESPACE_TERMINATING,
    NODES,
    PODS,
    KubeClient,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.metadata import MetadataRequest, metadata_of
from ansible_collections.nodepatch.kube.plugins.module_utils.node_pod import is_node_pod
from ansible_collections.nodepatch.kube.plugins.module_utils.retry import call_with_retries
from ansible_collections.nodepatch.kube.plugins.module_utils.selectors import selector_matches
from ansible_collections.nodepatch.kube.plugins.module_utils.watch import follow

WAS_UNSCHEDULABLE = "nodepatch.kube/was-unschedulable"
WAS_UNSCHEDULABLE_MARK: BeforeMark[bool] = BeforeMark(WAS_UNSCHEDULABLE, lambda was: "true" if was else "false",
                                                      lambda raw: raw == "true")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FINISHED_PHASES = ("Succeeded", "Failed")
# A node's resourceVersion moves with every status update; a lost patch re-reads the node at once, 5 tries in all.
CONFLICT_ATTEMPTS = 5

EVICT = "evict"
DELETE = "delete"
SKIP = "skip"
WAIT = "wait"
REFUSE = "refuse"


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


@dataclass(frozen=True)
class PodDecision:
    """What happens to one pod: ``evict``, ``delete`` (finished pods; all with disable_eviction), ``wait`` (already
    terminating: not touched again, only awaited), ``skip`` (stays on the node) or ``refuse`` (fails the drain)."""

    pod: t.Any
    action: str
    reason: str = ""


@dataclass
class PodPlan:
    evict: list[t.Any] = field(default_factory=list)
    delete: list[t.Any] = field(default_factory=list)
    wait: list[t.Any] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def removals(self) -> list[t.Any]:
        return self.evict + self.delete


def cordoned_before(annotations: t.Mapping[str, str] | None, unschedulable: bool) -> bool:
    """Whether the node was cordoned before nodepatch came: our mark where we left one (a node we cordoned is
    cordoned now, yet was not before), else the node as it is — without our mark, a cordon is somebody else's."""
    return WAS_UNSCHEDULABLE_MARK.before(annotations, bool(unschedulable))


def pod_ref(pod: t.Any) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def controller_of(pod: t.Any) -> t.Any:
    return next((owner for owner in pod.metadata.owner_references or [] if owner.controller), None)


def is_finished(pod: t.Any) -> bool:
    return pod.status is not None and pod.status.phase in FINISHED_PHASES


def has_emptydir(pod: t.Any) -> bool:
    return any(volume.empty_dir is not None for volume in (pod.spec.volumes if pod.spec else None) or [])


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def deleted_long_ago(pod: t.Any, skip_after: int, now: datetime.datetime | None = None) -> bool:
    """kubectl's --skip-wait-for-delete-timeout: a pod deleted more than ``skip_after`` seconds ago counts as gone
    (stuck in Terminating on an unreachable kubelet). ``0`` disables it."""
    stamp = pod.metadata.deletion_timestamp
    if skip_after <= 0 or stamp is None:
        return False
    return ((now or utcnow()) - stamp).total_seconds() > skip_after


def decide(pod: t.Any, options: DrainOptions, daemonset_exists: t.Callable[[str, str], bool] | None = None,
           now: datetime.datetime | None = None) -> PodDecision:
    """One pod, by kubectl drain's filters in kubectl's order: deleted long ago, DaemonSet, mirror, emptyDir,
    unmanaged. Every refusal reason is collected so one run tells the whole story."""
    if deleted_long_ago(pod, options.skip_wait_for_delete_timeout, now):
        return PodDecision(pod, SKIP, f"deleted more than {options.skip_wait_for_delete_timeout} s ago "
                                      "(skip_wait_for_delete_timeout)")
    if is_node_pod(pod):
        return PodDecision(pod, SKIP, "node pod of the nodepatch.kube.node connection; the reboot runs through it")
    finished = is_finished(pod)
    controller = controller_of(pod)
    refusals: list[str] = []
    if controller is not None and controller.kind == "DaemonSet" and not finished:
        exists = daemonset_exists(pod.metadata.namespace, controller.name) if daemonset_exists else True
        if not exists:
            if not options.force:
                refusals.append(f"its DaemonSet {controller.name} no longer exists (set force to delete it)")
        elif options.ignore_daemonsets:
            return PodDecision(pod, SKIP, f"managed by DaemonSet {controller.name}")
        else:
            refusals.append(f"managed by DaemonSet {controller.name}, which would recreate it at once "
                            "(set ignore_daemonsets)")
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return PodDecision(pod, SKIP, "mirror pod of a static pod; the kubelet owns it")
    if has_emptydir(pod) and not finished and not options.delete_emptydir_data:
        refusals.append("uses emptyDir, whose data would be lost (set delete_emptydir_data)")
    if controller is None and not finished and not options.force:
        refusals.append("has no controller, so nothing would recreate it (set force to remove it)")
    if refusals:
        return PodDecision(pod, REFUSE, "; ".join(refusals))
    if pod.metadata.deletion_timestamp is not None:
        return PodDecision(pod, WAIT, "already terminating")
    if finished:
        return PodDecision(pod, DELETE, f"finished ({pod.status.phase})")
    if options.disable_eviction:
        return PodDecision(pod, DELETE, "disable_eviction: deleted without the Eviction API")
    if controller is None:
        return PodDecision(pod, EVICT, "has no controller; it will not be recreated (force)")
    return PodDecision(pod, EVICT)


def plan_pods(pods: t.Iterable[t.Any], options: DrainOptions,
              daemonset_exists: t.Callable[[str, str], bool] | None = None,
              now: datetime.datetime | None = None) -> PodPlan:
    """Sort the node's pods the way kubectl drain does: which to evict, delete, await, skip, or refuse to touch."""
    plan = PodPlan()
    for pod in pods:
        decision = decide(pod, options, daemonset_exists, now)
        ref = pod_ref(pod)
        if decision.action == SKIP:
            plan.skipped.append({"pod": ref, "reason": decision.reason})
        elif decision.action == REFUSE:
            plan.refused.append({"pod": ref, "reason": decision.reason})
        elif decision.action == WAIT:
            plan.wait.append(pod)
        elif decision.action == DELETE:
            plan.delete.append(pod)
        else:
            plan.evict.append(pod)
            if decision.reason:
                plan.warnings.append(f"{ref} {decision.reason}")
    return plan


def refusal_message(node: str, refused: list[dict[str, str]]) -> str:
    lines = "; ".join(f"{entry['pod']} {entry['reason']}" for entry in refused)
    return f"cannot drain node {node}: {len(refused)} pod(s) may not be removed: {lines}"


def describe_pdb(pdb: t.Any) -> str:
    spec, status = pdb.spec, pdb.status
    rule = (f"minAvailable {spec.min_available}" if spec.min_available is not None
            else f"maxUnavailable {spec.max_unavailable}")
    name = f"PodDisruptionBudget {pdb.metadata.namespace}/{pdb.metadata.name}"
    if status is None:
        return f"{name} ({rule})"
    return (f"{name} allows {status.disruptions_allowed} disruption(s) ({rule}, {status.current_healthy} "
            f"healthy, {status.desired_healthy} needed)")


def pdb_summary(pdb: t.Any, pods: t.Sequence[str] = ()) -> dict[str, t.Any]:
    status = pdb.status
    return {"name": pdb.metadata.name, "namespace": pdb.metadata.namespace,
            "min_available": None if pdb.spec.min_available is None else str(pdb.spec.min_available),
            "max_unavailable": None if pdb.spec.max_unavailable is None else str(pdb.spec.max_unavailable),
            "disruptions_allowed": status.disruptions_allowed if status else None,
            "current_healthy": status.current_healthy if status else None,
            "desired_healthy": status.desired_healthy if status else None,
            "pods": sorted(pods)}


def pdbs_covering(budgets: t.Iterable[t.Any], pods: t.Iterable[t.Any]) -> list[tuple[t.Any, list[str]]]:
    """Each PodDisruptionBudget that selects at least one of the pods, with the pods it selects."""
    pods = list(pods)
    covering = []
    for pdb in budgets:
        selected = [pod_ref(pod) for pod in pods if pod.metadata.namespace == pdb.metadata.namespace
                    and selector_matches(pdb.spec.selector, pod.metadata.labels or {})]
        if selected:
            covering.append((pdb, selected))
    return covering


class NodeDrainer:
    """The API side. ``ensure(state, ...)`` is the whole module: cordoned, drained or uncordoned."""

    def __init__(self, client: KubeClient, node: str, check_mode: bool = False,
                 metadata: MetadataRequest | None = None) -> None:
        self.client = client
        self.node = node
        self.target = f"node/{node}"
        self.check_mode = check_mode
        # Annotations and labels sent in the cordon's or the uncordon's patch: a role's marks cost no request of
        # their own, and a node is never cordoned without them (nor its marks cleared while it stays cordoned).
        self.metadata = metadata if metadata is not None and not metadata.empty else None
        self.metadata_diff: tuple[dict[str, t.Any], dict[str, t.Any]] | None = None
        self._daemonsets: dict[tuple[str, str], bool] = {}

    def read_node(self) -> t.Any:
        return self.client.call(self.client.get, NODES, self.node, target=self.target, action="read")

    # ---------------------------------------------------------------- cordon / uncordon

    def _with_metadata(self, node: t.Any, patch: dict[str, t.Any], annotations: dict[str, str | None]) -> None:
        """Adds to ``patch`` our own ``annotations`` and what self.metadata asks of the node as read."""
        planned: dict[str, dict[str, str | None]] = {}
        if self.metadata is not None:
            current = metadata_of(node)
            planned = self.metadata.patch_for(current)
            self.metadata_diff = self.metadata.diff_between(current, planned)
        changes = {**planned, "annotations": {**planned.get("annotations", {}), **annotations}}
        changes = {kind: values for kind, values in changes.items() if values}
        if changes:
            patch["metadata"] = changes

    def _patch_node(self, node: t.Any, patch: dict[str, t.Any], action: str) -> t.Any:
        """Merge-patch with the resourceVersion we read as a precondition: what we record about the node's
        schedulability must be what it was when we looked. A conflict (HTTP 409) surfaces to the caller."""
        patch.setdefault("metadata", {})["resourceVersion"] = node.metadata.resource_version
        return self.client.call(self.client.patch, NODES, self.node, patch, target=self.target, action=action)

    def _with_conflict_retry(self, step: t.Callable[[t.Any], t.Any], node: t.Any | None = None) -> t.Any:
        """``step`` on the node given (else read), and on a fresh read after each conflict (HTTP 409)."""
        given = [node] if node is not None else []
        return call_with_retries(lambda: step(given.pop() if given else self.read_node()), is_conflict,
                                 attempts=CONFLICT_ATTEMPTS, base=0)

    def cordon(self, node: t.Any | None = None) -> tuple[bool, bool]:
        """Cordon; returns (changed, was_unschedulable before nodepatch first came).

        The annotation is written in the same patch as ``spec.unschedulable``; an existing one is never
        overwritten, so a re-cordon after a crash keeps what the first run saw."""
        def step(current: t.Any) -> tuple[bool, bool]:
            annotations = current.metadata.annotations or {}
            was = cordoned_before(annotations, bool(current.spec.unschedulable))
            patch: dict[str, t.Any] = {}
            if not current.spec.unschedulable:
                patch["spec"] = {"unschedulable": True}
            self._with_metadata(current, patch, WAS_UNSCHEDULABLE_MARK.record(annotations, was))
            if patch and not self.check_mode:
                self._patch_node(current, patch, "cordon")
            return bool(patch), was
        return t.cast("tuple[bool, bool]", self._with_conflict_retry(step, node))

    def uncordon(self, force: bool = False, node: t.Any | None = None) -> tuple[bool, bool, bool, str]:
        """Uncordon unless an administrator had cordoned the node; returns (changed, was_unschedulable,
        unschedulable afterwards, message).
        Without our annotation, a cordoned node counts as an administrator's: not knowing is not a yes."""
        def step(current: t.Any) -> tuple[bool, bool, bool, str]:
            admin_cordon = cordoned_before(current.metadata.annotations, bool(current.spec.unschedulable))
            patch: dict[str, t.Any] = {}
            self._with_metadata(current, patch, WAS_UNSCHEDULABLE_MARK.forget(current.metadata.annotations))
            unschedulable = bool(current.spec.unschedulable)
            if unschedulable and (force or not admin_cordon):
                patch["spec"] = {"unschedulable": None}
                unschedulable = False
                message = "uncordoned" + (" (force_uncordon: it had been cordoned before)" if admin_cordon else "")
            elif current.spec.unschedulable:
                message = ("left cordoned: it was cordoned before nodepatch came, by an administrator or another "
                           "tool (set force_uncordon to uncordon it anyway)")
            else:
                message = "already schedulable"
            if patch and not self.check_mode:
                self._patch_node(current, patch, "uncordon")
            return bool(patch), admin_cordon, unschedulable, message
        return t.cast("tuple[bool, bool, bool, str]", self._with_conflict_retry(step, node))

    # ---------------------------------------------------------------- planning

    def pods_on_node(self, label_selector: str | None = None) -> t.Any:
        return self.client.call(self.client.list, PODS, target=self.target, action="list the pods of",
                                field_selector=f"spec.nodeName={self.node}",
                                label_selector=label_selector or None)

    def daemonset_exists(self, namespace: str, name: str) -> bool:
        key = (namespace, name)
        if key not in self._daemonsets:
            try:
                self.client.call(self.client.get, DAEMONSETS, name, namespace,
                                 target=f"daemonset {namespace}/{name}", action="read")
                self._daemonsets[key] = True
            except NodepatchError as error:
                if not error.is_not_found:
                    raise
                self._daemonsets[key] = False
        return self._daemonsets[key]

    def plan(self, options: DrainOptions) -> PodPlan:
        return plan_pods(self.pods_on_node(options.pod_selector).items, options, self.daemonset_exists)

    def budgets_for(self, pods: t.Sequence[t.Any]) -> list[tuple[t.Any, list[str]]]:
        budgets: list[t.Any] = []
        for namespace in sorted({pod.metadata.namespace for pod in pods}):
            budgets.extend(self.client.call(
                self.client.list, BUDGETS, namespace,
                target=f"namespace {namespace}", action="list the PodDisruptionBudgets of").items)
        return pdbs_covering(budgets, pods)

    # ---------------------------------------------------------------- the states

    def ensure(self, state: str, options: DrainOptions, force_uncordon: bool = False) -> dict[str, t.Any]:
        """The whole module: returns the result (changed, diff, evicted, ...); raises NodepatchError with the
        partial result in ``details``."""
        started = time.monotonic()
        node = self.read_node()
        before = {"unschedulable": bool(node.spec.unschedulable),
                  "annotations": {WAS_UNSCHEDULABLE: (node.metadata.annotations or {}).get(WAS_UNSCHEDULABLE)}}
        result: dict[str, t.Any] = {"evicted": [], "deleted": [], "terminating": [], "left_on_node": [],
                                    "blocking_pdbs": [], "warnings": [], "was_unschedulable": False}

        def finish(changed: bool, unschedulable: bool, annotation: str | None, message: str) -> dict[str, t.Any]:
            after = {"unschedulable": unschedulable, "annotations": {WAS_UNSCHEDULABLE: annotation}}
            if self.metadata_diff is not None:
                before["metadata"], after["metadata"] = self.metadata_diff
            result.update(changed=changed, unschedulable=unschedulable, message=message,
                          diff={"before": before, "after": after},
                          duration_seconds=round(time.monotonic() - started, 3))
            return result

        if state == "uncordoned":
            changed, result["was_unschedulable"], unschedulable, message = self.uncordon(force_uncordon, node)
            return finish(changed, unschedulable, None, message)

        plan = self.plan(options) if state == "drained" else None
        if plan is not None and plan.refused:
            # Before the cordon: a drain that cannot succeed changes nothing.
            result["left_on_node"] = plan.skipped
            raise NodepatchError(refusal_message(self.node, plan.refused), target=self.target,
                                 hint="nothing was cordoned or evicted",
                                 details={**result, "refused": plan.refused})
        cordoned, result["was_unschedulable"] = self.cordon(node)
        annotation = "true" if result["was_unschedulable"] else "false"
        if plan is None:
            return finish(cordoned, True, annotation, "cordoned" if cordoned else "already cordoned")
        if cordoned and before["unschedulable"] is False and not self.check_mode:
            # Pods scheduled between the listing and the cordon are drained too.
            plan = self.plan(options)
            if plan.refused:
                result["left_on_node"] = plan.skipped
                raise NodepatchError(refusal_message(self.node, plan.refused), target=self.target,
                                     hint="the node is now cordoned, nothing was evicted; uncordon it or set the "
                                          "options named", details={**result, "refused": plan.refused})
        result["left_on_node"] = plan.skipped
        result["warnings"] = plan.warnings
        result["terminating"] = [pod_ref(pod) for pod in plan.wait]
        try:
            self.drain(plan, options, result, started)
        except NodepatchError as error:
            error.details = {**result, **error.details,
                             "duration_seconds": round(time.monotonic() - started, 3),
                             "changed": cordoned or bool(result["evicted"] or result["deleted"])}
            raise
        changed = cordoned or bool(result["evicted"] or result["deleted"])
        return finish(changed, True, annotation, "drained" if changed else "already drained")

    # ---------------------------------------------------------------- drain

    def drain(self, plan: PodPlan, options: DrainOptions, result: dict[str, t.Any], started: float) -> None:
        deadline = started + options.timeout
        if self.check_mode:
            result["evicted"] = [pod_ref(pod) for pod in plan.evict]
            result["deleted"] = [pod_ref(pod) for pod in plan.delete]
            if plan.evict:
                result["blocking_pdbs"] = [
                    pdb_summary(pdb, pods) for pdb, pods in self.budgets_for(plan.evict)
                    if pdb.status is not None and not pdb.status.disruptions_allowed]
            return
        for pod in plan.delete:
            if self._delete(pod, options):
                result["deleted"].append(pod_ref(pod))
        blocked = self._evict_all(plan.evict, options, deadline, result)
        if blocked:
            self._fail_blocked(blocked, options, result)
        self.wait_until_gone(plan.removals + plan.wait, deadline, options.skip_wait_for_delete_timeout)

    def _evict_all(self, pods: list[t.Any], options: DrainOptions, deadline: float,
                   result: dict[str, t.Any]) -> dict[str, tuple[t.Any, str]]:
        """Evict concurrently (bounded); returns the pods a 429 kept refusing until the deadline, with the last
        refusal message. A non-retryable error stops the other workers and is raised."""
        blocked: dict[str, tuple[t.Any, str]] = {}
        if not pods:
            return blocked
        abort = threading.Event()
        lock = threading.Lock()
        budgets = BudgetWatch(self.client, deadline)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(options.concurrency, len(pods)))) as pool:
            futures = {pool.submit(self._evict_until_accepted, pod, options, deadline, abort, budgets): pod
                       for pod in pods}
            failure: NodepatchError | None = None
            for future in concurrent.futures.as_completed(futures):
                pod = futures[future]
                try:
                    outcome, message = future.result()
                except NodepatchError as error:
                    abort.set()
                    budgets.wake()
                    failure = failure or error
                    continue
                with lock:
                    if outcome == "evicted":
                        result["evicted"].append(pod_ref(pod))
                    elif outcome == "blocked":
                        blocked[pod_ref(pod)] = (pod, message)
        budgets.stop()
        if budgets.error:
            result["warnings"].append(f"refused evictions were asked again every {options.eviction_retry_delay:g} s, "
                                      f"not as soon as a budget allowed it, as the watch on the budgets ended: "
                                      f"{budgets.error}")
        result["evicted"].sort()
        if failure is not None:
            raise failure
        return blocked

    def _evict_until_accepted(self, pod: t.Any, options: DrainOptions, deadline: float, abort: threading.Event,
                              budgets: BudgetWatch) -> tuple[str, str]:
        """Evict; HTTP 429 means a PodDisruptionBudget says "not now": retry as soon as a budget of the pod's
        namespace allows a disruption, and at the latest after eviction_retry_delay, until the deadline (one last
        attempt at the deadline itself). Returns (evicted | gone | blocked, last message)."""
        ref = pod_ref(pod)
        body: dict[str, t.Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                                  "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace}}
        if options.grace_period >= 0:
            body["deleteOptions"] = {"gracePeriodSeconds": options.grace_period}
        # The UID precondition: never evict a different pod that took the same name (StatefulSet).
        body.setdefault("deleteOptions", {})["preconditions"] = {"uid": pod.metadata.uid}
        while True:
            try:
                self.client.call(self.client.create, PODS, body, pod.metadata.namespace, name=pod.metadata.name,
                                 subresource="eviction", target=f"pod {ref}", action="evict", retry_429=False)
                return "evicted", ""
            except NodepatchError as error:
                if error.is_not_found or (error.is_conflict and "uid" in error.message.lower()):
                    return "gone", ""
                # A namespace being deleted refuses evictions (403) while its controller deletes the pods: like
                # kubectl drain, ask again until the pod is gone (404).
                namespace_terminating = NAMESPACE_TERMINATING in error.details.get("api_causes", ())
                if error.status != 429 and not namespace_terminating:
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0 or abort.is_set():
                    return "blocked", error.message
                if budgets.wait(pod.metadata.namespace, min(options.eviction_retry_delay, remaining), abort):
                    return "blocked", error.message

    def _delete(self, pod: t.Any, options: DrainOptions) -> bool:
        body: dict[str, t.Any] = {"preconditions": {"uid": pod.metadata.uid}}
        if options.grace_period >= 0:
            body["gracePeriodSeconds"] = options.grace_period
        try:
            self.client.call(self.client.delete, PODS, pod.metadata.name, pod.metadata.namespace,
                             body=body, target=f"pod {pod_ref(pod)}", action="delete")
        except NodepatchError as error:
            if error.is_not_found or error.is_conflict:
                return False
            raise
        return True

    def _fail_blocked(self, blocked: dict[str, tuple[t.Any, str]], options: DrainOptions,
                      result: dict[str, t.Any]) -> t.NoReturn:
        pods = [entry[0] for entry in blocked.values()]
        covering = self.budgets_for(pods)
        result["blocking_pdbs"] = [pdb_summary(pdb, refs) for pdb, refs in covering]
        covered = {ref for entry in covering for ref in entry[1]}
        parts = [f"{describe_pdb(pdb)}, refusing {', '.join(refs)}" for pdb, refs in covering]
        parts += [f"{ref} refused: {blocked[ref][1]}" for ref in sorted(set(blocked) - covered)]
        remaining = sorted(pod_ref(pod) for pod in self.pods_on_node().items)
        result["pods_remaining"] = remaining
        shown = ", ".join(remaining[:20]) + (f" and {len(remaining) - 20} more" if len(remaining) > 20 else "")
        raise NodepatchError(
            f"drain of node {self.node} timed out after {options.timeout:g} s: {len(blocked)} eviction(s) still "
            f"refused after retrying every {options.eviction_retry_delay:g} s: {'; '.join(parts)}. "
            f"Pods still on the node: {shown or 'none'}",
            target=self.target,
            hint="no budget was violated; the node stays cordoned. Scale the workload up, relax the "
                 "PodDisruptionBudget, or raise timeout", details=result)

    # ---------------------------------------------------------------- waiting

    def wait_until_gone(self, pods: list[t.Any], deadline: float, skip_after: int) -> None:
        """Follow one watch on the node's pods until every removed pod is gone. Pods are compared by UID: a
        StatefulSet pod recreated under the same name is a different pod, and the old one is gone."""
        pending = {pod.metadata.uid: pod_ref(pod) for pod in pods}

        def on_list(items: list[t.Any]) -> None:
            present = {pod.metadata.uid: pod for pod in items}
            for uid in list(pending):
                pod = present.get(uid)
                if pod is None or deleted_long_ago(pod, skip_after):
                    pending.pop(uid)

        def on_event(kind: str, pod: t.Any) -> None:
            if kind == "DELETED" or (kind == "MODIFIED" and deleted_long_ago(pod, skip_after)):
                pending.pop(pod.metadata.uid, None)

        if pending and not follow(self.client, PODS, self.target, "list the pods of", "watch the pods of", on_list,
                                  on_event, lambda: not pending, deadline, field_selector=f"spec.nodeName={self.node}"):
            raise NodepatchError(
                f"drain of node {self.node} timed out: {len(pending)} evicted pod(s) still terminating: "
                f"{', '.join(sorted(pending.values())[:20])}", target=self.target,
                hint="raise timeout, or set skip_wait_for_delete_timeout for pods stuck in Terminating "
                     "on an unreachable kubelet")
