# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kured's objects from settings, with plain data: flags only where they differ from kured's defaults (the
defaults as cmd/kured/main.go declares them), normalised to forms kured's parsers take, errors naming the variable;
and the comparison that decides whether an applied object is up to date."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils.apply import matches, plan_absent, plan_present, replacement
from ansible_collections.nodepatch.kube.plugins.module_utils.kured_manifest import (
    MANAGED_BY,
    KuredSpec,
    container_args,
    kured_args,
    objects,
    validate_settings,
)

KUREDS_DEFAULTS = {
    "period": "1h", "reboot_days": ["su", "mo", "tu", "we", "th", "fr", "sa"], "start_time": "0:00",
    "end_time": "23:59:59", "time_zone": "UTC", "concurrency": 1, "lock_annotation": "weave.works/kured-node-lock",
    "lock_ttl": 0, "lock_release_delay": 0, "drain_grace_period": -1, "drain_timeout": 0, "drain_pod_selector": "",
    "blocking_pod_selectors": [], "prometheus_url": "", "alert_filter_regexp": "", "annotate_nodes": False,
    "pre_reboot_node_labels": {}, "post_reboot_node_labels": {}, "reboot_method": "command",
    "reboot_command": "/bin/systemctl reboot", "reboot_signal": 39, "message_template_drain": "Draining node %s",
}
BASE = ["--ds-namespace=kube-system", "--ds-name=kured", "--reboot-sentinel=/sentinel/reboot-required"]


def test_kureds_own_defaults_give_only_the_lock_and_sentinel_flags() -> None:
    assert kured_args(validate_settings(KUREDS_DEFAULTS), KuredSpec()) == BASE


def test_settings_become_kured_flags_in_forms_its_parsers_take() -> None:
    values = validate_settings({
        "period": "30m", "reboot_days": ["Friday", "mon", "0"], "start_time": "10pm", "end_time": "4:30",
        "time_zone": "Europe/Berlin", "concurrency": 2, "lock_ttl": 7200, "drain_timeout": "1h30m",
        "blocking_pod_selectors": ["app=batch", "tier in (db,cache)"], "annotate_nodes": True,
        "pre_reboot_node_labels": {"zb": "rebooting", "za": "x"}, "post_reboot_node_labels": {"za": "y", "zb": "up"},
        "alert_filter_regexp": "^RebootRequired$",
    }, "kured_")
    assert kured_args(values, KuredSpec()) == BASE + [
        "--period=30m0s", "--reboot-days=su,mo,fr", "--start-time=22:00", "--end-time=04:30",
        "--time-zone=Europe/Berlin", "--concurrency=2", "--lock-ttl=2h0m0s", "--drain-timeout=1h30m0s",
        "--blocking-pod-selector=app=batch", "--blocking-pod-selector=tier in (db,cache)",
        "--alert-filter-regexp=^RebootRequired$", "--pre-reboot-node-labels=za=x,zb=rebooting",
        "--post-reboot-node-labels=za=y,zb=up", "--annotate-nodes=true",
    ]


