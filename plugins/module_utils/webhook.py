# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""POSTing the notify payloads: one request per webhook with jittered retries on connection errors, 429 and 5xx,
and failures told without the URL's secret (only scheme, host and port)."""

from __future__ import annotations

import json
import socket
import typing as t
import urllib.error

from ansible.module_utils.urls import open_url

from ansible_collections.nodepatch.kube.plugins.module_utils.notify import masked, payload, scrub
from ansible_collections.nodepatch.kube.plugins.module_utils.retry import call_with_retries


class HttpSettings(t.NamedTuple):
    timeout: int
    retries: int
    validate_certs: bool
    ca_path: str | None


def retryable(error: BaseException) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return error.code == 429 or error.code >= 500
    return isinstance(error, (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError))


def failure_reason(error: BaseException, url: str) -> str:
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason or ''}".strip()
    elif isinstance(error, urllib.error.URLError):
        reason = error.reason
        text = getattr(reason, "strerror", None) or str(reason)
    elif isinstance(error, (socket.timeout, TimeoutError)):
        text = "timed out"
    else:
        text = f"{type(error).__name__}: {error}"
    return scrub(text, url)


def post(url: str, body: dict[str, t.Any], headers: dict[str, str], http: HttpSettings) -> int:
    def attempt() -> int:
        response = open_url(url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST",
                            timeout=http.timeout, validate_certs=http.validate_certs, ca_path=http.ca_path,
                            follow_redirects="safe", use_proxy=True)
        try:
            response.read()
            return int(response.getcode())
        finally:
            response.close()

    return call_with_retries(attempt, retryable, attempts=max(http.retries, 0) + 1, base=0.5, cap=4.0)


class Delivery(t.NamedTuple):
    sent: list[dict[str, t.Any]]
    not_sent: list[dict[str, t.Any]]
    payloads: list[dict[str, t.Any]]


def deliver(webhooks: t.Sequence[t.Mapping[str, t.Any]], event: str, node: str | None, message: str,
            details: t.Mapping[str, t.Any], cluster: str | None, http: HttpSettings, check_mode: bool) -> Delivery:
    """Each webhook gets the payload in its format; in check mode the payloads are returned instead of sent."""
    delivery = Delivery([], [], [])
    for webhook in webhooks:
        url, kind = webhook["url"], webhook["format"]
        where = masked(url)
        body = payload(kind, event, node, message, details, cluster=cluster)
        if check_mode:
            delivery.payloads.append({"webhook": where, "format": kind, "payload": body})
            continue
        headers = {"Content-Type": "application/json", "User-Agent": "nodepatch.kube-notify"}
        headers.update({str(key): str(value) for key, value in (webhook.get("headers") or {}).items()})
        try:
            status = post(url, body, headers, http)
            delivery.sent.append({"webhook": where, "format": kind, "status": status})
        except Exception as error:  # pylint: disable=broad-exception-caught
            delivery.not_sent.append({"webhook": where, "format": kind, "reason": failure_reason(error, url)})
    return delivery
