# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Webhook payloads in the shapes chat tools accept: generic JSON, Slack-compatible, Microsoft Teams Adaptive Card."""

from __future__ import annotations

import datetime
import typing as t
from urllib.parse import urlsplit

FORMATS = ("generic", "slack", "teams")
EVENT_TITLES = {
    "reboot_started": "Node reboot started",
    "reboot_finished": "Node back after reboot",
    "reboot_failed": "Node reboot failed",
    "rollout_finished": "Roll-out finished",
    "rollout_failed": "Roll-out stopped",
}


def masked(url: str) -> str:
    """Webhook URLs carry their secret in the path or query: show only where they point."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"


def facts_of(event: str, node: str | None, details: t.Mapping[str, t.Any]) -> list[tuple[str, str]]:
    facts = [("Event", event)]
    if node:
        facts.append(("Node", node))
    facts.extend((str(key), str(value)) for key, value in details.items())
    return facts


def payload(kind: str, event: str, node: str | None, message: str, details: t.Mapping[str, t.Any],
            now: datetime.datetime | None = None) -> dict[str, t.Any]:
    moment = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    title = EVENT_TITLES.get(event, event.replace("_", " ").capitalize())
    facts = facts_of(event, node, details)
    if kind == "slack":
        return {
            "text": f"{title}: {message}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": message}},
                {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"}
                                               for name, value in facts[:10]]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"nodepatch.kube · {moment}"}]},
            ],
        }
    if kind == "teams":
        return {
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": title},
                        {"type": "TextBlock", "text": message, "wrap": True},
                        {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in facts]},
                        {"type": "TextBlock", "text": f"nodepatch.kube · {moment}", "isSubtle": True, "size": "Small"},
                    ],
                },
            }],
        }
    return {"event": event, "node": node, "message": message, "details": dict(details), "timestamp": moment,
            "source": "nodepatch.kube"}