@pytest.mark.parametrize(("settings", "message"), [
    ({"reboot_days": ["mo", "someday"]}, "kured_reboot_days (kured --reboot-days): 'someday' is not a day"),
    ({"start_time": "25:00"}, "kured_start_time (kured --start-time): '25:00' is out of range"),
    ({"end_time": "noon"}, "kured_end_time (kured --end-time): 'noon' is not a time of day"),
    ({"period": "soon"}, "kured_period (kured --period): 'soon' is not a duration"),
    ({"lock_ttl": "-5m"}, "kured_lock_ttl (kured --lock-ttl): "),
    ({"time_zone": "Mars/Olympus"}, "kured_time_zone (kured --time-zone): 'Mars/Olympus' is not an IANA"),
    ({"concurrency": 0}, "kured_concurrency (kured --concurrency): 0 is out of range (1 or more)"),
    ({"reboot_method": "kexec"}, "kured_reboot_method (kured --reboot-method): 'kexec' is not one of command, signal"),
    ({"alert_filter_regexp": "(unclosed"}, "kured_alert_filter_regexp (kured --alert-filter-regexp)"),
    ({"pre_reboot_node_labels": {"a": "1"}}, "kured_pre_reboot_node_labels and kured_post_reboot_node_labels"),
    ({"drain_delay": True}, "kured_drain_delay (kured --drain-delay): True is not a duration"),
    ({"surprise": 1}, "unknown kured setting(s): kured_surprise"),
])
def test_bad_settings_are_refused_naming_the_variable(settings: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        validate_settings(settings, "kured_")
    assert message in str(error.value)


def test_the_notify_url_goes_into_a_secret_and_the_env_never_into_the_args() -> None:
    url = "slack://token-a/token-b/token-c"
    found = objects(validate_settings({"period": "5m"}), KuredSpec(notify_url=url))
    secret = next(obj for obj in found if obj["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["notify-url"]).decode() == url
    container = found[-1]["spec"]["template"]["spec"]["containers"][0]
    assert url not in repr(container) and url not in repr(found[-1])
    assert {"name": "KURED_NOTIFY_URL",
            "valueFrom": {"secretKeyRef": {"name": "kured-notify", "key": "notify-url"}}} in container["env"]


def test_the_daemonset_is_kureds_manifest_linux_only_with_control_plane_tolerations() -> None:
    found = objects({}, KuredSpec(namespace="kured", sentinel_file="/run/needs-reboot"))
    assert [obj["kind"] for obj in found] == ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                              "Role", "RoleBinding", "DaemonSet"]
    pod = found[-1]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"} and pod["hostPID"] is True
    keys = {toleration["key"] for toleration in pod["tolerations"]}
    assert keys == {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}
    assert pod["volumes"][0]["hostPath"] == {"path": "/run", "type": "Directory"}
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/kubereboot/kured:1.23.0"
    assert container["securityContext"]["privileged"] is True
    assert "--reboot-sentinel=/sentinel/needs-reboot" in container_args(found[-1])
    role = found[4]
    assert role["rules"][0]["resourceNames"] == ["kured"] and role["metadata"]["namespace"] == "kured"
    signal = objects(validate_settings({"reboot_method": "signal"}), KuredSpec())[-1]
    assert signal["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] is False


def test_an_object_matches_when_what_we_specify_is_there_whatever_the_server_added() -> None:
    desired = {"spec": {"args": ["--a", "--b"], "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "p"}}}],
                        "nodeSelector": {"os": "linux"}}}
    live = {"spec": {"args": ["--a", "--b"], "dnsPolicy": "ClusterFirst",
                     "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "p", "apiVersion": "v1"}}}],
                     "nodeSelector": {"os": "linux"}}}
    assert matches(desired, live)
    assert not matches({"spec": {**desired["spec"], "args": ["--a"]}}, live)  # a flag removed
    assert not matches(desired, {"spec": {**live["spec"], "nodeSelector": {"os": "linux", "pool": "a"}}})


def test_a_replace_keeps_the_annotations_others_wrote_such_as_kureds_lock() -> None:
    live = {"metadata": {"name": "kured", "resourceVersion": "7", "labels": {"team": "sre"},
                         "annotations": {"weave.works/kured-node-lock": '{"nodeID":"manual"}'}}}
    body = replacement({"kind": "DaemonSet", "metadata": {"name": "kured", "labels": dict(MANAGED_BY)}}, live)
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["metadata"]["annotations"] == {"weave.works/kured-node-lock": '{"nodeID":"manual"}'}
    assert body["metadata"]["labels"] == {"team": "sre", **MANAGED_BY}


def test_absent_deletes_only_what_carries_our_labels_and_present_never_adopts_a_namespace() -> None:
    ours = {"kind": "Namespace", "metadata": {"name": "kured", "labels": dict(MANAGED_BY)}}
    theirs = {"metadata": {"name": "kube-system", "labels": {}}}
    assert plan_absent(ours, {"metadata": {"labels": dict(MANAGED_BY)}}, MANAGED_BY).action == "delete"
    assert plan_absent(ours, theirs, MANAGED_BY).action == "keep"
    assert plan_absent(ours, None, MANAGED_BY).action == "none"
    assert plan_present(ours, theirs, MANAGED_BY).action == "keep"
    assert plan_present(ours, None, MANAGED_BY).action == "create"
