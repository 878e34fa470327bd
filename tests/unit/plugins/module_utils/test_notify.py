# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils import notify

NOW = datetime.datetime(2024, 11, 23, 1, 2, 3, tzinfo=datetime.timezone.utc)
SECRET = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX?token=abc123"


def test_generic_payload_has_event_node_message_details_and_timestamp() -> None:
    body = notify.payload("generic", "reboot_started", "aks-1", "Rebooting aks-1", {"kernel": "5.15"}, now=NOW)
    assert body == {"event": "reboot_started", "node": "aks-1", "message": "Rebooting aks-1",
                    "details": {"kernel": "5.15"}, "timestamp": "2024-11-23T01:02:03Z", "source": "nodepatch.kube"}
    assert "cluster" not in body
    assert notify.payload("generic", "x", None, "m", cluster="prod", now=NOW)["cluster"] == "prod"


def test_slack_payload_has_fallback_text_and_blocks() -> None:
    body = notify.payload("slack", "reboot_finished", "aks-1", "aks-1 is back", {"down": "48 s"}, now=NOW,
                          cluster="prod")
    assert body["text"] == "Node back after reboot: aks-1 is back"
    kinds = [block["type"] for block in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"] == {"type": "plain_text", "text": "Node back after reboot", "emoji": False}
    fields = [field["text"] for field in body["blocks"][2]["fields"]]
    assert fields == ["*Event*\nreboot_finished", "*Cluster*\nprod", "*Node*\naks-1", "*down*\n48 s"]
    json.dumps(body)  # serialisable


def test_slack_escapes_its_control_characters_and_respects_limits() -> None:
    details = {f"k{index}": index for index in range(15)}
    body = notify.payload("slack", "reboot_failed", "n<1>", "a & b <!channel> " + "x" * 4000, details, now=NOW)
    section = body["blocks"][1]["text"]["text"]
    assert section.startswith("a &amp; b &lt;!channel&gt; ")
    assert len(section) == notify.SLACK_TEXT_MAX and section.endswith("…")
    assert len(body["blocks"][2]["fields"]) == notify.SLACK_FIELDS_MAX
    assert "*Node*\nn&lt;1&gt;" in [field["text"] for field in body["blocks"][2]["fields"]]


def test_teams_payload_is_an_adaptive_card_message() -> None:
    body = notify.payload("teams", "reboot_failed", "aks-2", "Reboot of aks-2 failed", {"error": "PDB"}, now=NOW)
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, text, facts, footer = card["body"]
    assert title["text"] == "Node reboot failed" and title["color"] == "Attention"
    assert text == {"type": "TextBlock", "text": "Reboot of aks-2 failed", "wrap": True}
    assert facts["facts"] == [{"title": "Event", "value": "reboot_failed"}, {"title": "Node", "value": "aks-2"},
                              {"title": "error", "value": "PDB"}]
    assert footer["text"].endswith("2024-11-23T01:02:03Z")


@pytest.mark.parametrize(("event", "colour"), [("rollout_finished", "Good"), ("reboot_blocked", "Warning"),
                                               ("reboot_started", "Default")])
def test_teams_colours_follow_the_event(event: str, colour: str) -> None:
    assert notify.payload("teams", event, None, "m", now=NOW)["attachments"][0]["content"]["body"][0]["color"] == colour


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="generic, slack, teams"):
        notify.payload("discord", "x", None, "m")


def test_masked_url_keeps_only_scheme_host_and_port() -> None:
    assert notify.masked(SECRET) == "https://hooks.slack.com/…"
    assert notify.masked("http://user:pw@127.0.0.1:8080/hook/abc") == "http://127.0.0.1:8080/…"
    assert notify.masked("not a url") == "?://?/…"
    assert notify.masked("http://[::1") == "(unparsable URL)/…"


def test_scrub_removes_the_url_and_its_secret_parts_from_error_texts() -> None:
    text = f"unknown url type: {SECRET}; path /services/T000/B000/XXXXsecretXXXX; token=abc123"
    cleaned = notify.scrub(text, SECRET)
    assert "XXXXsecretXXXX" not in cleaned and "abc123" not in cleaned
    assert "https://hooks.slack.com/…" in cleaned


def test_text_template_fills_node_event_reason_cluster_and_details() -> None:
    fields = notify.template_fields("reboot_failed", "aks-1", "PDB web", "prod", {"pods": 3, "bad-key": 1})
    text = notify.render_template("{event}: {node} in {cluster} ({reason}), {pods:>3} pods {{literal}}", fields)
    assert text == "reboot_failed: aks-1 in prod (PDB web),   3 pods {literal}"


@pytest.mark.parametrize("template", ["{node.__class__}", "{node[0]}", "{secret}", "{0}", "{}"])
def test_text_template_refuses_unknown_fields_and_attribute_access(template: str) -> None:
    with pytest.raises(ValueError, match="not known"):
        notify.render_template(template, notify.template_fields("e", "n", None, None, {}))


def test_text_template_reports_broken_braces() -> None:
    with pytest.raises(ValueError, match="not a valid template"):
        notify.render_template("{node", {"node": "n"})
