# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reboot_gate against the real API server and the test bed's real Prometheus, with the least-privilege kubeconfig.

Blocking pods live in a private namespace and carry a label unique to the test; alerts have names unique to the
test and the gate only counts those (alert_filter_match_only), so other suites' alerts never interfere."""

from __future__ import annotations

import datetime
import socket
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import ModuleRunner, Testbed

PAUSE = "registry.k8s.io/pause:3.10"

NAMESPACE_PREFIX = "np-gate"


@pytest.fixture
def alert_name(testbed: Testbed) -> Iterator[str]:
    name = f"NodepatchGate{uuid.uuid4().hex[:6]}"
    yield name
    testbed.alert(on=False, name=name)


def gate(run_module: ModuleRunner, testbed: Testbed, **args: Any) -> dict[str, Any]:
    result = run_module("reboot_gate", {"kubeconfig": testbed.kubeconfig, "name": testbed.nodes[0], **args})
    assert not result.get("failed"), result
    assert result["changed"] is False
    return result


def pod_on(testbed: Testbed, namespace: str, node: str, label: str, name: str = "backup") -> None:
    key, value = label.split("=")
    testbed.core_v1().create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {key: value}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "c", "image": PAUSE}]}})
    testbed.wait_until(lambda: testbed.core_v1().read_namespaced_pod(name, namespace).status.phase == "Running", 60,
                       f"pod {name} running")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_gate_is_open_when_nothing_blocks(run_module: ModuleRunner, testbed: Testbed, namespace: str,
                                              alert_name: str) -> None:
    label = f"np-gate={uuid.uuid4().hex[:6]}"
    result = gate(run_module, testbed, blocking_pod_selectors=[label], prometheus_url=testbed.prometheus_url,
                  alert_filter_regexp=f"^{alert_name}$", alert_filter_match_only=True)
    assert result["blocked"] is False, result["reasons"]
    assert (result["reasons"], result["window_open"], result["next_window_start"]) == ([], True, None)
    assert (result["blocking_pods"], result["blocking_alerts"]) == ([], [])


def test_a_matching_pod_on_the_node_blocks_and_one_elsewhere_does_not(
        run_module: ModuleRunner, testbed: Testbed, namespace: str) -> None:
    label = f"np-gate={uuid.uuid4().hex[:6]}"
    pod_on(testbed, namespace, testbed.nodes[1], label, "elsewhere")
    assert gate(run_module, testbed, blocking_pod_selectors=[label])["blocked"] is False

    pod_on(testbed, namespace, testbed.nodes[0], label)
    result = gate(run_module, testbed, blocking_pod_selectors=["np-gate=unrelated", label])

    assert result["blocked"] is True
    assert result["blocking_pods"] == [f"{namespace}/backup ({label})"]
    assert result["reasons"] == [f"blocking pods on the node: {namespace}/backup ({label})"]


def test_a_firing_alert_blocks_and_the_filter_can_ignore_it(run_module: ModuleRunner, testbed: Testbed,
                                                            alert_name: str) -> None:
    testbed.alert(on=True, name=alert_name)

    result = gate(run_module, testbed, prometheus_url=testbed.prometheus_url,
                  alert_filter_regexp=f"^{alert_name}$", alert_filter_match_only=True, alert_firing_only=True)
    assert result["blocked"] is True
    assert result["blocking_alerts"] == [alert_name]
    assert result["reasons"] == [f"active Prometheus alerts: {alert_name}"]

    # The test bed's alerts carry severity=warning: a matcher for critical ones lets the node through.
    narrowed = gate(run_module, testbed, prometheus_url=testbed.prometheus_url,
                    alert_filter_regexp=f"^{alert_name}$", alert_filter_match_only=True,
                    alert_label_matchers={"severity": "critical"})
    assert narrowed["blocked"] is False

    testbed.alert(on=False, name=alert_name)
    cleared = gate(run_module, testbed, prometheus_url=testbed.prometheus_url,
                   alert_filter_regexp=f"^{alert_name}$", alert_filter_match_only=True)
    assert cleared["blocked"] is False


def test_an_unreachable_prometheus_blocks_and_says_why(run_module: ModuleRunner, testbed: Testbed) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = gate(run_module, testbed, prometheus_url=url, prometheus_timeout=3)
    assert result["blocked"] is True
    (reason,) = result["reasons"]
    assert f"cannot read alerts from Prometheus at {url}/api/v1/alerts" in reason
    assert "a Prometheus that cannot answer blocks" in reason


