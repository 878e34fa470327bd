# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reboot lock, shared with kured.

Backend ``daemonset``: an annotation on a DaemonSet holding exactly the JSON kured's Go structs marshal —
``{"nodeID":..,"metadata":{"unschedulable":..},"created":..,"TTL":ns}`` for one holder,
``{"maxOwners":N,"locks":[...]}`` for several. Backend ``lease``: one coordination.k8s.io/v1 Lease per slot,
``<name>-0`` … ``<name>-(N-1)``.
"""

from __future__ import annotations

import json
import time
import typing as t
from dataclasses import dataclass

from ansible_collections.nodepatch.kube.plugins.module_utils.durations import (
    NANOS_PER_SECOND,
    format_go_time,
    parse_go_time,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

CONFLICT_RETRIES = 20


@dataclass
class Holder:
    node_id: str
    created_ns: int
    ttl_ns: int = 0
    unschedulable: bool = False
    stale: bool = False
    created_text: str = ""

    def expired(self, now_ns: int) -> bool:
        # The TTL stored with the lock counts, not the reader's: kured decides the same way.
        return self.ttl_ns > 0 and now_ns - self.created_ns >= self.ttl_ns

    def to_kured(self) -> dict[str, t.Any]:
        return {"nodeID": self.node_id, "metadata": {"unschedulable": self.unschedulable},
                "created": self.created_text or format_go_time(self.created_ns), "TTL": self.ttl_ns}

    def report(self, now_ns: int) -> dict[str, t.Any]:
        return {"holder": self.node_id, "created": self.created_text or format_go_time(self.created_ns),
                "ttl_seconds": self.ttl_ns / NANOS_PER_SECOND, "unschedulable": self.unschedulable,
                "expired": self.expired(now_ns), "stale": self.stale}


def holder_from_kured(entry: t.Mapping[str, t.Any]) -> Holder | None:
    node_id = entry.get("nodeID") or ""
    if not node_id:
        return None
    metadata = entry.get("metadata") or {}
    created = entry.get("created") or ""
    try:
        created_ns = parse_go_time(created)
    except ValueError:
        created_ns = 0  # unreadable creation time: treat as old, so a TTL lets it expire
    return Holder(node_id, created_ns, int(entry.get("TTL") or 0),
                  bool(metadata.get("unschedulable", False)) if isinstance(metadata, dict) else False,
                  created_text=created)


def parse_annotation(raw: str | None) -> list[Holder]:
    """Holders in either of kured's forms; an empty or absent annotation means no holder."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise NodepatchError(f"the lock annotation is not JSON: {raw[:200]!r}",
                             hint="fix or remove the annotation by hand") from error
    if not isinstance(value, dict):
        raise NodepatchError(f"the lock annotation is not a JSON object: {raw[:200]!r}")
    entries = value.get("locks") if "locks" in value or "maxOwners" in value else [value]
    holders = [holder_from_kured(entry) for entry in entries or [] if isinstance(entry, dict)]
    return [holder for holder in holders if holder]


def serialize_annotation(holders: list[Holder], max_holders: int) -> str | None:
    """kured's JSON, compact like Go's encoding/json; None (delete the key) when nobody holds the lock."""
    if max_holders == 1:
        if not holders:
            return None
        return json.dumps(holders[0].to_kured(), separators=(",", ":"))
    return json.dumps({"maxOwners": max_holders, "locks": [holder.to_kured() for holder in holders]},
                      separators=(",", ":"))


def prune(holders: list[Holder], now_ns: int) -> list[Holder]:
    """Drop expired entries and repeated holders (kured can leave both behind); the first entry of a holder wins."""
    seen: set[str] = set()
    kept = []
    for holder in holders:
        if holder.expired(now_ns) or holder.node_id in seen:
            continue
        seen.add(holder.node_id)
        kept.append(holder)
    return kept


@dataclass
class LockResult:
    acquired: bool
    changed: bool
    holders: list[dict[str, t.Any]]
    message: str


class LockSettings(t.NamedTuple):
    backend: str
    namespace: str
    daemonset: str
    annotation: str
    lease_name: str
    max_holders: int
    ttl_seconds: float


