# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input to the Kubernetes-facing modules: refused with a message naming the option, and nothing written.

The cases come from each module's own argument spec (spec_cases.py: wrong types, negative numbers, values outside
choices, missing required options, broken option rules, at every depth of suboptions), plus the ones a spec
cannot imply (unknown node, bad durations, time windows, selectors, label keys, kubeconfigs, an unreachable API
server on a closed loopback port). All of them run in ONE playbook with the least-privilege kubeconfig; the API
server's audit log must show zero write requests of that identity over the whole run. A control task at the end
takes and frees a Lease, so the audit log is shown to record this identity's writes at all.

An option with no case fails `test_every_option_has_a_case` unless ALLOWED names it with the reason it cannot be
wrong.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from spec_cases import Case, counts, failures, generated_cases, module_spec, run_cases, uncovered

MODULES = ("node_lock", "node_drain", "node_info", "node_metadata", "reboot_gate", "kured_deployment",
           "rollout_report", "notify", "reboot_required")
KUBE_MODULES = ("node_lock", "node_drain", "node_info", "node_metadata", "reboot_gate", "kured_deployment")
CONTROL_LEASE = "np-badinput-control"

# Options no value can make wrong, per module, with the reason. Everything else needs a case.
KUBE_ALLOWED = {
    "proxy": "covered on node_info only (an unreachable proxy waits out the retries like an unreachable host)",
}
ALLOWED: dict[str, dict[str, str]] = {
    "node_lock": {
        **KUBE_ALLOWED,
        "namespace": "any namespace is a valid place for the lock; one that does not exist is a 404 on the read",
        "daemonset": "any DaemonSet name is a valid place for the lock; a missing one is a 404 on the read",
        "lease_name": "any Lease name is valid; the Lease is created on first acquire",
        "metadata_unschedulable": "a bool or null: the generated type case covers it",
        "stop_phase": "free text recorded with a stop, for the operator who reads it",
        "stop_reason": "free text recorded with a stop, for the operator who reads it",
    },
    "node_drain": {**KUBE_ALLOWED},
    "node_info": {
        "lock_namespace": "only read; a lock that is not there is a warning and an empty holder list",
        "lock_daemonset": "only read; a lock that is not there is a warning and an empty holder list",
        "lock_annotation": "only read; an annotation that is not there means no holders",
        "lock_lease_name": "only read; a Lease that is not there means no holders",
    },
    "node_metadata": {**KUBE_ALLOWED},
    "reboot_gate": {
        **KUBE_ALLOWED,
        "alert_label_matchers": "any label names and values may be matched",
        "name": "it selects pods by spec.nodeName: an unknown node has none, so none block (the role passes the "
                "inventory host, a node of the cluster)",
    },
    "kured_deployment": {
        **KUBE_ALLOWED,
        "image": "any image reference; a wrong one fails when kured's pods pull it, after the deploy",
        "notify_url": "kured's own shoutrrr URL, passed as it is (kured validates it at start)",
        "variable_prefix": "only the prefix of option names in messages",
        **{f"settings.{name}": "free text passed to kured as its flag value" for name in (
            "lock_annotation", "prometheus_url", "prefer_no_schedule_taint", "message_template_drain",
            "message_template_reboot", "message_template_uncordon", "reboot_command", "reboot_sentinel_command")},
    },
    "rollout_report": {"title": "any text is a title"},
    "notify": {
        "event": "any event name; it is text in the message",
        "node": "any node name; it is text in the message",
        "cluster": "any cluster name; it is text in the message",
        "reason": "any text",
        "text": "any text",
        "details": "any mapping; its values are text in the message",
        "webhooks.headers": "any header names and values (the generated type case covers a non-mapping)",
    },
    "reboot_required": {
        "sentinel_file": "a file that does not exist means no reboot is needed",
        "kernel_dirs": "a directory that does not exist holds no kernels",
    },
}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bases(testbed: Any, tmp_path: Path, receiver_url: str) -> dict[str, dict[str, Any]]:
    """Valid arguments per module: each case changes one thing in them. Modules that write are given the state
    that writes, so a check that is missing shows up as a write in the audit log."""
    node = testbed.nodes[0]
    kube = {"kubeconfig": testbed.kubeconfig}
    return {
        "node_lock": {**kube, "holder": node, "state": "acquired", "backend": "lease", "lease_name": "np-badinput-case"},
        "node_drain": {**kube, "name": node, "state": "drained", "timeout": 30},
        "node_info": {**kube, "names": [node]},
        "node_metadata": {**kube, "name": node, "annotations": {"nodepatch.kube/bad-input": "x"}},
        "reboot_gate": {**kube, "name": node, "blocking_pod_selectors": ["app=np-badinput"]},
        "kured_deployment": {**kube, "namespace": "np-badinput", "state": "present"},
        "rollout_report": {"records": [], "json_path": str(tmp_path / "report.json")},
        "notify": {"webhooks": [{"url": receiver_url}], "event": "np-badinput", "text": "bad input"},
        "reboot_required": {"detectors": ["file"], "sentinel_file": str(tmp_path / "no-sentinel")},
    }


