# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reboot lock, shared with kured.

Backend ``daemonset``: an annotation on a DaemonSet holding exactly the JSON kured's Go structs marshal —
``{"nodeID":..,"metadata":{"unschedulable":..},"created":..,"TTL":ns}`` for one holder,
``{"maxOwners":N,"locks":[...]}`` for several. Backend ``lease``: one coordination.k8s.io/v1 Lease per slot,
``<lease_name>-0`` … ``<lease_name>-(N-1)``; a slot is free when it is absent, has no holder, or its
``renewTime + leaseDurationSeconds`` has passed.

The decisions (parse, prune, may I take it, what to write) are pure functions at the top of this file; the
``RebootLock`` class below only reads, calls them, and writes through one of two backends (``DaemonSetLock``,
``LeaseLock``, as kured keeps daemonsetlock and leaselock apart) with optimistic concurrency.

A stopped roll-out: the annotation ``nodepatch.kube/rollout-stopped`` (on the DaemonSet, or on the Lease named
``<lease_name>`` itself) names the node whose failure stopped it. While it is there no holder acquires, and the
node it names keeps its entry when it releases, so a kured sharing the lock stays held off too; clearing the stop
(``resume``) drops that entry with it. kured ignores the annotation.
"""

from __future__ import annotations

import json
import re
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.nodepatch.kube.plugins.module_utils.durations import (
    NANOS_PER_SECOND,
    datetime_to_nanos,
    format_go_time,
    format_micro_time,
    parse_go_time,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError, is_conflict
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import DAEMONSETS, LEASES, NODES, KubeClient
from ansible_collections.nodepatch.kube.plugins.module_utils.retry import call_with_retries

T = t.TypeVar("T")

MAX_CONFLICTS = 200
CONFLICT_PAUSE = 0.05
LEASE_UNSCHEDULABLE_ANNOTATION = "nodepatch.kube/unschedulable"
LEASE_MANAGED_BY = {"app.kubernetes.io/managed-by": "nodepatch.kube"}
STOP_ANNOTATION = "nodepatch.kube/rollout-stopped"


# --------------------------------------------------------------------------------------------- pure logic


@dataclass
class Holder:
    """One entry of the lock. ``created_ns`` is when it was written (kured's ``created``); expiry counts from
    ``renewed_ns`` when set (Leases), else from ``created_ns``."""

    node_id: str
    created_ns: int
    ttl_ns: int = 0
    unschedulable: bool = False
    stale: bool = False
    created_text: str = ""
    renewed_ns: int | None = None
    slot: str | None = None

    def expired(self, now_ns: int) -> bool:
        # The TTL stored with the lock counts, not the reader's: a lock keeps the TTL it was taken under.
        start = self.created_ns if self.renewed_ns is None else self.renewed_ns
        return self.ttl_ns > 0 and now_ns - start >= self.ttl_ns

    def to_kured(self) -> dict[str, t.Any]:
        # Field order is Go's struct order: nodeID, metadata, created, TTL.
        return {"nodeID": self.node_id, "metadata": {"unschedulable": self.unschedulable},
                "created": self.created_text or format_go_time(self.created_ns), "TTL": self.ttl_ns}

    def report(self, now_ns: int) -> dict[str, t.Any]:
        entry = {"holder": self.node_id, "created": self.created_text or format_go_time(self.created_ns),
                 "ttl_seconds": self.ttl_ns / NANOS_PER_SECOND, "unschedulable": self.unschedulable,
                 "expired": self.expired(now_ns), "stale": self.stale}
        if self.slot is not None:
            entry["slot"] = self.slot
        return entry


@dataclass
class Annotation:
    """A parsed lock annotation: its holders, the form it was written in and the maxOwners it declared."""

    holders: list[Holder] = field(default_factory=list)
    form: str = "absent"  # absent | single | multi
    max_owners: int | None = None


def holder_from_kured(entry: t.Mapping[str, t.Any]) -> Holder | None:
    node_id = entry.get("nodeID") or ""
    if not isinstance(node_id, str) or not node_id:
        return None
    metadata = entry.get("metadata") or {}
    created = entry.get("created") or ""
    try:
        created_ns = parse_go_time(created)
    except ValueError:
        created_ns = 0  # an unreadable creation time counts as very old, so a TTL lets it expire
    try:
        ttl_ns = int(entry.get("TTL") or 0)
    except (TypeError, ValueError):
        ttl_ns = 0
    unschedulable = bool(metadata.get("unschedulable", False)) if isinstance(metadata, dict) else False
    return Holder(node_id, created_ns, ttl_ns, unschedulable, created_text=str(created))


def parse_annotation(raw: str | None) -> Annotation:
    """Holders in either of kured's forms, whatever max_holders says; absent or empty means no holder."""
    if raw is None or not raw.strip():
        return Annotation()
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise NodepatchError(f"the lock annotation is not JSON: {raw[:200]!r}",
                             hint="a person or another tool wrote it; fix or remove the annotation by hand") from error
    if not isinstance(value, dict):
        raise NodepatchError(f"the lock annotation is not a JSON object: {raw[:200]!r}",
                             hint="fix or remove the annotation by hand")
    if "locks" in value or "maxOwners" in value:
        entries = value.get("locks") or []
        holders = [holder_from_kured(entry) for entry in entries if isinstance(entry, dict)]
        max_owners = value.get("maxOwners")
        return Annotation([holder for holder in holders if holder], "multi",
                          max_owners if isinstance(max_owners, int) else None)
    holder = holder_from_kured(value)
    return Annotation([holder] if holder else [], "single")


def serialize_annotation(holders: t.Sequence[Holder], max_holders: int) -> str | None:
    """kured's JSON, compact like Go's encoding/json; None (delete the key) when nobody holds a single lock.

    max_holders 1 writes the single form; should more than one holder remain (a multi lock read while
    configured for one), the multi form keeps them all rather than dropping anyone's entry.
    """
    if max_holders == 1 and len(holders) <= 1:
        if not holders:
            return None
        return json.dumps(holders[0].to_kured(), separators=(",", ":"))
    return json.dumps({"maxOwners": max(max_holders, 1), "locks": [holder.to_kured() for holder in holders]},
                      separators=(",", ":"))


def prune(holders: t.Sequence[Holder], now_ns: int) -> list[Holder]:
    """Drop expired entries and repeated holders (kured can leave both behind); a holder's first live entry wins."""
    seen: set[str] = set()
    kept = []
    for holder in holders:
        if holder.expired(now_ns) or holder.node_id in seen:
            continue
        seen.add(holder.node_id)
        kept.append(holder)
    return kept


@dataclass
class Decision:
    """What acquiring would do: ``held`` (already ours), ``take`` (write ``holders``) or ``full``."""

    outcome: str
    holders: list[Holder]
    blocking: list[Holder] = field(default_factory=list)


def decide_acquire(current: t.Sequence[Holder], me: Holder, now_ns: int, max_holders: int,
                   break_stale: bool = False) -> Decision:
    """Re-entrant acquisition on the live entries; stale holders (``stale`` set by the caller) only give way
    with ``break_stale``."""
    live = prune(current, now_ns)
    if any(entry.node_id == me.node_id for entry in live):
        return Decision("held", live)
    counted = [entry for entry in live if not (break_stale and entry.stale)]
    if len(counted) >= max_holders:
        return Decision("full", live, counted)
    return Decision("take", counted + [me])


def decide_release(current: t.Sequence[Holder], me: str, now_ns: int) -> tuple[bool, list[Holder]]:
    """(held, what remains): every entry of ``me`` goes, expired and repeated entries of others are pruned."""
    held = any(entry.node_id == me for entry in current)
    return held, [entry for entry in prune(current, now_ns) if entry.node_id != me]


def full_message(blocking: t.Sequence[Holder], max_holders: int) -> str:
    nodeless = " (no Node of that name: stale, or a pause such as kured's manual hold)"
    names = ", ".join(entry.node_id + (nodeless if entry.stale else "") for entry in blocking)
    message = f"the lock is full ({len(blocking)} of {max_holders}): held by {names}"
    if any(entry.stale for entry in blocking):
        message += "; set break_stale to take over from holders that are not nodes, unless they are a pause"
    return message


@dataclass
class Stop:
    """Who stopped the roll-out, and whether the entry it keeps goes when the stop is cleared (it only holds others
    off: the node failed before its reboot) or stays (the node went down and is not back)."""

    node: str
    phase: str = ""
    reason: str = ""
    created: str = ""
    release_with_stop: bool = False

    def to_json(self) -> str:
        return json.dumps({"node": self.node, "phase": self.phase, "reason": self.reason, "created": self.created,
                           "releaseWithStop": self.release_with_stop}, separators=(",", ":"))

    def report(self) -> dict[str, t.Any]:
        return {"node": self.node, "phase": self.phase, "reason": self.reason, "created": self.created,
                "release_with_stop": self.release_with_stop}

    def describe(self) -> str:
        details = (f" in phase {self.phase}" if self.phase else "") + (f" at {self.created}" if self.created else "")
        text = self.node + (f" (failed{details})" if details else "")
        return text + (f": {self.reason}" if self.reason else "")


def parse_stop(raw: str | None) -> Stop | None:
    """The stop annotation: our JSON, or a bare node name written by hand; absent or empty means not stopped."""
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return Stop(raw.strip())
    if not isinstance(value, dict) or not value.get("node"):
        return Stop(raw.strip())
    return Stop(str(value["node"]), str(value.get("phase") or ""), str(value.get("reason") or ""),
                str(value.get("created") or ""), bool(value.get("releaseWithStop", False)))


def stopped_message(stop: Stop) -> str:
    return (f"the roll-out was stopped by {stop.describe()}; no node takes the lock until the stop is cleared "
            f"(the next roll-out clears it, or node_lock state=resumed)")


def lease_slot_index(name: str, prefix: str) -> int | None:
    match = re.fullmatch(re.escape(prefix) + r"-(\d+)", name)
    return int(match.group(1)) if match else None


def lease_holder(lease: t.Any) -> Holder | None:
    spec = lease.spec
    if not spec or not spec.holder_identity:
        return None
    acquired = spec.acquire_time or spec.renew_time
    renewed = spec.renew_time or spec.acquire_time
    acquired_ns = datetime_to_nanos(acquired) if acquired else 0
    renewed_ns = datetime_to_nanos(renewed) if renewed else 0
    ttl_ns = int(spec.lease_duration_seconds or 0) * NANOS_PER_SECOND
    annotations = lease.metadata.annotations or {}
    return Holder(spec.holder_identity, acquired_ns, ttl_ns,
                  annotations.get(LEASE_UNSCHEDULABLE_ANNOTATION) == "true",
                  created_text=format_go_time(acquired_ns), renewed_ns=renewed_ns, slot=lease.metadata.name)


def choose_lease_slot(leases: t.Mapping[str, t.Any], max_holders: int, prefix: str, keep: set[str],
                      now_ns: int) -> str | None:
    """The first slot below max_holders that is absent, empty, expired, or held by someone not in ``keep``."""
    for index in range(max_holders):
        name = f"{prefix}-{index}"
        lease = leases.get(name)
        if lease is None:
            return name
        holder = lease_holder(lease)
        if holder is None or holder.expired(now_ns) or holder.node_id not in keep:
            return name
    return None


# --------------------------------------------------------------------------------------------- API side


class LockSettings(t.NamedTuple):
    backend: str
    namespace: str
    daemonset: str
    annotation: str
    lease_name: str
    max_holders: int
    ttl_seconds: float
    unschedulable: bool | None = None  # the holder's metadata; None reads it from the holder's Node


@dataclass
class LockResult:
    acquired: bool
    changed: bool
    holders: list[dict[str, t.Any]]
    message: str
    before: list[dict[str, t.Any]] = field(default_factory=list)
    stop: dict[str, t.Any] | None = None  # the stop after the task
    stop_before: dict[str, t.Any] | None = None


class LockState(t.NamedTuple):
    holders: list[Holder]
    version: t.Any
    stop: Stop | None


class LockBackend:
    """Where the holders live. ``read`` returns them with a version token and the stop; ``write`` and
    ``write_stop`` store only if the object still has that version, and raise a conflict
    (``NodepatchError.is_conflict``) when another writer came first."""

    target = ""
    # The stop lives on another object than the holders: a write of the holders cannot conflict with it.
    stop_apart = False

    def read(self) -> LockState:
        raise NotImplementedError

    def write(self, holders: list[Holder], version: t.Any, holder: str, releasing: bool) -> None:
        raise NotImplementedError

    def write_stop(self, stop: Stop | None, version: t.Any) -> None:
        raise NotImplementedError


class DaemonSetLock(LockBackend):
    """kured's lock: one annotation on a DaemonSet, written with the DaemonSet's resourceVersion."""

    def __init__(self, client: KubeClient, settings: LockSettings) -> None:
        self.client = client
        self.settings = settings
        self.target = f"daemonset {settings.namespace}/{settings.daemonset}"

    def read(self) -> LockState:
        try:
            daemonset = self.client.call(self.client.get, DAEMONSETS, self.settings.daemonset, self.settings.namespace,
                                         target=self.target, action="read the lock on")
        except NodepatchError as error:
            if error.is_not_found:
                error.hint = ("the DaemonSet that carries the lock does not exist: install kured, point daemonset "
                              "and namespace at the DaemonSet kured uses (--ds-name, --ds-namespace), or use "
                              "backend lease")
            raise
        annotations = daemonset.metadata.annotations or {}
        return LockState(parse_annotation(annotations.get(self.settings.annotation)).holders,
                         daemonset.metadata.resource_version, parse_stop(annotations.get(STOP_ANNOTATION)))

    def write(self, holders: list[Holder], version: t.Any, holder: str, releasing: bool) -> None:
        value = serialize_annotation(holders, self.settings.max_holders)
        # A merge patch carrying metadata.resourceVersion is refused with 409 if the object changed since we read.
        body = {"metadata": {"resourceVersion": version, "annotations": {self.settings.annotation: value}}}
        self._patch(body)

    def write_stop(self, stop: Stop | None, version: t.Any) -> None:
        self._patch({"metadata": {"resourceVersion": version,
                                  "annotations": {STOP_ANNOTATION: stop.to_json() if stop else None}}})

    def _patch(self, body: dict[str, t.Any]) -> None:
        self.client.call(self.client.patch, DAEMONSETS, self.settings.daemonset, body, self.settings.namespace,
                         target=self.target, action="write the lock on")


class LeaseLock(LockBackend):
    """One Lease per slot; the version token is the slots read, each written with its own resourceVersion. The stop
    is an annotation on the Lease named ``lease_name`` itself (no slot index), read by the same list."""

    stop_apart = True

    def __init__(self, client: KubeClient, settings: LockSettings, clock: t.Callable[[], int]) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self.target = f"lease {settings.namespace}/{settings.lease_name}-*"

    def read(self) -> LockState:
        found = self.client.call(self.client.list, LEASES, self.settings.namespace,
                                 target=f"leases in namespace {self.settings.namespace}", action="list")
        leases = {}
        stop = None
        for lease in found.items:
            if lease.metadata.name == self.settings.lease_name:
                leases[lease.metadata.name] = lease
                stop = parse_stop((lease.metadata.annotations or {}).get(STOP_ANNOTATION))
            elif lease_slot_index(lease.metadata.name, self.settings.lease_name) is not None:
                leases[lease.metadata.name] = lease
        holders = [lease_holder(lease) for name, lease in sorted(leases.items()) if name != self.settings.lease_name]
        return LockState([holder for holder in holders if holder], leases, stop)

    def write_stop(self, stop: Stop | None, version: dict[str, t.Any]) -> None:
        name = self.settings.lease_name
        annotations = {STOP_ANNOTATION: stop.to_json() if stop else None}
        target = f"lease {self.settings.namespace}/{name}"
        if name not in version:
            if stop is None:
                return
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": self.settings.namespace, "labels": dict(LEASE_MANAGED_BY),
                                 "annotations": annotations}, "spec": {}}
            self.client.call(self.client.create, LEASES, body, self.settings.namespace,
                             target=target, action="create")
            return
        body = {"metadata": {"resourceVersion": version[name].metadata.resource_version, "annotations": annotations}}
        self.client.call(self.client.patch, LEASES, name, body, self.settings.namespace,
                         target=target, action="write")

    def write(self, holders: list[Holder], version: dict[str, t.Any], holder: str, releasing: bool) -> None:
        leases = version
        now = self.clock()
        if releasing:
            for name, lease in sorted(leases.items()):
                if name == self.settings.lease_name:
                    continue
                current = lease_holder(lease)
                if current is not None and current.node_id == holder:
                    self._patch(name, lease, None, now)
            return
        keep = {entry.node_id for entry in holders} - {holder}
        mine = next(entry for entry in holders if entry.node_id == holder)
        slot = choose_lease_slot(leases, self.settings.max_holders, self.settings.lease_name, keep, now)
        if slot is None:
            # The holders read leave a slot free, the slots read do not: they changed in between.
            raise NodepatchError("every lease slot was taken since it was read", target=self.target, status=409)
        if slot not in leases:
            self._create(slot, mine, now)
        else:
            self._patch(slot, leases[slot], mine, now)

    @staticmethod
    def _spec(holder: Holder | None, now: int) -> dict[str, t.Any]:
        stamp = format_micro_time(now)
        if holder is None:
            return {"holderIdentity": None, "leaseDurationSeconds": None, "acquireTime": None, "renewTime": stamp}
        duration = max(1, int(round(holder.ttl_ns / NANOS_PER_SECOND))) if holder.ttl_ns > 0 else None
        return {"holderIdentity": holder.node_id, "leaseDurationSeconds": duration, "acquireTime": stamp,
                "renewTime": stamp}

    @staticmethod
    def _annotations(holder: Holder | None) -> dict[str, t.Any]:
        return {LEASE_UNSCHEDULABLE_ANNOTATION: (str(holder.unschedulable).lower() if holder else None)}

    def _create(self, name: str, holder: Holder, now: int) -> None:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": self.settings.namespace, "labels": dict(LEASE_MANAGED_BY),
                             "annotations": self._annotations(holder)},
                "spec": self._spec(holder, now)}
        # Another writer creating the same slot first makes this a 409 (AlreadyExists): a conflict like any other.
        self.client.call(self.client.create, LEASES, body, self.settings.namespace,
                         target=f"lease {self.settings.namespace}/{name}", action="create")

    def _patch(self, name: str, lease: t.Any, holder: Holder | None, now: int) -> None:
        body = {"metadata": {"resourceVersion": lease.metadata.resource_version,
                             "annotations": self._annotations(holder)},
                "spec": self._spec(holder, now)}
        self.client.call(self.client.patch, LEASES, name, body, self.settings.namespace,
                         target=f"lease {self.settings.namespace}/{name}", action="write")