class RebootLock:
    """Acquire, release and inspect the lock with read-modify-write on the object's resourceVersion."""

    def __init__(self, client: t.Any, settings: LockSettings, check_mode: bool = False,
                 clock: t.Callable[[], int] = time.time_ns, sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.settings = settings
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep

    @property
    def target(self) -> str:
        if self.settings.backend == "lease":
            return f"lease {self.settings.namespace}/{self.settings.lease_name}-*"
        return f"daemonset {self.settings.namespace}/{self.settings.daemonset}"

    # ---------------------------------------------------------------- inspection

    def node_exists(self, name: str) -> bool:
        try:
            self.client.call(self.client.core.read_node, name, target=f"node/{name}", action="read")
        except NodepatchError as error:
            if error.details.get("status") == 404:
                return False
            raise
        return True

    def node_unschedulable(self, name: str) -> bool:
        try:
            node = self.client.call(self.client.core.read_node, name, target=f"node/{name}", action="read")
        except NodepatchError as error:
            if error.details.get("status") == 404:
                return False
            raise
        return bool(node.spec.unschedulable)

    def mark_stale(self, holders: list[Holder], me: str = "") -> None:
        for holder in holders:
            holder.stale = holder.node_id != me and not self.node_exists(holder.node_id)

    def holders(self, check_stale: bool = True) -> list[dict[str, t.Any]]:
        current, _version = self._read()
        if check_stale:
            self.mark_stale(current)
        now = self.clock()
        return [holder.report(now) for holder in current]

    # ---------------------------------------------------------------- acquire / release

    def acquire(self, holder: str, wait_timeout: float, wait_sleep: float, break_stale: bool) -> LockResult:
        deadline = time.monotonic() + wait_timeout
        conflicts = 0
        while True:
            current, version = self._read()
            now = self.clock()
            live = prune(current, now)
            if any(entry.node_id == holder for entry in live):
                return LockResult(True, False, [entry.report(now) for entry in live], f"{holder} already holds the lock")
            self.mark_stale(live, holder)
            if break_stale:
                live = [entry for entry in live if not entry.stale]
            if len(live) < self.settings.max_holders:
                mine = Holder(holder, now, int(self.settings.ttl_seconds * NANOS_PER_SECOND),
                              self.node_unschedulable(holder))
                wanted = live + [mine]
                if self.check_mode or self._write(wanted, version, holder):
                    return LockResult(True, True, [entry.report(now) for entry in wanted],
                                      f"{holder} acquired the lock")
                conflicts += 1
                if conflicts > CONFLICT_RETRIES:
                    raise NodepatchError(f"the lock kept changing under us ({conflicts} conflicts)",
                                         target=self.target, hint="retry later")
                continue
            if time.monotonic() >= deadline:
                names = ", ".join(entry.node_id + (" (stale: its node no longer exists)" if entry.stale else "")
                                  for entry in live)
                hint = " Set break_stale to take over from stale holders." if any(e.stale for e in live) else ""
                return LockResult(False, False, [entry.report(now) for entry in live],
                                  f"lock full ({len(live)} of {self.settings.max_holders}): held by {names}.{hint}")
            self.sleep(max(0.0, min(wait_sleep, deadline - time.monotonic())))

    def release(self, holder: str) -> LockResult:
        conflicts = 0
        while True:
            current, version = self._read()
            now = self.clock()
            if not any(entry.node_id == holder for entry in current):
                return LockResult(False, False, [entry.report(now) for entry in current],
                                  f"{holder} does not hold the lock; nothing to release")
            remaining = [entry for entry in prune(current, now) if entry.node_id != holder]
            if self.check_mode or self._write(remaining, version, holder, releasing=True):
                return LockResult(False, True, [entry.report(now) for entry in remaining], f"{holder} released the lock")
            conflicts += 1
            if conflicts > CONFLICT_RETRIES:
                raise NodepatchError(f"the lock kept changing under us ({conflicts} conflicts)", target=self.target)

    # ---------------------------------------------------------------- backends

    def _read(self) -> tuple[list[Holder], t.Any]:
        if self.settings.backend == "lease":
            return self._read_leases()
        daemonset = self.client.call(self.client.apps.read_namespaced_daemon_set, self.settings.daemonset,
                                     self.settings.namespace, target=self.target, action="read the lock on")
        raw = (daemonset.metadata.annotations or {}).get(self.settings.annotation)
        return parse_annotation(raw), daemonset.metadata.resource_version

    def _write(self, holders: list[Holder], version: t.Any, holder: str, releasing: bool = False) -> bool:
        """Write the holders; False when someone else wrote first (HTTP 409), so the caller re-reads."""
        if self.settings.backend == "lease":
            keep = {entry.node_id for entry in holders} - {holder}
            return self._write_lease(holder, version, releasing, keep)
        value = serialize_annotation(holders, self.settings.max_holders)
        body = {"metadata": {"resourceVersion": version, "annotations": {self.settings.annotation: value}}}
        try:
            self.client.call(self.client.apps.patch_namespaced_daemon_set, self.settings.daemonset,
                             self.settings.namespace, body, target=self.target, action="write the lock on")
        except NodepatchError as error:
            if error.details.get("status") == 409:
                return False
            raise
        return True

    def _slot_names(self) -> list[str]:
        return [f"{self.settings.lease_name}-{index}" for index in range(self.settings.max_holders)]

    def _read_leases(self) -> tuple[list[Holder], dict[str, t.Any]]:
        leases = {}
        for name in self._slot_names():
            try:
                leases[name] = self.client.call(self.client.coordination.read_namespaced_lease, name,
                                                self.settings.namespace, target=f"lease {self.settings.namespace}/{name}",
                                                action="read")
            except NodepatchError as error:
                if error.details.get("status") != 404:
                    raise
                leases[name] = None
        holders = [lease_holder(lease) for lease in leases.values() if lease is not None]
        return [holder for holder in holders if holder], leases

    def _write_lease(self, holder: str, leases: dict[str, t.Any], releasing: bool, keep: set[str]) -> bool:
        """Take the first free slot: absent, empty, or held by someone the caller decided not to keep
        (expired, or stale with break_stale)."""
        now = self.clock()
        if releasing:
            for name, lease in leases.items():
                if lease is not None and lease.spec.holder_identity == holder:
                    return self._replace_lease(name, lease, None, now)
            return True
        for name, lease in leases.items():
            if lease is None:
                return self._create_lease(name, holder, now)
            current = lease_holder(lease)
            if current is None or current.node_id not in keep:
                return self._replace_lease(name, lease, holder, now)
        return False

    def _lease_spec(self, holder: str | None, now: int) -> dict[str, t.Any]:
        stamp = format_micro_time(now)
        spec: dict[str, t.Any] = {"holderIdentity": holder, "acquireTime": stamp, "renewTime": stamp}
        if holder and self.settings.ttl_seconds > 0:
            spec["leaseDurationSeconds"] = max(1, int(self.settings.ttl_seconds))
        else:
            spec["leaseDurationSeconds"] = None
        return spec

    def _create_lease(self, name: str, holder: str, now: int) -> bool:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": self.settings.namespace,
                             "labels": {"app.kubernetes.io/managed-by": "nodepatch.kube"}},
                "spec": self._lease_spec(holder, now)}
        try:
            self.client.call(self.client.coordination.create_namespaced_lease, self.settings.namespace, body,
                             target=f"lease {self.settings.namespace}/{name}", action="create")
        except NodepatchError as error:
            if error.details.get("status") == 409:
                return False
            raise
        return True

    def _replace_lease(self, name: str, lease: t.Any, holder: str | None, now: int) -> bool:
        body = {"metadata": {"resourceVersion": lease.metadata.resource_version}, "spec": self._lease_spec(holder, now)}
        try:
            self.client.call(self.client.coordination.patch_namespaced_lease, name, self.settings.namespace, body,
                             target=f"lease {self.settings.namespace}/{name}", action="write")
        except NodepatchError as error:
            if error.details.get("status") == 409:
                return False
            raise
        return True


def format_micro_time(epoch_ns: int) -> str:
    """MicroTime, as Lease acquireTime/renewTime expect: RFC 3339 with exactly six fractional digits."""
    seconds, nanos = divmod(epoch_ns, NANOS_PER_SECOND)
    base = format_go_time(seconds * NANOS_PER_SECOND)[:-1]
    return f"{base}.{nanos // 1000:06d}Z"


def lease_holder(lease: t.Any) -> Holder | None:
    spec = lease.spec
    if not spec or not spec.holder_identity:
        return None
    renewed = spec.renew_time or spec.acquire_time
    renewed_ns = int(renewed.timestamp() * NANOS_PER_SECOND) if renewed else 0
    ttl_ns = int(spec.lease_duration_seconds or 0) * NANOS_PER_SECOND
    return Holder(spec.holder_identity, renewed_ns, ttl_ns, created_text=format_go_time(renewed_ns))