SUB_BASES = {"notify": {"webhooks": {"url": "http://127.0.0.1:9/hook"}}}


def kube_connection_cases(module: str, base: dict[str, Any], tmp_path: Path, testbed: Any, port: int) -> list[Case]:
    """A kubeconfig that is not there, not YAML, a context it lacks, a refused token, certificate files that are
    not there, and (node_info) an API server and a proxy on a closed loopback port."""
    garbage = tmp_path / "garbage-kubeconfig"
    garbage.write_text("apiVersion: v1\nclusters: [this is: not a kubeconfig\n")
    rest = {k: v for k, v in base.items() if k != "kubeconfig"}
    missing = str(tmp_path / "no-such-file")
    cases = [
        Case(module, "kubeconfig: a file that does not exist", ("kubeconfig",), {**rest, "kubeconfig": missing},
             ("kubeconfig", missing)),
        Case(module, "kubeconfig: not a kubeconfig", ("kubeconfig",), {**rest, "kubeconfig": str(garbage)},
             ("kubeconfig", str(garbage))),
        Case(module, "context: not in the kubeconfig", ("context",), {**base, "context": "no-such-context"},
             ("context", "no-such-context")),
        Case(module, "api_key: a token the API server refuses", ("api_key",),
             {**base, "api_key": "not-a-valid-token"}, ("api_key", "401")),
        Case(module, "ca_cert: a file that does not exist", ("ca_cert",), {**base, "ca_cert": missing},
             ("ca_cert", missing)),
        Case(module, "client_cert: a file that does not exist", ("client_cert",),
             {**base, "client_cert": missing, "client_key": missing}, ("client_cert", missing)),
        Case(module, "client_key: a file that does not exist", ("client_key",),
             {**base, "client_cert": str(Path(testbed.info["ca_cert"])), "client_key": missing},
             ("client_key", missing)),
        Case(module, "host: an address where nothing listens", ("host",),
             {**rest, "host": f"https://127.0.0.1:{port}", "api_key": "x", "validate_certs": False},
             ("host", f"127.0.0.1:{port}"), slow=True),
    ]
    if module == "node_info":
        cases.append(Case(module, "proxy: an address where nothing listens", ("proxy",),
                          {**base, "proxy": f"http://127.0.0.1:{port}"}, ("proxy", str(port)), slow=True))
    if module == "reboot_gate":
        # The gate's own rule: an API that refuses or does not answer blocks the reboot (its reason says why).
        for case in cases:
            if case.options[0] in ("api_key", "host"):
                case.blocked = True
    return cases


