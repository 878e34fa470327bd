# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kured's objects from settings: what its release manifests (kured-ds.yaml, kured-rbac.yaml) install, with the
settings as kured's own flags. Pure: settings in, validated and normalised, objects out.

Each setting maps onto one kured flag (``FLAGS``). A flag goes into the DaemonSet's args only when its value differs
from kured's own default, so the args say what was chosen, and an empty value is never handed to a flag where
kured reads emptiness as a value (an empty --alert-filter-regexp would ignore every alert).
The notify URL is a secret: it goes into a Secret and reaches kured as KURED_NOTIFY_URL, never as an arg.
"""

from __future__ import annotations

import base64
import hashlib
import re
import typing as t
from dataclasses import dataclass

from ansible_collections.nodepatch.kube.plugins.module_utils.durations import (
    format_go_duration,
    parse_duration,
    seconds_to_nanos,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.k8s_names import LABEL_VALUE, check_keys, is_dns_label, key_problem
from ansible_collections.nodepatch.kube.plugins.module_utils.selectors import check_selector
from ansible_collections.nodepatch.kube.plugins.module_utils.window import (
    DAY_NAMES,
    load_zone,
    parse_day,
    parse_time_of_day,
)

DEFAULT_IMAGE = "ghcr.io/kubereboot/kured:1.23.0"
MANAGED_BY = {"app.kubernetes.io/managed-by": "nodepatch.kube", "app.kubernetes.io/name": "kured"}
NOTIFY_KEY = "notify-url"
NOTIFY_ENV = "KURED_NOTIFY_URL"
NOTIFY_CHECKSUM = "nodepatch.kube/notify-url-sha256"
SENTINEL_DIR = "/sentinel"

# option -> (kured flag, kind, kured's default). Kinds: str, int, bool, duration, days, time, zone, labels,
# selectors (one flag per item), regexp.
FLAGS: dict[str, tuple[str, str, t.Any]] = {
    "period": ("period", "duration", "1h0m0s"),
    "reboot_days": ("reboot-days", "days", "su,mo,tu,we,th,fr,sa"),
    "start_time": ("start-time", "time", "00:00"),
    "end_time": ("end-time", "time", "23:59:59"),
    "time_zone": ("time-zone", "zone", "UTC"),
    "concurrency": ("concurrency", "int", 1),
    "lock_annotation": ("lock-annotation", "str", "weave.works/kured-node-lock"),
    "lock_ttl": ("lock-ttl", "duration", "0s"),
    "lock_release_delay": ("lock-release-delay", "duration", "0s"),
    "drain_grace_period": ("drain-grace-period", "int", -1),
    "drain_timeout": ("drain-timeout", "duration", "0s"),
    "drain_delay": ("drain-delay", "duration", "0s"),
    "drain_pod_selector": ("drain-pod-selector", "selector", ""),
    "skip_wait_for_delete_timeout": ("skip-wait-for-delete-timeout", "int", 0),
    "force_reboot": ("force-reboot", "bool", False),
    "reboot_delay": ("reboot-delay", "duration", "0s"),
    "blocking_pod_selectors": ("blocking-pod-selector", "selectors", []),
    "prometheus_url": ("prometheus-url", "str", ""),
    "alert_filter_regexp": ("alert-filter-regexp", "regexp", ""),
    "alert_filter_match_only": ("alert-filter-match-only", "bool", False),
    "alert_firing_only": ("alert-firing-only", "bool", False),
    "pre_reboot_node_labels": ("pre-reboot-node-labels", "labels", ""),
    "post_reboot_node_labels": ("post-reboot-node-labels", "labels", ""),
    "annotate_nodes": ("annotate-nodes", "bool", False),
    "prefer_no_schedule_taint": ("prefer-no-schedule-taint", "str", ""),
    "message_template_drain": ("message-template-drain", "str", "Draining node %s"),
    "message_template_reboot": ("message-template-reboot", "str", "Rebooting node %s"),
    "message_template_uncordon": ("message-template-uncordon", "str", "Node %s rebooted & uncordoned successfully!"),
    "reboot_method": ("reboot-method", "str", "command"),
    "reboot_command": ("reboot-command", "str", "/bin/systemctl reboot"),
    "reboot_signal": ("reboot-signal", "int", 39),
    "reboot_sentinel_command": ("reboot-sentinel-command", "str", ""),
    "log_format": ("log-format", "str", "text"),
}
REBOOT_METHODS = ("command", "signal")
LOG_FORMATS = ("text", "json")


@dataclass
class KuredSpec:
    """Where kured goes and what it runs, besides its flags."""

    namespace: str = "kube-system"
    daemonset: str = "kured"
    rbac_name: str = "kured"
    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    sentinel_file: str = "/var/run/reboot-required"
    metrics_port: int = 8080
    tolerations: t.Sequence[t.Mapping[str, t.Any]] = ()
    node_selector: t.Mapping[str, str] | None = None
    notify_url: str = ""


# --------------------------------------------------------------------------------------------- validation


def _fail(prefix: str, option: str, problem: str) -> t.NoReturn:
    raise ValueError(f"{prefix}{option} (kured --{FLAGS[option][0] if option in FLAGS else option}): {problem}")


def _strip_option(error: ValueError) -> str:
    # window.py and durations.py name their own option first ("start_time: ..."); ours replaces it.
    return str(error).split(": ", 1)[-1]


def format_time(value: t.Any, prefix: str, option: str) -> str:
    try:
        moment = parse_time_of_day(str(value), option)
    except ValueError as error:
        _fail(prefix, option, _strip_option(error))
    # A form kured's parser takes ("15:04" / "15:04:05"), whatever form was given.
    return f"{moment:%H:%M}" if moment.second == 0 else f"{moment:%H:%M:%S}"


def format_days(value: t.Any, prefix: str, option: str) -> str:
    if not isinstance(value, (list, tuple)) or not value:
        _fail(prefix, option, f"{value!r} is not a non-empty list of days")
    numbers = []
    for day in value:
        try:
            numbers.append(parse_day(str(day)))
        except ValueError as error:
            _fail(prefix, option, _strip_option(error))
    # kured's two-letter names, Sunday first as kured lists them.
    ordered = sorted(set(numbers), key=lambda number: (number + 1) % 7)
    return ",".join(DAY_NAMES[number][:2] for number in ordered)


def format_duration(value: t.Any, prefix: str, option: str) -> str:
    try:
        seconds = parse_duration(value, option)
    except ValueError as error:
        _fail(prefix, option, _strip_option(error))
    return format_go_duration(seconds_to_nanos(seconds))


def format_labels(value: t.Any, prefix: str, option: str) -> str:
    if not isinstance(value, dict):
        _fail(prefix, option, f"{value!r} is not a mapping of label names to values")
    for key, label in value.items():
        if key_problem(str(key)) or not LABEL_VALUE.match(str(label)) or len(str(label)) > 63:
            _fail(prefix, option, f"{key}={label} is not a valid label")
    return ",".join(f"{key}={label}" for key, label in sorted(value.items()))


def format_value(option: str, value: t.Any, prefix: str = "") -> t.Any:
    """The flag value kured should get for this option, normalised; ValueError names the option and the flag."""
    kind = FLAGS[option][1]
    if kind == "duration":
        return format_duration(value, prefix, option)
    if kind == "days":
        return format_days(value, prefix, option)
    if kind == "time":
        return format_time(value, prefix, option)
    if kind == "labels":
        return format_labels(value, prefix, option)
    if kind == "zone":
        try:
            load_zone(str(value))
        except ValueError as error:
            _fail(prefix, option, _strip_option(error))
        return str(value)
    if kind == "selectors":
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) and item.strip() for item in value):
            _fail(prefix, option, f"{value!r} is not a list of label selectors (strings like app=batch)")
        for item in value:
            check_selector(prefix + option, item)
        return list(value)
    if kind == "selector":
        check_selector(prefix + option, str(value))
        return str(value)
    if kind == "regexp":
        try:
            re.compile(str(value))
        except re.error as error:
            _fail(prefix, option, f"{value!r} is not a regular expression: {error}")
        return str(value)
    if kind == "bool":
        if not isinstance(value, bool):
            _fail(prefix, option, f"{value!r} is not a boolean")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(prefix, option, f"{value!r} is not an integer")
        return value
    return "" if value is None else str(value)


def validate_settings(settings: t.Mapping[str, t.Any], prefix: str = "") -> dict[str, t.Any]:
    """Every setting given (None = kured's default), checked and normalised, before anything is written."""
    unknown = sorted(set(settings) - set(FLAGS))
    if unknown:
        raise ValueError(f"unknown kured setting(s): {', '.join(prefix + name for name in unknown)}; known: "
                         f"{', '.join(prefix + name for name in FLAGS)}")
    values = {option: format_value(option, value, prefix) for option, value in settings.items() if value is not None}
    checks = (("concurrency", 1, None), ("reboot_signal", 1, 64), ("drain_grace_period", -1, None),
              ("skip_wait_for_delete_timeout", 0, None))
    for option, low, high in checks:
        if option in values and (values[option] < low or (high is not None and values[option] > high)):
            limit = f"from {low} to {high}" if high is not None else f"{low} or more"
            _fail(prefix, option, f"{values[option]} is out of range ({limit})")
    for option, allowed in (("reboot_method", REBOOT_METHODS), ("log_format", LOG_FORMATS)):
        if option in values and values[option] not in allowed:
            _fail(prefix, option, f"{values[option]!r} is not one of {', '.join(allowed)}")
    if values.get("reboot_method", "command") == "command" and "reboot_command" in values \
            and not values["reboot_command"].strip():
        _fail(prefix, "reboot_command", "is empty; give the command kured runs on the host to reboot it")
    pre, post = values.get("pre_reboot_node_labels", ""), values.get("post_reboot_node_labels", "")
    if pre or post:
        keys = [sorted(item.split("=", 1)[0] for item in text.split(",") if item) for text in (pre, post)]
        if keys[0] != keys[1]:
            raise ValueError(f"{prefix}pre_reboot_node_labels and {prefix}post_reboot_node_labels must set the same "
                             f"label names (kured warns and the labels stay behind otherwise): {keys[0]} vs {keys[1]}")
    return values


def validate_spec(spec: KuredSpec, prefix: str = "") -> None:
    for option, name in (("namespace", spec.namespace), ("daemonset", spec.daemonset),
                         ("rbac_name", spec.rbac_name)):
        if not is_dns_label(name):
            raise ValueError(f"{prefix}{option}: {name!r} is not a valid object name (lower-case letters, digits "
                             "and '-', at most 63)")
    if not spec.image.strip():
        raise ValueError(f"{prefix}image: is empty")
    if not spec.sentinel_file.startswith("/") or spec.sentinel_file.endswith("/"):
        raise ValueError(f"{prefix}sentinel_file: {spec.sentinel_file!r} is not an absolute file path on the node")
    if not 1 <= spec.metrics_port <= 65535:
        raise ValueError(f"{prefix}metrics_port: {spec.metrics_port} is not a port")
    check_keys(f"{prefix}node_selector", spec.node_selector or {}, label_values=True)
    for toleration in spec.tolerations:
        check_toleration(f"{prefix}tolerations", toleration)


TOLERATION_FIELDS = ("key", "operator", "value", "effect", "tolerationSeconds")
TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")


def check_toleration(option: str, toleration: t.Mapping[str, t.Any]) -> None:
    """What the API server would refuse in a toleration (422 on the DaemonSet write), refused before it."""
    unknown = sorted(set(toleration) - set(TOLERATION_FIELDS))
    if unknown:
        raise ValueError(f"{option}: unknown field(s) {', '.join(unknown)}; a toleration has {', '.join(TOLERATION_FIELDS)}")
    operator = toleration.get("operator", "Equal")
    if operator not in TOLERATION_OPERATORS:
        raise ValueError(f"{option}: operator {operator!r} is not one of {', '.join(TOLERATION_OPERATORS)}")
    effect = toleration.get("effect") or ""
    if effect not in TAINT_EFFECTS:
        raise ValueError(f"{option}: effect {effect!r} is not one of {', '.join(TAINT_EFFECTS[1:])} (or empty: all)")
    if toleration.get("key"):
        check_keys(option, {toleration["key"]: None})
    elif operator != "Exists":
        raise ValueError(f"{option}: a toleration without key must have operator Exists")


# --------------------------------------------------------------------------------------------- rendering


def kured_args(values: t.Mapping[str, t.Any], spec: KuredSpec) -> list[str]:
    """kured's flags for these settings: ds name and namespace and the sentinel always, others when not default."""
    sentinel_name = spec.sentinel_file.rpartition("/")[2]
    args = [f"--ds-namespace={spec.namespace}", f"--ds-name={spec.daemonset}",
            f"--reboot-sentinel={SENTINEL_DIR}/{sentinel_name}"]
    if spec.metrics_port != 8080:
        args.append(f"--metrics-port={spec.metrics_port}")
    for option, (flag, kind, default) in FLAGS.items():
        if option not in values or values[option] == default:
            continue
        value = values[option]
        if kind == "selectors":
            args.extend(f"--{flag}={selector}" for selector in value)
        elif kind == "bool":
            args.append(f"--{flag}={'true' if value else 'false'}")
        else:
            args.append(f"--{flag}={value}")
    return args


def sentinel_host_dir(spec: KuredSpec) -> str:
    return spec.sentinel_file.rpartition("/")[0] or "/"


def notify_secret_name(spec: KuredSpec) -> str:
    return f"{spec.daemonset}-notify"


def _meta(name: str, namespace: str | None = None, labels: t.Mapping[str, str] | None = None) -> dict[str, t.Any]:
    meta: dict[str, t.Any] = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def rbac_objects(spec: KuredSpec) -> list[dict[str, t.Any]]:
    """kured-rbac.yaml: read nodes and pods, evict and delete pods (drain), read DaemonSets; update its own."""
    subject = [{"kind": "ServiceAccount", "name": spec.daemonset, "namespace": spec.namespace}]
    group = "rbac.authorization.k8s.io"
    return [
        {"apiVersion": f"{group}/v1", "kind": "ClusterRole", "metadata": _meta(spec.rbac_name), "rules": [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete", "get"]},
            {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
        ]},
        {"apiVersion": f"{group}/v1", "kind": "ClusterRoleBinding", "metadata": _meta(spec.rbac_name),
         "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": spec.rbac_name}, "subjects": subject},
        {"apiVersion": f"{group}/v1", "kind": "Role", "metadata": _meta(spec.daemonset, spec.namespace), "rules": [
            {"apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": [spec.daemonset],
             "verbs": ["update"]},
        ]},
        {"apiVersion": f"{group}/v1", "kind": "RoleBinding", "metadata": _meta(spec.daemonset, spec.namespace),
         "roleRef": {"apiGroup": group, "kind": "Role", "name": spec.daemonset}, "subjects": subject},
    ]


def security_context(values: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    if values.get("reboot_method") == "signal":
        # kured-ds-signal.yaml: signalling PID 1 needs only CAP_KILL, no nsenter.
        return {"privileged": False, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["*"], "add": ["CAP_KILL"]}}
    # nsenter into PID 1's mount namespace to run the reboot (and sentinel) command.
    return {"privileged": True, "readOnlyRootFilesystem": True}


def daemonset(values: t.Mapping[str, t.Any], spec: KuredSpec) -> dict[str, t.Any]:
    selector = {"name": spec.daemonset}
    env: list[dict[str, t.Any]] = [
        {"name": "KURED_NODE_ID", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    template_meta: dict[str, t.Any] = {"labels": {**selector, **MANAGED_BY}}
    if spec.notify_url:
        env.append({"name": NOTIFY_ENV, "valueFrom": {"secretKeyRef": {"name": notify_secret_name(spec),
                                                                       "key": NOTIFY_KEY}}})
        # Pods read the Secret only when they start: a new URL must roll them, and the digest says it changed.
        template_meta["annotations"] = {NOTIFY_CHECKSUM: hashlib.sha256(spec.notify_url.encode()).hexdigest()}
    tolerations = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                   {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"},
                   *[dict(toleration) for toleration in spec.tolerations]]
    node_selector = dict(spec.node_selector) if spec.node_selector is not None else {"kubernetes.io/os": "linux"}
    container = {
        "name": "kured", "image": spec.image, "imagePullPolicy": spec.image_pull_policy,
        "securityContext": security_context(values),
        "ports": [{"containerPort": spec.metrics_port, "name": "metrics"}],
        "env": env,
        "volumeMounts": [{"mountPath": SENTINEL_DIR, "name": "sentinel", "readOnly": True}],
        "command": ["/usr/bin/kured"],
        "args": kured_args(values, spec),
    }
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta(spec.daemonset, spec.namespace),
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": template_meta, "spec": {
                "serviceAccountName": spec.daemonset,
                "nodeSelector": node_selector,
                "tolerations": tolerations,
                "hostPID": True,
                "restartPolicy": "Always",
                "volumes": [{"name": "sentinel", "hostPath": {"path": sentinel_host_dir(spec), "type": "Directory"}}],
                "containers": [container],
            }},
        },
    }


def objects(values: t.Mapping[str, t.Any], spec: KuredSpec) -> list[dict[str, t.Any]]:
    """Everything present installs, in the order it is created (absent deletes in reverse)."""
    found: list[dict[str, t.Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(spec.namespace)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(spec.daemonset, spec.namespace)},
        *rbac_objects(spec),
    ]
    if spec.notify_url:
        found.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                      "metadata": _meta(notify_secret_name(spec), spec.namespace),
                      "data": {NOTIFY_KEY: base64.b64encode(spec.notify_url.encode()).decode()}})
    found.append(daemonset(values, spec))
    return found


def container_args(daemonset_object: t.Mapping[str, t.Any] | None) -> list[str]:
    """The args of kured's container in a DaemonSet as the API returns it (None: no DaemonSet)."""
    if not daemonset_object:
        return []
    containers = daemonset_object.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    container = next((item for item in containers if item.get("name") == "kured"), containers[0] if containers else {})
    return list(container.get("command", [])[1:]) + list(container.get("args") or [])