class RebootLock:
    """Acquire, release and inspect the lock: read the holders, decide (the pure functions above), write them back
    through the backend with optimistic concurrency."""

    def __init__(self, client: KubeClient, settings: LockSettings, check_mode: bool = False,
                 clock: t.Callable[[], int] = time.time_ns, sleep: t.Callable[[float], None] = time.sleep,
                 check_stale: bool = True) -> None:
        self.client = client
        self.settings = settings
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.check_stale = check_stale
        self.conflicts = 0
        self.backend: LockBackend = (LeaseLock(client, settings, clock) if settings.backend == "lease"
                                     else DaemonSetLock(client, settings))

    @property
    def target(self) -> str:
        return self.backend.target

    # ---------------------------------------------------------------- nodes

    def _read_node(self, name: str) -> t.Any | None:
        try:
            return self.client.call(self.client.get, NODES, name, target=f"node/{name}", action="read")
        except NodepatchError as error:
            if error.is_not_found:
                return None
            raise

    def mark_stale(self, holders: t.Sequence[Holder], me: str = "") -> None:
        if not self.check_stale:
            return
        for holder in holders:
            holder.stale = holder.node_id != me and self._read_node(holder.node_id) is None

    def _report(self, holders: t.Sequence[Holder], me: str = "") -> list[dict[str, t.Any]]:
        self.mark_stale(holders, me)
        now = self.clock()
        return [holder.report(now) for holder in holders]

    def holders(self, check_stale: bool = True) -> list[dict[str, t.Any]]:
        return self.inspect(check_stale)[0]

    def inspect(self, check_stale: bool = True) -> tuple[list[dict[str, t.Any]], dict[str, t.Any] | None]:
        """The holders and the stop, if any."""
        state = self.backend.read()
        stop = state.stop.report() if state.stop else None
        if not check_stale:
            now = self.clock()
            return [holder.report(now) for holder in state.holders], stop
        return self._report(state.holders), stop

    # ---------------------------------------------------------------- acquire / release

    def acquire(self, holder: str, wait_timeout: float = 0, wait_sleep: float = 5,
                break_stale: bool = False) -> LockResult:
        deadline = time.monotonic() + max(0.0, wait_timeout)
        unschedulable = self.settings.unschedulable
        if unschedulable is None:
            node = self._read_node(holder)
            unschedulable = bool(node.spec.unschedulable) if node is not None and node.spec else False
        ttl_ns = int(round(self.settings.ttl_seconds * NANOS_PER_SECOND))
        first: list[list[dict[str, t.Any]]] = []  # the holders as first read, for the diff

        def attempt() -> LockResult | None:
            """Read, decide, write: a result, or None while the lock is full and the deadline not reached."""
            current, version, stop = self.backend.read()
            now = self.clock()
            if not first:
                first.append([entry.report(now) for entry in current])
            if stop is not None:
                # Re-entrant or not: after a failure nobody goes on, the failed node included.
                return LockResult(False, False, self._report(current, holder), stopped_message(stop), first[0],
                                  stop.report(), stop.report())
            live = prune(current, now)
            if len(live) >= self.settings.max_holders or break_stale:
                self.mark_stale(live, holder)  # only matters when the lock is full, or stale ones may go
            me = Holder(holder, now, ttl_ns, unschedulable)
            decision = decide_acquire(current, me, now, self.settings.max_holders, break_stale)
            if decision.outcome == "held":
                return LockResult(True, False, self._report(decision.holders, holder),
                                  f"{holder} already holds the lock", first[0])
            if decision.outcome == "take":
                if self.check_mode:
                    message = f"{holder} would acquire the lock (check mode)"
                else:
                    self.backend.write(decision.holders, version, holder, releasing=False)
                    refused = self._stopped_since(holder)
                    if refused is not None:
                        return LockResult(False, False, refused.holders, refused.message, first[0], refused.stop,
                                          refused.stop)
                    taken = [entry.node_id for entry in live if entry not in decision.holders]
                    message = f"{holder} acquired the lock"
                    if taken:
                        message += f", taking over from stale holder(s) {', '.join(taken)}"
                return LockResult(True, True, self._report(decision.holders, holder), message, first[0])
            if time.monotonic() >= deadline:
                message = full_message(decision.blocking, self.settings.max_holders)
                if wait_timeout > 0:
                    message += f"; waited {wait_timeout:g} s"
                return LockResult(False, False, self._report(decision.holders, holder), message, first[0])
            return None

        while True:
            result = self._retry_conflicts(attempt)
            if result is not None:
                return result
            self.sleep(max(0.0, min(wait_sleep, deadline - time.monotonic())))

    def _stopped_since(self, holder: str) -> LockResult | None:
        """With the stop on another object, a write of the holders does not conflict with a stop written after our
        read: look again, and give the place back if the roll-out stopped meanwhile."""
        if not self.backend.stop_apart:
            return None
        state = self.backend.read()
        if state.stop is None:
            return None
        _held, remaining = decide_release(state.holders, holder, self.clock())
        self.backend.write(remaining, state.version, holder, releasing=True)
        return LockResult(False, False, self._report(remaining, holder), stopped_message(state.stop),
                          stop=state.stop.report())

    def release(self, holder: str) -> LockResult:
        first: list[list[dict[str, t.Any]]] = []

        def attempt() -> LockResult:
            current, version, stop = self.backend.read()
            now = self.clock()
            if not first:
                first.append([entry.report(now) for entry in current])
            held, remaining = decide_release(current, holder, now)
            if not held:
                return LockResult(False, False, self._report(current, holder),
                                  f"{holder} does not hold the lock; nothing to release", first[0],
                                  stop.report() if stop else None, stop.report() if stop else None)
            if stop is not None and stop.node == holder:
                return self._keep_for_stop(current, version, stop, first[0])
            if self.check_mode:
                message = f"{holder} would release the lock (check mode)"
            else:
                self.backend.write(remaining, version, holder, releasing=True)
                message = f"{holder} released the lock"
            return LockResult(False, True, self._report(remaining, holder), message, first[0])

        return self._retry_conflicts(attempt)

    def _keep_for_stop(self, current: list[Holder], version: t.Any, stop: Stop,
                       before: list[dict[str, t.Any]]) -> LockResult:
        """The node that stopped the roll-out keeps its place, so a kured sharing the lock stays held off too; the
        stop records that the place goes when the stop is cleared."""
        kept = Stop(stop.node, stop.phase, stop.reason, stop.created, release_with_stop=True)
        message = (f"{stop.node} keeps its place in the lock while the roll-out it stopped stays stopped; clearing "
                   "the stop (state=resumed) releases it")
        changed = not stop.release_with_stop
        if changed and not self.check_mode:
            self.backend.write_stop(kept, version)
        return LockResult(True, changed, self._report(current, stop.node), message, before, kept.report(),
                          stop.report())

    def stop(self, holder: str, phase: str = "", reason: str = "") -> LockResult:
        """Mark the roll-out stopped by ``holder``; the first stop stays, later ones change nothing."""
        def attempt() -> LockResult:
            current, version, stop = self.backend.read()
            now = self.clock()
            before = [entry.report(now) for entry in current]
            held = any(entry.node_id == holder for entry in prune(current, now))
            if stop is not None:
                message = ("the roll-out is already stopped by " + stop.describe() if stop.node != holder
                           else f"the roll-out is already stopped by {holder}")
                return LockResult(held, False, self._report(current, holder), message, before, stop.report(),
                                  stop.report())
            new = Stop(holder, phase, reason, format_go_time(now))
            if self.check_mode:
                message = f"{holder} would stop the roll-out (check mode)"
            else:
                self.backend.write_stop(new, version)
                message = f"{holder} stopped the roll-out: no node takes the lock until the stop is cleared"
            return LockResult(held, True, self._report(current, holder), message, before, new.report(), None)

        return self._retry_conflicts(attempt)

    def resume(self) -> LockResult:
        """Clear the stop, and the place its node kept only to hold others off (it failed before its reboot)."""
        def attempt() -> LockResult:
            current, version, stop = self.backend.read()
            now = self.clock()
            before = [entry.report(now) for entry in current]
            if stop is None:
                return LockResult(False, False, self._report(current), "the roll-out is not stopped", before)
            remaining = current
            if stop.release_with_stop:
                _held, remaining = decide_release(current, stop.node, now)
            message = f"cleared the stop of {stop.describe()}"
            if stop.release_with_stop:
                message += f"; released the place {stop.node} kept"
            if self.check_mode:
                message = "would have " + message + " (check mode)"
            else:
                if stop.release_with_stop and remaining != current:
                    self.backend.write(remaining, version, stop.node, releasing=True)
                    # The write moved the version on; the stop is written against the current one.
                    version = self.backend.read().version
                self.backend.write_stop(None, version)
            return LockResult(False, True, self._report(remaining), message, before, None, stop.report())

        return self._retry_conflicts(attempt)

    def _retry_conflicts(self, attempt: t.Callable[[], T]) -> T:
        """Another writer changed the lock between our read and our write: re-read after a random pause of up to
        CONFLICT_PAUSE seconds, so the writers spread out, and give up after MAX_CONFLICTS in a row."""
        def count(_error: BaseException) -> None:
            self.conflicts += 1

        try:
            return call_with_retries(attempt, is_conflict, attempts=MAX_CONFLICTS + 1, base=CONFLICT_PAUSE,
                                     cap=CONFLICT_PAUSE, sleep=self.sleep, on_retry=count)
        except NodepatchError as error:
            if not error.is_conflict:
                raise
            raise NodepatchError(f"the lock kept changing under us ({MAX_CONFLICTS + 1} conflicts in a row)",
                                 target=self.target, hint="too many writers at once; retry later") from error