def hand_cases(testbed: Any, tmp_path: Path, b: dict[str, dict[str, Any]]) -> list[Case]:
    """What a spec cannot say: values of the right type that are still wrong."""
    cases = []

    def case(module: str, what: str, options: tuple[str, ...], change: dict[str, Any],
             expect: tuple[str, ...] = ()) -> None:
        args = {key: value for key, value in {**b[module], **change}.items() if value is not None}
        cases.append(Case(module, what, options, args, expect))

    unknown = "np-no-such-node"
    case("node_lock", "ttl: not a duration", ("ttl",), {"ttl": "5 parsecs"}, ("ttl", "5 parsecs", "duration"))
    case("node_lock", "ttl: negative", ("ttl",), {"ttl": "-5m"}, ("ttl", "-5m"))
    case("node_lock", "max_holders: 0", ("max_holders",), {"max_holders": 0}, ("max_holders", "1 or more"))
    case("node_lock", "wait_sleep: 0", ("wait_sleep",), {"wait_sleep": 0}, ("wait_sleep", "more than 0"))
    case("node_lock", "holder: empty", ("holder",), {"holder": ""}, ("holder",))
    case("node_lock", "annotation: not an annotation key", ("annotation",),
         {"backend": "daemonset", "annotation": "not a key!"}, ("annotation", "not a key!"))
    case("node_drain", "name: an unknown node", ("name",), {"name": unknown}, ("name", unknown))
    case("node_drain", "pod_selector: not a label selector", ("pod_selector",), {"pod_selector": "app in (a"},
         ("pod_selector", "app in (a"))
    case("node_drain", "timeout: 0", ("timeout",), {"timeout": 0}, ("timeout", "greater than 0"))
    case("node_drain", "eviction_concurrency: 0", ("eviction_concurrency",), {"eviction_concurrency": 0},
         ("eviction_concurrency", "greater than 0"))
    case("node_info", "names: an unknown node", ("names",), {"names": [unknown]}, (unknown,))
    case("node_info", "label_selector: not a label selector", ("label_selector",),
         {"names": [], "label_selector": "tier notin"}, ("label_selector", "tier notin"))
    case("node_info", "changed_boot_id_from: one boot id for two nodes", ("changed_boot_id_from",),
         {"changed_boot_id_from": "0b1d", "names": testbed.nodes[:2], "wait_ready": True},
         ("changed_boot_id_from", "exactly one name"))
    case("node_info", "wait_ready: without names", ("wait_ready",), {"wait_ready": True, "names": []},
         ("wait_ready", "names"))
    case("node_metadata", "name: an unknown node", ("name",), {"name": unknown}, ("name", unknown))
    case("node_metadata", "annotations: a key that is not a Kubernetes key", ("annotations",),
         {"annotations": {"bad key!": "x"}}, ("annotations", "bad key!"))
    case("node_metadata", "labels: a key that is not a Kubernetes key", ("labels",),
         {"labels": {"-bad-": "x"}}, ("labels", "-bad-"))
    case("node_metadata", "labels: a value that is not a label value", ("labels",),
         {"labels": {"nodepatch.kube/ok": "not valid!"}}, ("labels", "not valid!"))
    case("reboot_gate", "reboot_days: not a day", ("reboot_days",), {"reboot_days": ["funday"]},
         ("reboot_days", "funday"))
    case("reboot_gate", "start_time: not a time", ("start_time",), {"start_time": "25:61"}, ("start_time", "25:61"))
    case("reboot_gate", "end_time: not a time", ("end_time",), {"end_time": "teatime"}, ("end_time", "teatime"))
    case("reboot_gate", "time_zone: not a zone", ("time_zone",), {"time_zone": "Mars/Olympus"},
         ("time_zone", "Mars/Olympus"))
    case("reboot_gate", "blocking_pod_selectors: not a label selector", ("blocking_pod_selectors",),
         {"blocking_pod_selectors": ["app=(x"]}, ("blocking_pod_selectors", "app=(x"))
    case("reboot_gate", "blocking_pod_selectors: without name", ("blocking_pod_selectors",), {"name": None},
         ("blocking_pod_selectors", "name"))
    case("reboot_gate", "alert_filter_regexp: not a regular expression", ("alert_filter_regexp",),
         {"alert_filter_regexp": "(unclosed"}, ("alert_filter_regexp",))
    case("reboot_gate", "prometheus_url: not a URL", ("prometheus_url",), {"prometheus_url": "prometheus:9090"},
         ("prometheus_url", "prometheus:9090", "http"))
    case("kured_deployment", "namespace: not a name", ("namespace",), {"namespace": "Bad_NS"}, ("namespace", "Bad_NS"))
    case("kured_deployment", "daemonset: not a name", ("daemonset",), {"daemonset": "kured!"}, ("daemonset",))
    case("kured_deployment", "rbac_name: not a name", ("rbac_name",), {"rbac_name": "UPPER"}, ("rbac_name",))
    case("kured_deployment", "sentinel_file: not absolute", ("sentinel_file",), {"sentinel_file": "reboot-required"},
         ("sentinel_file",))
    case("kured_deployment", "metrics_port: not a port", ("metrics_port",), {"metrics_port": 70000},
         ("metrics_port", "70000"))
    case("kured_deployment", "tolerations: an unknown effect", ("tolerations",),
         {"tolerations": [{"key": "x", "operator": "Exists", "effect": "Sometimes"}]}, ("tolerations", "Sometimes"))
    case("kured_deployment", "node_selector: a key that is not a label key", ("node_selector",),
         {"node_selector": {"bad key!": "x"}}, ("node_selector", "bad key!"))
    settings_bad = {
        "period": "hourly", "reboot_days": ["funday"], "start_time": "25:00", "end_time": "teatime",
        "time_zone": "Mars/Olympus", "lock_ttl": "forever", "lock_release_delay": "soon", "drain_timeout": "1 parsec",
        "drain_delay": "x", "drain_pod_selector": "app in (a", "reboot_delay": "later",
        "blocking_pod_selectors": ["app=(x"], "alert_filter_regexp": "(unclosed",
        "pre_reboot_node_labels": ["not a label"], "post_reboot_node_labels": ["not a label"],
        "concurrency": 0, "reboot_signal": 65, "reboot_method": "kick", "log_format": "xml",
    }
    for name, value in settings_bad.items():
        case("kured_deployment", f"settings.{name}: {value!r}", (f"settings.{name}",), {"settings": {name: value}},
             (name,))
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    case("rollout_report", "json_path: below a file", ("json_path",), {"json_path": str(a_file / "r.json")},
         ("json_path", "a-file"))
    case("rollout_report", "html_path: below a file", ("html_path",), {"html_path": str(a_file / "r.html")},
         ("html_path", "a-file"))
    case("notify", "webhooks.url: not a URL", ("webhooks.url",), {"webhooks": [{"url": "not a url"}]},
         ("webhooks.url", "http"))
    case("notify", "text_template: a field it does not know", ("text_template",),
         {"text": None, "text_template": "{nosuchfield}"}, ("text_template", "nosuchfield"))
    case("notify", "ca_path: a file that does not exist", ("ca_path",), {"ca_path": str(tmp_path / "no-ca.pem")},
         ("ca_path", "no-ca.pem"))
    case("reboot_required", "sentinel_command: a command that does not exist", ("sentinel_command",),
         {"detectors": ["command"], "sentinel_command": [str(tmp_path / "no-such-command")]},
         ("sentinel_command", "no-such-command"))
    case("reboot_required", "sentinel_command: missing for the command detector", ("sentinel_command",),
         {"detectors": ["command"]}, ("sentinel_command",))
    return cases


