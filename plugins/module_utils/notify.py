# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Webhook payloads in the shapes chat tools accept - generic JSON, Slack-compatible (also Mattermost and
Rocket.Chat), Microsoft Teams workflow Adaptive Card - plus message templates and URL masking. Pure: no I/O."""

from __future__ import annotations

import datetime
import string
import typing as t
from urllib.parse import unquote, urlsplit

FORMATS = ("generic", "slack", "teams")
EVENT_TITLES = {
    "reboot_started": "Node reboot started",
    "reboot_finished": "Node back after reboot",
    "reboot_failed": "Node reboot failed",
    "reboot_blocked": "Node reboot blocked",
    "rollout_started": "Roll-out started",
    "rollout_finished": "Roll-out finished",
    "rollout_failed": "Roll-out stopped",
}
# Slack's documented limits: header text 150, section text 3000, a field 2000, at most 10 fields per section.
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELD_MAX = 2000
SLACK_FIELDS_MAX = 10
TEMPLATE_FIELDS = ("node", "event", "reason", "cluster")
SOURCE = "nodepatch.kube"


def masked(url: str) -> str:
    """Webhook URLs carry their secret in the path or query (and sometimes the user info): show only where
    they point - ``https://hooks.slack.com/…``."""
    try:
        parts = urlsplit(str(url))
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or "?"
    except ValueError:
        return "(unparsable URL)/…"
    return f"{parts.scheme or '?'}://{host}{port}/…"


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, say) with every secret part of ``url`` replaced by its masked form."""
    secrets = {str(url)}
    try:
        parts = urlsplit(str(url))
        secrets.update(part for part in (parts.path, parts.query, parts.fragment, parts.username, parts.password)
                       if part and len(part) > 1)
    except ValueError:
        pass
    secrets.update({unquote(secret) for secret in secrets})
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, masked(url) if secret == str(url) else "…")
    return text


def event_title(event: str) -> str:
    return EVENT_TITLES.get(event, event.replace("_", " ").capitalize())


def severity(event: str) -> str:
    """good, warning or attention: how the chat card colours the event."""
    if event.endswith(("_failed", "_error")):
        return "attention"
    if event.endswith("_blocked"):
        return "warning"
    return "good" if event.endswith("_finished") else "default"


def render_template(template: str, fields: t.Mapping[str, t.Any]) -> str:
    """``str.format``-style ``{node}`` fields, but only plain names from ``fields`` (no attribute or index access,
    so a template cannot reach into Python objects); ``{{`` and ``}}`` are literal braces."""
    out = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"text_template {template!r} is not a valid template: {error}") from None
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if name not in fields:
            known = ", ".join("{" + key + "}" for key in fields)
            raise ValueError(f"text_template uses {{{name}}}, which is not known; use {known}")
        value = fields[name]
        value = "" if value is None else value
        if conversion == "r":
            value = repr(value)
        elif conversion in ("s", "a"):
            value = str(value) if conversion == "s" else ascii(value)
        try:
            out.append(format(value, spec or ""))
        except (TypeError, ValueError) as error:
            raise ValueError(f"text_template: field {{{name}}} cannot be formatted with {spec!r}: {error}") from None
    return "".join(out)


def template_fields(event: str, node: str | None, reason: str | None, cluster: str | None,
                    details: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    fields: dict[str, t.Any] = {str(key): value for key, value in details.items() if str(key).isidentifier()}
    fields.update({"node": node or "", "event": event, "reason": reason or "", "cluster": cluster or ""})
    return fields


def facts_of(event: str, node: str | None, cluster: str | None, details: t.Mapping[str, t.Any]) -> list[tuple[str, str]]:
    facts = [("Event", event)]
    if cluster:
        facts.append(("Cluster", cluster))
    if node:
        facts.append(("Node", node))
    facts.extend((str(key), fact_text(value)) for key, value in details.items())
    return facts


def fact_text(value: t.Any) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(item) for item in value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None or value == "" else str(value)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped as Slack documents (only these three)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def timestamp(now: datetime.datetime | None = None) -> str:
    return (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def generic_payload(event: str, node: str | None, message: str, details: t.Mapping[str, t.Any], moment: str,
                    cluster: str | None = None) -> dict[str, t.Any]:
    body = {"event": event, "node": node, "message": message, "details": dict(details), "timestamp": moment,
            "source": SOURCE}
    if cluster:
        body["cluster"] = cluster
    return body


def slack_payload(event: str, node: str | None, message: str, details: t.Mapping[str, t.Any], moment: str,
                  cluster: str | None = None) -> dict[str, t.Any]:
    title = event_title(event)
    facts = facts_of(event, node, cluster, details)
    blocks: list[dict[str, t.Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(title, SLACK_HEADER_MAX), "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(slack_escape(message), SLACK_TEXT_MAX)}},
    ]
    if facts:
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": clip(f"*{slack_escape(name)}*\n{slack_escape(value)}", SLACK_FIELD_MAX)}
            for name, value in facts[:SLACK_FIELDS_MAX]]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{SOURCE} · {moment}"}]})
    # "text" is the notification and fallback text; Mattermost and Rocket.Chat show it when they ignore blocks.
    return {"text": clip(slack_escape(f"{title}: {message}"), SLACK_TEXT_MAX), "blocks": blocks}


TEAMS_COLOURS = {"attention": "Attention", "warning": "Warning", "good": "Good", "default": "Default"}


def teams_payload(event: str, node: str | None, message: str, details: t.Mapping[str, t.Any], moment: str,
                  cluster: str | None = None) -> dict[str, t.Any]:
    """The message a Teams workflow ("Post to a channel when a webhook request is received") expects."""
    facts = facts_of(event, node, cluster, details)
    return {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": [
                    {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": event_title(event),
                     "color": TEAMS_COLOURS[severity(event)], "wrap": True},
                    {"type": "TextBlock", "text": message, "wrap": True},
                    {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in facts]},
                    {"type": "TextBlock", "text": f"{SOURCE} · {moment}", "isSubtle": True, "size": "Small",
                     "wrap": True},
                ],
            },
        }],
    }


BUILDERS = {"generic": generic_payload, "slack": slack_payload, "teams": teams_payload}


def payload(kind: str, event: str, node: str | None, message: str, details: t.Mapping[str, t.Any] | None = None,
            now: datetime.datetime | None = None, cluster: str | None = None) -> dict[str, t.Any]:
    if kind not in BUILDERS:
        raise ValueError(f"format {kind!r} is not known; use one of {', '.join(FORMATS)}")
    return BUILDERS[kind](event, node, message, dict(details or {}), timestamp(now), cluster)
