# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reboot lock's decisions with plain data, and its read-modify-write loop against an in-memory object.

kured's JSON here is the format its Go structs marshal (pkg/daemonsetlock: LockAnnotationValue with fields
nodeID, metadata, created, TTL; multiLockAnnotationValue with maxOwners, locks)."""

from __future__ import annotations

import copy
import datetime
import json
import typing as t
from types import SimpleNamespace as NS

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.durations import parse_go_time
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.lock import (
    STOP_ANNOTATION,
    Holder,
    LockSettings,
    RebootLock,
    choose_lease_slot,
    decide_acquire,
    decide_release,
    parse_annotation,
    parse_stop,
    prune,
    serialize_annotation,
)
from ansible_collections.nodepatch.kube.tests.unit.plugins.module_utils.fake_kube import FakeKube, refused

KURED_SINGLE = ('{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2024-05-31T06:31:37.441623522Z",'
                '"TTL":0}')
KURED_MULTI = ('{"maxOwners":2,"locks":[{"nodeID":"n1","metadata":{"unschedulable":true},'
               '"created":"2024-05-31T06:31:37.441623522Z","TTL":1800000000000},{"nodeID":"n2","metadata":'
               '{"unschedulable":false},"created":"2024-05-31T06:40:00Z","TTL":0}]}')
T0 = parse_go_time("2024-05-31T06:31:37.441623522Z")
S = 1_000_000_000


# ------------------------------------------------------------------------------------------------ format


def test_kured_single_form_parses_and_serialises_byte_for_byte() -> None:
    parsed = parse_annotation(KURED_SINGLE)
    assert parsed.form == "single"
    assert [(h.node_id, h.created_ns, h.ttl_ns, h.unschedulable) for h in parsed.holders] == [("n1", T0, 0, False)]
    assert serialize_annotation(parsed.holders, 1) == KURED_SINGLE


def test_kured_multi_form_parses_and_serialises_byte_for_byte() -> None:
    parsed = parse_annotation(KURED_MULTI)
    assert parsed.form == "multi" and parsed.max_owners == 2
    assert [(h.node_id, h.ttl_ns, h.unschedulable) for h in parsed.holders] == [("n1", 1800 * S, True),
                                                                                ("n2", 0, False)]
    assert serialize_annotation(parsed.holders, 2) == KURED_MULTI


def test_new_entries_marshal_in_go_field_order_with_nanoseconds() -> None:
    text = serialize_annotation([Holder("n9", T0 + 1, 1800 * S, True)], 1)
    assert text == ('{"nodeID":"n9","metadata":{"unschedulable":true},"created":"2024-05-31T06:31:37.441623523Z",'
                    '"TTL":1800000000000}')
    assert list(json.loads(text)) == ["nodeID", "metadata", "created", "TTL"]
    multi = serialize_annotation([Holder("n9", T0, 0)], 3)
    assert list(json.loads(multi)) == ["maxOwners", "locks"]


def test_either_form_parses_whatever_max_holders_is() -> None:
    assert [h.node_id for h in parse_annotation(KURED_SINGLE).holders] == ["n1"]
    assert [h.node_id for h in parse_annotation(KURED_MULTI).holders] == ["n1", "n2"]


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_absent_or_empty_annotation_has_no_holder(raw: str | None) -> None:
    assert parse_annotation(raw).holders == [] and parse_annotation(raw).form == "absent"


@pytest.mark.parametrize("raw", ['{"maxOwners":2,"locks":null}', '{"maxOwners":2,"locks":[]}',
                                 '{"nodeID":"","metadata":{},"created":"0001-01-01T00:00:00Z","TTL":0}'])
def test_empty_kured_values_have_no_holder(raw: str) -> None:
    assert parse_annotation(raw).holders == []


@pytest.mark.parametrize("raw", ["not json", "[1,2]", '"n1"'])
def test_garbage_is_a_readable_error(raw: str) -> None:
    with pytest.raises(NodepatchError, match="lock annotation"):
        parse_annotation(raw)


def test_unreadable_created_counts_as_old() -> None:
    holder = parse_annotation('{"nodeID":"n1","metadata":{"unschedulable":false},"created":"x","TTL":1}').holders[0]
    assert holder.expired(T0)


def test_release_of_the_last_single_holder_deletes_the_key_and_multi_keeps_an_empty_list() -> None:
    assert serialize_annotation([], 1) is None
    assert serialize_annotation([], 2) == '{"maxOwners":2,"locks":[]}'


def test_a_multi_lock_read_with_max_holders_1_keeps_every_entry() -> None:
    holders = parse_annotation(KURED_MULTI).holders
    assert [h["nodeID"] for h in json.loads(serialize_annotation(holders, 1) or "")["locks"]] == ["n1", "n2"]


# ------------------------------------------------------------------------------------------------ decisions


def test_expiry_counts_the_stored_ttl_and_is_inclusive() -> None:
    holder = Holder("n1", T0, 1800 * S)
    assert not holder.expired(T0 + 1800 * S - 1)
    assert holder.expired(T0 + 1800 * S)
    assert not Holder("n1", T0, 0).expired(T0 + 10 ** 6 * S)  # TTL 0 never expires


def test_prune_drops_expired_and_duplicate_entries_first_live_wins() -> None:
    entries = [Holder("a", T0, 1 * S), Holder("b", T0 + 5, 0), Holder("b", T0 + 9, 0), Holder("c", T0, 0)]
    kept = prune(entries, T0 + 2 * S)
    assert [(h.node_id, h.created_ns) for h in kept] == [("b", T0 + 5), ("c", T0)]


def test_acquire_is_re_entrant() -> None:
    decision = decide_acquire([Holder("n1", T0)], Holder("n1", T0 + S), T0 + S, 1)
    assert decision.outcome == "held"
    assert decision.holders[0].created_ns == T0  # the original entry is kept, not rewritten


def test_acquire_takes_a_free_place_and_keeps_the_others() -> None:
    decision = decide_acquire([Holder("n1", T0)], Holder("n2", T0 + S), T0 + S, 2)
    assert decision.outcome == "take"
    assert [h.node_id for h in decision.holders] == ["n1", "n2"]


def test_acquire_refuses_when_full_and_names_the_holders() -> None:
    decision = decide_acquire([Holder("n1", T0), Holder("n2", T0)], Holder("n3", T0), T0, 2)
    assert decision.outcome == "full"
    assert [h.node_id for h in decision.blocking] == ["n1", "n2"]


def test_an_expired_holder_gives_way() -> None:
    decision = decide_acquire([Holder("n1", T0, S)], Holder("n2", T0 + 2 * S), T0 + 2 * S, 1)
    assert decision.outcome == "take" and [h.node_id for h in decision.holders] == ["n2"]


def test_a_stale_holder_counts_unless_break_stale() -> None:
    stale = Holder("gone", T0, stale=True)
    assert decide_acquire([stale], Holder("n2", T0), T0, 1).outcome == "full"
    decision = decide_acquire([stale], Holder("n2", T0), T0, 1, break_stale=True)
    assert decision.outcome == "take" and [h.node_id for h in decision.holders] == ["n2"]


def test_duplicates_do_not_fill_the_lock() -> None:
    decision = decide_acquire([Holder("n1", T0), Holder("n1", T0)], Holder("n2", T0), T0, 2)
    assert decision.outcome == "take" and [h.node_id for h in decision.holders] == ["n1", "n2"]


def test_release_removes_only_own_entries_and_prunes() -> None:
    held, remaining = decide_release([Holder("n1", T0), Holder("old", T0, S), Holder("n2", T0), Holder("n1", T0)],
                                     "n1", T0 + 5 * S)
    assert held and [h.node_id for h in remaining] == ["n2"]


def test_release_not_held() -> None:
    held, remaining = decide_release([Holder("n2", T0)], "n1", T0)
    assert not held and [h.node_id for h in remaining] == ["n2"]


def lease(name: str, holder: str | None, renewed_ns: int = T0, duration: int | None = None) -> NS:
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        microseconds=renewed_ns // 1000)
    return NS(metadata=NS(name=name, resource_version="1", annotations={}),
              spec=NS(holder_identity=holder, acquire_time=moment, renew_time=moment, lease_duration_seconds=duration))


def test_lease_slots_absent_empty_expired_or_unkept_are_free() -> None:
    leases = {"l-0": lease("l-0", "a"), "l-1": lease("l-1", None)}
    assert choose_lease_slot(leases, 3, "l", {"a"}, T0) == "l-1"
    assert choose_lease_slot({"l-0": lease("l-0", "a")}, 2, "l", {"a"}, T0) == "l-1"
    assert choose_lease_slot({"l-0": lease("l-0", "a", T0, 10)}, 1, "l", {"a"}, T0 + 10 * S) == "l-0"
    assert choose_lease_slot({"l-0": lease("l-0", "a")}, 1, "l", {"a"}, T0) is None
    assert choose_lease_slot({"l-0": lease("l-0", "gone")}, 1, "l", set(), T0) == "l-0"


# ------------------------------------------------------------------------------------------------ API loop


class FakeApi(FakeKube):
    """An in-memory DaemonSet, Nodes and Leases with resourceVersion preconditions (409 when stale)."""

    def __init__(self, annotation: str | None = None, nodes: t.Iterable[str] = ("n1", "n2", "n3"),
                 unschedulable: t.Iterable[str] = ()) -> None:
        super().__init__()
        self.annotations: dict[str, str] = {} if annotation is None else {"weave.works/kured-node-lock": annotation}
        self.version = 1
        self.nodes = set(nodes)
        self.unschedulable = set(unschedulable)
        self.leases: dict[str, dict[str, t.Any]] = {}
        self.conflict_next = 0
        self.writes: list[dict[str, t.Any]] = []

    @staticmethod
    def fail(status: int) -> t.NoReturn:
        raise refused(status)

    def get_nodes(self, name: str) -> NS:
        if name not in self.nodes:
            self.fail(404)
        return NS(spec=NS(unschedulable=name in self.unschedulable))

    def get_daemonsets(self, name: str, namespace: str) -> NS:
        return NS(metadata=NS(annotations=dict(self.annotations), resource_version=str(self.version)))

    def patch_daemonsets(self, name: str, body: dict[str, t.Any], namespace: str) -> None:
        if self.conflict_next:
            self.conflict_next -= 1
            self.version += 1
            self.fail(409)
        if body["metadata"]["resourceVersion"] != str(self.version):
            self.fail(409)
        for key, value in body["metadata"]["annotations"].items():
            if value is None:
                self.annotations.pop(key, None)
            else:
                self.annotations[key] = value
        self.version += 1
        self.writes.append(copy.deepcopy(body))

    def list_leases(self, namespace: str) -> NS:
        items = []
        for name, stored in self.leases.items():
            spec = stored["spec"]
            stamp = spec.get("renewTime")
            moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
            acquired = spec.get("acquireTime")
            items.append(NS(metadata=NS(name=name, resource_version=str(stored["version"]),
                                        annotations=stored["annotations"]),
                            spec=NS(holder_identity=spec.get("holderIdentity"),
                                    lease_duration_seconds=spec.get("leaseDurationSeconds"),
                                    renew_time=moment,
                                    acquire_time=datetime.datetime.fromisoformat(acquired.replace("Z", "+00:00"))
                                    if acquired else None)))
        items.append(NS(metadata=NS(name="unrelated-lease", resource_version="1", annotations={}),
                        spec=NS(holder_identity="x", lease_duration_seconds=None, renew_time=None, acquire_time=None)))
        return NS(items=items)

    def create_leases(self, body: dict[str, t.Any], namespace: str) -> None:
        name = body["metadata"]["name"]
        if name in self.leases:
            self.fail(409)
        self.leases[name] = {"spec": body["spec"], "annotations": body["metadata"]["annotations"], "version": 1}

    def patch_leases(self, name: str, body: dict[str, t.Any], namespace: str) -> None:
        stored = self.leases[name]
        if body["metadata"]["resourceVersion"] != str(stored["version"]):
            self.fail(409)
        stored["spec"].update(body.get("spec", {}))
        stored["annotations"] = body["metadata"]["annotations"]
        stored["version"] += 1


def make_lock(api: FakeApi, backend: str = "daemonset", max_holders: int = 1, ttl: float = 0,
              now: int = T0 + 60 * S, check_mode: bool = False, unschedulable: bool | None = None) -> RebootLock:
    settings = LockSettings(backend, "kube-system", "kured", "weave.works/kured-node-lock", "reboot", max_holders, ttl,
                            unschedulable)
    return RebootLock(api, settings, check_mode=check_mode, clock=lambda: now, sleep=lambda _s: None)


def test_acquire_writes_kured_single_form_with_the_nodes_cordon_state() -> None:
    api = FakeApi(unschedulable=["n1"])
    result = make_lock(api, ttl=1800).acquire("n1")
    assert result.acquired and result.changed
    value = json.loads(api.annotations["weave.works/kured-node-lock"])
    assert value == {"nodeID": "n1", "metadata": {"unschedulable": True}, "created": "2024-05-31T06:32:37.441623522Z",
                     "TTL": 1800 * S}
    assert api.writes[0]["metadata"]["resourceVersion"] == "1"


def test_metadata_unschedulable_can_be_given() -> None:
    api = FakeApi(unschedulable=["n1"])
    make_lock(api, unschedulable=False).acquire("n1")
    assert json.loads(api.annotations["weave.works/kured-node-lock"])["metadata"] == {"unschedulable": False}


def test_re_entrant_acquire_writes_nothing() -> None:
    api = FakeApi(KURED_SINGLE)
    result = make_lock(api).acquire("n1")
    assert result.acquired and not result.changed and not api.writes
    assert result.message == "n1 already holds the lock"


def test_a_lock_held_by_kured_is_honoured_and_named() -> None:
    api = FakeApi(KURED_SINGLE)
    result = make_lock(api).acquire("n2", wait_timeout=0)
    assert not result.acquired and not result.changed and not api.writes
    assert "held by n1" in result.message
    assert result.holders[0]["holder"] == "n1" and result.holders[0]["created"] == "2024-05-31T06:31:37.441623522Z"


def test_a_kured_multi_lock_honours_max_owners_from_our_side() -> None:
    api = FakeApi(KURED_MULTI)
    assert not make_lock(api, max_holders=2).acquire("n3").acquired
    assert make_lock(api, max_holders=3).acquire("n3").acquired
    assert [entry["nodeID"] for entry in json.loads(api.annotations["weave.works/kured-node-lock"])["locks"]] == \
        ["n1", "n2", "n3"]


def test_release_single_deletes_the_key() -> None:
    api = FakeApi(KURED_SINGLE)
    result = make_lock(api).release("n1")
    assert result.changed and not result.acquired and "weave.works/kured-node-lock" not in api.annotations
    assert api.writes[0]["metadata"]["annotations"] == {"weave.works/kured-node-lock": None}


def test_release_multi_removes_only_own_entry() -> None:
    api = FakeApi(KURED_MULTI)
    make_lock(api, max_holders=2).release("n2")
    assert api.annotations["weave.works/kured-node-lock"] == (
        '{"maxOwners":2,"locks":[{"nodeID":"n1","metadata":{"unschedulable":true},'
        '"created":"2024-05-31T06:31:37.441623522Z","TTL":1800000000000}]}')


def test_releasing_a_lock_not_held_changes_nothing_and_says_so() -> None:
    api = FakeApi(KURED_SINGLE)
    result = make_lock(api).release("n2")
    assert not result.changed and not api.writes
    assert result.message == "n2 does not hold the lock; nothing to release"


def test_expired_entries_are_pruned_when_writing() -> None:
    api = FakeApi(KURED_MULTI)
    make_lock(api, max_holders=2, now=T0 + 3600 * S).acquire("n3")
    assert [entry["nodeID"] for entry in json.loads(api.annotations["weave.works/kured-node-lock"])["locks"]] == \
        ["n2", "n3"]


def test_stale_holder_is_reported_and_taken_only_with_break_stale() -> None:
    api = FakeApi(KURED_SINGLE.replace('"n1"', '"deleted-node"'))
    result = make_lock(api).acquire("n2")
    assert not result.acquired
    assert result.holders[0]["stale"] is True and "break_stale" in result.message
    taken = make_lock(api).acquire("n2", break_stale=True)
    assert taken.acquired and "deleted-node" in taken.message
    assert json.loads(api.annotations["weave.works/kured-node-lock"])["nodeID"] == "n2"


def test_conflicts_re_read_and_retry() -> None:
    api = FakeApi()
    api.conflict_next = 3
    lock = make_lock(api)
    assert lock.acquire("n1").acquired and lock.conflicts == 3


def test_waiting_gives_up_at_the_timeout_with_a_result_not_an_error() -> None:
    api = FakeApi(KURED_SINGLE)
    slept: list[float] = []
    lock = make_lock(api)
    lock.sleep = slept.append
    result = lock.acquire("n2", wait_timeout=0.05, wait_sleep=0.01)
    assert not result.acquired and "waited 0.05 s" in result.message
    assert slept and all(0 <= seconds <= 0.05 for seconds in slept)


def test_check_mode_writes_nothing() -> None:
    api = FakeApi(KURED_SINGLE)
    assert make_lock(api, check_mode=True).release("n1").changed
    assert make_lock(FakeApi(), check_mode=True).acquire("n1").changed
    assert api.annotations["weave.works/kured-node-lock"] == KURED_SINGLE and not api.writes


def test_lease_backend_slots() -> None:
    api = FakeApi()
    lock = make_lock(api, backend="lease", max_holders=2, ttl=600)
    assert lock.acquire("n1").changed
    assert not lock.acquire("n1").changed
    assert lock.acquire("n2").acquired
    assert not lock.acquire("n3").acquired
    assert sorted(api.leases) == ["reboot-0", "reboot-1"]
    assert api.leases["reboot-0"]["spec"]["leaseDurationSeconds"] == 600
    assert lock.release("n1").changed
    assert api.leases["reboot-0"]["spec"]["holderIdentity"] is None
    assert lock.acquire("n3").acquired
    assert [entry["holder"] for entry in lock.holders()] == ["n3", "n2"]


def test_an_expired_lease_is_taken_over() -> None:
    api = FakeApi()
    make_lock(api, backend="lease", ttl=10).acquire("n1")
    later = make_lock(api, backend="lease", now=T0 + 120 * S)
    result = later.acquire("n2")
    assert result.acquired and [entry["holder"] for entry in result.holders] == ["n2"]


# ------------------------------------------------------------------------------------------------ stopped roll-outs


def test_a_stop_refuses_every_holder_at_once_naming_the_failed_node() -> None:
    api = FakeApi()
    lock = make_lock(api, max_holders=2)
    assert lock.acquire("n1").acquired
    stopped = lock.stop("n1", "drain", "PodDisruptionBudget web-pdb allows 0 disruptions")
    assert stopped.changed and stopped.acquired and stopped.stop["node"] == "n1"
    assert json.loads(api.annotations[STOP_ANNOTATION])["phase"] == "drain"
    slept: list[float] = []
    lock.sleep = slept.append
    for holder in ("n2", "n1"):  # a free place, and a re-entrant holder: both refused
        result = lock.acquire(holder, wait_timeout=600, wait_sleep=1)
        assert not result.acquired and not result.changed and result.stop["node"] == "n1"
        assert result.message.startswith("the roll-out was stopped by n1 (failed in phase drain at ")
        assert "web-pdb" in result.message
    assert not slept, "a stopped roll-out is refused at once, not waited for"
    assert [entry["nodeID"] for entry in json.loads(api.annotations["weave.works/kured-node-lock"])["locks"]] == ["n1"]


def test_the_first_stop_stays_and_a_second_changes_nothing() -> None:
    api = FakeApi()
    lock = make_lock(api)
    assert lock.stop("n1", "drain").changed
    writes = len(api.writes)
    again = lock.stop("n2", "lock")
    assert not again.changed and again.stop["node"] == "n1" and "already stopped by n1" in again.message
    assert not lock.stop("n1").changed and len(api.writes) == writes


def test_the_stopping_node_keeps_its_entry_until_the_stop_is_cleared() -> None:
    api = FakeApi()
    lock = make_lock(api)
    lock.acquire("n1")
    lock.stop("n1", "drain")
    kept = lock.release("n1")
    assert kept.changed and kept.acquired and "keeps its place" in kept.message
    assert kept.stop["release_with_stop"]
    assert json.loads(api.annotations["weave.works/kured-node-lock"])["nodeID"] == "n1", "kured stays held off"
    assert not lock.release("n1").changed
    resumed = lock.resume()
    assert resumed.changed and resumed.stop is None and resumed.stop_before["node"] == "n1"
    assert "weave.works/kured-node-lock" not in api.annotations and STOP_ANNOTATION not in api.annotations
    assert not lock.resume().changed
    assert lock.acquire("n2").acquired


def test_resuming_leaves_the_entry_of_a_node_that_went_down() -> None:
    api = FakeApi()
    lock = make_lock(api)
    lock.acquire("n1")
    lock.stop("n1", "wait")  # no release: the node is not back
    assert lock.resume().changed
    assert json.loads(api.annotations["weave.works/kured-node-lock"])["nodeID"] == "n1"
    assert STOP_ANNOTATION not in api.annotations


def test_stop_and_resume_in_check_mode_write_nothing() -> None:
    api = FakeApi()
    assert make_lock(api, check_mode=True).stop("n1").changed
    assert not api.writes
    make_lock(api).stop("n1")
    writes = len(api.writes)
    assert make_lock(api, check_mode=True).resume().changed and len(api.writes) == writes


def test_a_stop_written_by_hand_as_a_bare_node_name_is_honoured() -> None:
    assert parse_stop("n7").node == "n7" and parse_stop("") is None and parse_stop(None) is None
    api = FakeApi()
    api.annotations[STOP_ANNOTATION] = "n7"
    assert make_lock(api).acquire("n1").message.startswith("the roll-out was stopped by n7;")


def test_lease_backend_stop_lives_on_the_lease_named_after_the_slots() -> None:
    api = FakeApi()
    lock = make_lock(api, backend="lease", max_holders=2)
    lock.acquire("n1")
    lock.stop("n1", "drain")
    assert STOP_ANNOTATION in api.leases["reboot"]["annotations"]
    assert not lock.acquire("n2").acquired
    assert lock.release("n1").acquired, "the stopping node keeps its slot"
    assert [entry["holder"] for entry in lock.holders()] == ["n1"]
    assert lock.resume().changed
    assert lock.holders() == [] and api.leases["reboot"]["annotations"][STOP_ANNOTATION] is None
    assert lock.acquire("n2").acquired


def test_lease_backend_gives_the_slot_back_when_the_stop_came_between_read_and_write() -> None:
    api = FakeApi()
    make_lock(api, backend="lease", max_holders=2).stop("n1", "drain")
    api.leases["reboot"]["annotations"] = {}  # as read: not stopped yet
    stop_value = make_lock(FakeApi()).stop("n1").stop
    original_create = api.create_leases

    def create_then_stop(body: dict[str, t.Any], namespace: str) -> None:
        original_create(body, namespace)
        api.leases["reboot"]["annotations"] = {STOP_ANNOTATION: json.dumps({"node": stop_value["node"]})}
        api.leases["reboot"]["version"] += 1

    api.create_leases = create_then_stop  # type: ignore[method-assign]
    result = make_lock(api, backend="lease", max_holders=2).acquire("n2")
    assert not result.acquired and "stopped by n1" in result.message
    assert api.leases["reboot-0"]["spec"]["holderIdentity"] is None, "the slot taken after the stop is given back"