@pytest.fixture
def bad_input(testbed: Any, tmp_path: Path, collections_root: Path, receiver: Any) -> dict[str, Any]:
    receiver_url = receiver.url("/hooks/np-badinput")
    b = bases(testbed, tmp_path, receiver_url)
    port = closed_port()
    specs = {module: module_spec(collections_root, module) for module in MODULES}
    cases: list[Case] = []
    for module in MODULES:
        spec, kwargs = specs[module]
        cases += generated_cases(module, spec, kwargs, b[module], SUB_BASES.get(module))
        if module in KUBE_MODULES:
            cases += kube_connection_cases(module, b[module], tmp_path, testbed, port)
    cases += hand_cases(testbed, tmp_path, b)
    return {"cases": cases, "specs": specs, "receiver": receiver}


def test_every_option_has_a_case(bad_input: dict[str, Any]) -> None:
    """A new option gets a case by default (typed, choices, required); else it fails here until it has one."""
    missing = {}
    for module, (spec, _kwargs) in bad_input["specs"].items():
        cases = [case for case in bad_input["cases"] if case.module == module]
        left = uncovered(spec, cases, ALLOWED.get(module, {}))
        if left:
            missing[module] = sorted(left)
    assert not missing, f"options without a bad-input case (add one, or a reason to ALLOWED): {missing}"


