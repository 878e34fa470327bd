# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reboot gate: alert filtering, blocking pods, and "cannot answer" blocking."""

from __future__ import annotations

import json
import typing as t
from types import SimpleNamespace as NS

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.gate import (
    AlertFilter,
    blocking_pods,
    evaluate_gate,
    prometheus_alerts,
)
from ansible_collections.nodepatch.kube.tests.unit.plugins.module_utils.fake_kube import FakeKube
from ansible_collections.nodepatch.kube.tests.unit.plugins.module_utils.test_window import utc, window

# ------------------------------------------------------------------------------------------ alerts


def alert(name: str, state: str = "firing", **labels: str) -> dict[str, t.Any]:
    return {"labels": {"alertname": name, **labels}, "state": state}


ALERTS = [alert("Watchdog"), alert("NodeDown", severity="critical"), alert("DiskFilling", "pending"),
          alert("NodeDown", severity="critical", instance="b"), alert("Old", "inactive")]


def test_without_a_filter_every_active_alert_blocks_once() -> None:
    assert AlertFilter().blocking(ALERTS) == ["DiskFilling", "NodeDown", "Watchdog"]


def test_the_regexp_ignores_matching_alerts() -> None:
    assert AlertFilter(regexp="^Watchdog$").blocking(ALERTS) == ["DiskFilling", "NodeDown"]


def test_match_only_blocks_only_on_matching_alerts() -> None:
    assert AlertFilter(regexp="Node|Disk", match_only=True).blocking(ALERTS) == ["DiskFilling", "NodeDown"]


def test_match_only_without_a_regexp_filters_nothing_like_kured() -> None:
    assert AlertFilter(match_only=True).blocking(ALERTS) == ["DiskFilling", "NodeDown", "Watchdog"]


def test_the_regexp_searches_unanchored_like_go() -> None:
    assert AlertFilter(regexp="dog").blocking([alert("Watchdog")]) == []


def test_firing_only_ignores_pending_alerts() -> None:
    assert AlertFilter(firing_only=True).blocking(ALERTS) == ["NodeDown", "Watchdog"]


def test_label_matchers_narrow_to_alerts_with_all_the_labels() -> None:
    assert AlertFilter(label_matchers={"severity": "critical"}).blocking(ALERTS) == ["NodeDown"]
    assert AlertFilter(label_matchers={"severity": "critical", "instance": "b"}).blocking(ALERTS) == ["NodeDown"]
    assert AlertFilter(label_matchers={"severity": "warning"}).blocking(ALERTS) == []


def test_an_invalid_regexp_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="alert_filter_regexp"):
        AlertFilter(regexp="(unclosed")


def answer(body: t.Any) -> t.Callable[[str], bytes]:
    return lambda url: json.dumps(body).encode()


def test_prometheus_alerts_reads_the_alerts_api() -> None:
    seen = []

    def fetch(url: str) -> bytes:
        seen.append(url)
        return json.dumps({"status": "success", "data": {"alerts": ALERTS}}).encode()

    assert prometheus_alerts(fetch, "http://prom:9090/") == ALERTS
    assert seen == ["http://prom:9090/api/v1/alerts"]


@pytest.mark.parametrize("fetch, words", [
    (answer({"status": "error", "error": "boom"}), "did not answer success: boom"),
    (answer({"status": "success", "data": {}}), "without data.alerts"),
    (lambda url: b"<html>login</html>", "not JSON"),
])
def test_an_unusable_prometheus_answer_raises(fetch: t.Callable[[str], bytes], words: str) -> None:
    with pytest.raises(NodepatchError, match=words):
        prometheus_alerts(fetch, "http://prom:9090")


def test_an_unreachable_prometheus_raises_with_the_url() -> None:
    def refuse(url: str) -> bytes:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(NodepatchError, match="http://127.0.0.1:1/api/v1/alerts.*Connection refused"):
        prometheus_alerts(refuse, "http://127.0.0.1:1")


# ------------------------------------------------------------------------------------------ the gate


def test_an_open_gate_has_no_reasons() -> None:
    result = evaluate_gate(utc("2026-11-23 10:00:00"), window("mo", "9:00", "17:00"), lambda: [], lambda: [])
    assert result.as_dict() == {"blocked": False, "reasons": [], "window_open": True, "next_window_start": None,
                                "blocking_pods": [], "blocking_alerts": []}


def test_every_blocker_is_reported_at_once() -> None:
    result = evaluate_gate(utc("2026-11-23 07:00:00"), window("mo", "9:00", "17:00", "Europe/Berlin"),
                           lambda: ["backup/nightly (app=backup)"], lambda: ["NodeDown"])
    assert result.blocked
    assert result.next_window_start == "2026-11-23T09:00:00+01:00"
    assert result.reasons == [
        "outside the reboot window mo 09:00:00-17:00:00 Europe/Berlin; it opens 2026-11-23T09:00:00+01:00",
        "blocking pods on the node: backup/nightly (app=backup)",
        "active Prometheus alerts: NodeDown"]


def test_checks_that_cannot_answer_block_and_say_why() -> None:
    def api_down() -> list[str]:
        raise NodepatchError("cannot list the pods of node/n1: HTTP 403 Forbidden")

    def prometheus_down() -> list[str]:
        raise NodepatchError("cannot read alerts from Prometheus at http://p/api/v1/alerts: timed out")

    result = evaluate_gate(utc("2026-11-23 10:00:00"), window("mo", "0:00", "23:59:59"), api_down, prometheus_down)
    assert result.blocked
    assert "cannot check for blocking pods, so they block: cannot list the pods of node/n1" in result.reasons[0]
    assert "timed out (a Prometheus that cannot answer blocks)" in result.reasons[1]


def test_blocking_pods_are_the_unfinished_matching_pods_of_the_node() -> None:
    calls = []

    def list_pods(**kwargs: t.Any) -> t.Any:
        calls.append(kwargs)
        return NS(items=[NS(metadata=NS(namespace="backup", name=phase.lower()), status=NS(phase=phase))
                         for phase in ("Running", "Pending", "Succeeded", "Failed", "Unknown")])

    client = FakeKube(list_pods=list_pods)
    assert blocking_pods(client, "n1", ["app=backup"]) == [
        "backup/pending (app=backup)", "backup/running (app=backup)"]
    assert calls == [{"field_selector": "spec.nodeName=n1", "label_selector": "app=backup"}]