def test_a_url_that_is_not_prometheus_blocks(run_module: ModuleRunner, testbed: Testbed) -> None:
    # The API server answers, but not Prometheus' alerts API (HTTP 401/403/404 for this path).
    result = gate(run_module, testbed, prometheus_url=testbed.api_url, prometheus_validate_certs=False)
    assert result["blocked"] is True
    assert "cannot read alerts from Prometheus" in result["reasons"][0]


def test_outside_the_window_blocks_and_tells_when_it_opens(run_module: ModuleRunner, testbed: Testbed) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    # A one-minute window twelve hours away, on today's and tomorrow's weekday in UTC.
    start = (now + datetime.timedelta(hours=12)).replace(second=0, microsecond=0)
    days = sorted({start.strftime("%a").lower()[:2], (start - datetime.timedelta(days=1)).strftime("%a").lower()[:2]})
    result = gate(run_module, testbed, reboot_days=days, start_time=start.strftime("%H:%M"),
                  end_time=start.strftime("%H:%M"), time_zone="UTC")
    assert result["blocked"] is True and result["window_open"] is False
    assert datetime.datetime.fromisoformat(result["next_window_start"]) == start
    assert result["reasons"][0].startswith("outside the reboot window")


def test_an_api_error_blocks_and_says_why(run_module: ModuleRunner, testbed: Testbed, tmp_path: Any) -> None:
    # The API server answers 401 to a token it does not know: an error of the API, so the gate blocks.
    result = run_module("reboot_gate", {"kubeconfig": testbed.kubeconfig, "api_key": "not-a-valid-token",
                                        "name": testbed.nodes[0], "blocking_pod_selectors": ["app=backup"]})
    assert not result.get("failed"), result
    assert result["blocked"] is True
    assert result["reasons"][0].startswith("cannot check for blocking pods, so they block:")
    assert "401" in result["reasons"][0] and "api_key" in result["reasons"][0]


def test_a_connection_that_cannot_be_set_up_fails_instead_of_blocking(run_module: ModuleRunner, testbed: Testbed,
                                                                      tmp_path: Any) -> None:
    missing = tmp_path / "no-kubeconfig"
    result = run_module("reboot_gate", {"kubeconfig": str(missing), "name": testbed.nodes[0],
                                        "blocking_pod_selectors": ["app=backup"]})
    assert result.get("failed") is True, result
    assert result["msg"].startswith(f"kubeconfig: {missing} does not exist")


def test_invalid_options_fail_before_asking_anything(run_module: ModuleRunner, testbed: Testbed) -> None:
    for args, words in (({"reboot_days": ["someday"]}, "reboot_days"),
                        ({"start_time": "25:00"}, "start_time"),
                        ({"time_zone": "Europe/Atlantis"}, "Europe/Atlantis"),
                        ({"alert_filter_regexp": "("}, "alert_filter_regexp"),
                        ({"name": None, "blocking_pod_selectors": ["a=b"]}, "needs name")):
        result = run_module("reboot_gate", {"kubeconfig": testbed.kubeconfig, "name": testbed.nodes[0], **args})
        assert result.get("failed"), (args, result)
        assert words in result["msg"]


def test_read_node_returns_the_node_as_node_info_does_in_the_same_run(run_module: ModuleRunner,
                                                                      testbed: Testbed) -> None:
    node = testbed.nodes[0]
    result = gate(run_module, testbed, read_node=True, start_time="0:00", end_time="23:59:59")
    listed = run_module("node_info", {"kubeconfig": testbed.kubeconfig, "names": [node], "lock_backend": "none"})
    assert not listed.get("failed"), listed
    # Read a moment apart; the facts leave out the heartbeats, so they are the same.
    expected = {key: value for key, value in listed["nodes"][0].items() if key != "lock_holder"}  # the gate reads no lock
    assert result["node"] == expected, {key: (result["node"].get(key), value) for key, value in expected.items()
                                        if result["node"].get(key) != value}
    assert result["node"]["boot_id"] == testbed.boot_id(node) and result["blocked"] is False
    assert "node" not in gate(run_module, testbed)

    missing = run_module("reboot_gate", {"kubeconfig": testbed.kubeconfig, "name": "np-gate-no-such-node",
                                         "read_node": True})
    assert missing.get("failed") and "node/np-gate-no-such-node" in missing["msg"], missing
    nameless = run_module("reboot_gate", {"kubeconfig": testbed.kubeconfig, "read_node": True})
    assert nameless.get("failed") and "read_node needs name" in nameless["msg"], nameless
