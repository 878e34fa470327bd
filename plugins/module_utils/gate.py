# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reboot gate: may this node reboot now? The window (window.py), blocking pods and Prometheus alerts, each
answering with reasons. A check that cannot answer (Prometheus down, an API error) blocks: not knowing is not a yes."""

from __future__ import annotations

import datetime
import json
import re
import typing as t
from dataclasses import dataclass, field

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import PODS, KubeClient
from ansible_collections.nodepatch.kube.plugins.module_utils.window import RebootWindow

# kured's --blocking-pod-selector counts pods in every phase but these.
FINISHED_PHASES = ("Succeeded", "Failed", "Unknown")


@dataclass
class AlertFilter:
    """kured's alert rules: with a regexp, matching alerts are ignored, or with ``match_only`` are the only ones
    that block; ``firing_only`` ignores pending alerts. ``label_matchers`` narrows to alerts carrying all the given
    label values (for example ``severity: critical``)."""

    regexp: str | None = None
    match_only: bool = False
    firing_only: bool = False
    label_matchers: t.Mapping[str, str] | None = None
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.regexp:
            try:
                self._pattern = re.compile(self.regexp)
            except re.error as error:
                raise ValueError(f"alert_filter_regexp: {self.regexp!r} is not a regular expression: {error}") \
                    from error

    def counts(self, alert: t.Mapping[str, t.Any]) -> bool:
        labels = alert.get("labels") or {}
        state = alert.get("state")
        if state not in ("firing", "pending") or (self.firing_only and state != "firing"):
            return False
        if self.label_matchers and any(labels.get(key) != str(value) for key, value in self.label_matchers.items()):
            return False
        if self._pattern is None:
            return True
        return bool(self._pattern.search(str(labels.get("alertname", "")))) == self.match_only

    def blocking(self, alerts: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
        """Names of the alerts that block, sorted, each once."""
        return sorted({str((alert.get("labels") or {}).get("alertname", "?")) for alert in alerts
                       if self.counts(alert)})


def prometheus_alerts(fetch: t.Callable[[str], bytes], base_url: str) -> list[dict[str, t.Any]]:
    """The active alerts from Prometheus' /api/v1/alerts. Anything but a clean answer raises."""
    url = base_url.rstrip("/") + "/api/v1/alerts"
    try:
        raw = fetch(url)
    except Exception as error:  # pylint: disable=broad-exception-caught
        raise NodepatchError(f"cannot read alerts from Prometheus at {url}: {error}", target="prometheus",
                             hint="check prometheus_url and that Prometheus is up") from error
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise NodepatchError(f"Prometheus at {url} answered something that is not JSON: {raw[:200]!r}",
                             target="prometheus", hint="prometheus_url must be Prometheus' base URL") from error
    if not isinstance(body, dict) or body.get("status") != "success":
        detail = body.get("error") if isinstance(body, dict) else body
        raise NodepatchError(f"Prometheus at {url} did not answer success: {detail}", target="prometheus")
    alerts = (body.get("data") or {}).get("alerts")
    if not isinstance(alerts, list):
        raise NodepatchError(f"Prometheus at {url} answered without data.alerts", target="prometheus")
    return alerts


def pod_is_blocking(pod: t.Any) -> bool:
    return (pod.status.phase if pod.status else None) not in FINISHED_PHASES


def blocking_pods(client: KubeClient, node: str, selectors: t.Sequence[str]) -> list[str]:
    """Unfinished pods on the node matching any selector (kured's --blocking-pod-selector)."""
    found = set()
    for selector in selectors:
        pods = client.call(client.list, PODS, target=f"node/{node}",
                           action=f"list the pods matching {selector!r} of",
                           field_selector=f"spec.nodeName={node}", label_selector=selector)
        found.update(f"{pod.metadata.namespace}/{pod.metadata.name} ({selector})" for pod in pods.items
                     if pod_is_blocking(pod))
    return sorted(found)


@dataclass
class GateResult:
    blocked: bool = False
    reasons: list[str] = field(default_factory=list)
    window_open: bool = True
    next_window_start: str | None = None
    blocking_pods: list[str] = field(default_factory=list)
    blocking_alerts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, t.Any]:
        return {"blocked": self.blocked, "reasons": self.reasons, "window_open": self.window_open,
                "next_window_start": self.next_window_start, "blocking_pods": self.blocking_pods,
                "blocking_alerts": self.blocking_alerts}


def _blockers(check: t.Callable[[], list[str]] | None, reasons: list[str], found: str, cannot: str) -> list[str]:
    """Runs one blocker check; an error becomes a reason too, since a check that cannot answer must block."""
    if check is None:
        return []
    try:
        names = check()
    except NodepatchError as error:
        reasons.append(cannot.format(error=error))
        return []
    if names:
        reasons.append(f"{found}: {', '.join(names)}")
    return names


def evaluate_gate(now: datetime.datetime, window: RebootWindow,
                  pods_check: t.Callable[[], list[str]] | None = None,
                  alerts_check: t.Callable[[], list[str]] | None = None) -> GateResult:
    """Every check runs, even when an earlier one already blocks, so the answer lists all reasons at once."""
    result = GateResult()
    result.window_open = window.contains(now)
    if not result.window_open:
        opens = window.next_start(now)
        result.next_window_start = opens.astimezone(window.zone).isoformat() if opens else None
        result.reasons.append(f"outside the reboot window {window.describe()}"
                              + (f"; it opens {result.next_window_start}" if opens else ""))
    result.blocking_pods = _blockers(pods_check, result.reasons, "blocking pods on the node",
                                     "cannot check for blocking pods, so they block: {error}")
    result.blocking_alerts = _blockers(alerts_check, result.reasons, "active Prometheus alerts",
                                       "{error} (a Prometheus that cannot answer blocks)")
    result.blocked = bool(result.reasons)
    return result