def test_bad_input_is_refused_before_any_write(bad_input: dict[str, Any], testbed: Any, audit_log: Any,
                                               collections_root: Path, tmp_path: Path) -> None:
    cases: list[Case] = bad_input["cases"]
    control = {"kubeconfig": testbed.kubeconfig, "holder": testbed.nodes[0], "backend": "lease",
               "lease_name": CONTROL_LEASE}
    # The control: one acquire and one release of a Lease no case uses, after every case.
    controls = [Case("node_lock", f"control: {state}", (), {**control, "state": state}, key=f"control_{state}")
                for state in ("acquired", "released")]
    user = audit_log.user_of(testbed)
    mark = audit_log.mark()
    started = time.monotonic()
    results = run_cases(cases + controls, collections_root, tmp_path)
    seconds = time.monotonic() - started
    writes = audit_log.writes(mark, user=user)
    # The lease backend names its Lease objects after lease_name (one per holder slot: NAME-0, ...).
    control_writes = [w for w in writes if w.name.startswith(CONTROL_LEASE)]
    case_writes = [w for w in writes if not w.name.startswith(CONTROL_LEASE)]
    # Each of our requests names its module in the User-Agent, so the writes are counted per module although the
    # cases run in parallel.
    per_module = counts(cases)
    width = max(map(len, per_module))
    print(f"\nbad-input cases: {len(cases)} in {seconds:.1f} s; write requests by {user}, per module:")
    for module, number in sorted(per_module.items()):
        written = sum(1 for write in case_writes if write.agent == module)
        print(f"  {module:<{width}}  {number:>4} cases  {written} writes")
    print(f"  other writes during the cases: {sum(1 for write in case_writes if write.agent not in per_module)}; "
          f"control writes (node_lock): {len(control_writes)}")
    for write in case_writes:
        print(f"  WRITE {write}")
    slowest = sorted(cases, key=lambda case: -results[case.key].get("_seconds", 0))[:5]
    print("slowest: " + "; ".join(f"{c.module}: {c.what} {results[c.key].get('_seconds')} s" for c in slowest))
    problems = failures(cases, results)
    print("\n".join(problems))
    for key in ("control_acquired", "control_released"):
        assert not results[key].get("failed"), f"the control task failed: {results[key]}"
    assert control_writes, f"the audit log recorded no write of the control task: is auditing on? ({audit_log.path})"
    assert {write.agent for write in control_writes} == {"node_lock"}, \
        f"the control's writes do not name their module: {[write.user_agent for write in control_writes]}"
    assert not problems, f"{len(problems)} of {len(cases)} cases were not refused clearly:\n" + "\n".join(problems)
    assert not case_writes, "write requests during bad-input cases:\n" + "\n".join(map(str, case_writes))
    assert not bad_input["receiver"].requests, f"webhooks were called: {bad_input['receiver'].requests}"
