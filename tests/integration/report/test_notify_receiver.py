# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nodepatch.kube.notify against a real HTTP receiver on 127.0.0.1 (no mocks): what arrives for each format,
check mode, a dead or failing webhook, and the secret URL never showing in what the module prints."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SECRET_PATH = "/webhookb2/7f3c1d2e-aaaa-bbbb-cccc-SECRETSECRET/IncomingWebhook/0123456789abcdef"
SECRET_QUERY = "sig=TOPSECRETSIGNATURE"


def dead_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Run:
    result: dict[str, Any]
    output: str  # stdout and stderr as printed
    rc: int


@pytest.fixture
def notify(collections_root: Path, tmp_path: Path) -> Any:
    def run(args: dict[str, Any], check: bool = False) -> Run:
        args_file = tmp_path / "args.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check}}))
        proc = subprocess.run(
            [sys.executable, "-m", "ansible_collections.nodepatch.kube.plugins.modules.notify", str(args_file)],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(collections_root)}, cwd=tmp_path,
            check=False, timeout=120)
        try:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            pytest.fail(f"notify printed no JSON (exit {proc.returncode})\n{proc.stdout}\n{proc.stderr}")
        return Run(result, proc.stdout + proc.stderr, proc.returncode)
    return run


def assert_no_secret(text: str) -> None:
    for secret in ("SECRETSECRET", "0123456789abcdef", "TOPSECRETSIGNATURE", "IncomingWebhook", "/hooks/s3cr3t"):
        assert secret not in text, f"{secret} leaked into the output"


def test_each_format_arrives_in_its_shape_naming_the_node(receiver: Any, notify: Any) -> None:
    webhooks = [
        {"url": receiver.url(f"/hooks/s3cr3t-generic?{SECRET_QUERY}"), "format": "generic",
         "headers": {"Authorization": "Bearer tok-123"}},
        {"url": receiver.url("/hooks/s3cr3t-slack"), "format": "slack"},
        {"url": receiver.url(f"/teams{SECRET_PATH}"), "format": "teams"},
    ]
    run = notify({"webhooks": webhooks, "event": "reboot_started", "node": "aks-nodepool1-2",
                  "cluster": "prod-westeurope", "reason": "kernel update",
                  "text_template": "Rebooting {node} in {cluster}: {reason}", "details": {"pods": 12}})
    assert run.rc == 0 and not run.result.get("failed"), run.output
    assert run.result["changed"] is True
    assert run.result["text"] == "Rebooting aks-nodepool1-2 in prod-westeurope: kernel update"
    assert [entry["status"] for entry in run.result["sent"]] == [200, 200, 202]
    assert run.result["not_sent"] == []
    by_path = {request.path.split("/")[1]: request for request in receiver.requests}
    assert len(receiver.requests) == 3

    generic = next(request for request in receiver.requests if "s3cr3t-generic" in request.path)
    assert generic.headers["content-type"] == "application/json"
    assert generic.headers["authorization"] == "Bearer tok-123"
    assert generic.body["event"] == "reboot_started" and generic.body["node"] == "aks-nodepool1-2"
    assert generic.body["message"] == "Rebooting aks-nodepool1-2 in prod-westeurope: kernel update"
    assert generic.body["details"] == {"pods": 12} and generic.body["timestamp"].endswith("Z")

    slack = next(request for request in receiver.requests if "s3cr3t-slack" in request.path)
    assert "aks-nodepool1-2" in slack.body["text"]
    assert [block["type"] for block in slack.body["blocks"]][:2] == ["header", "section"]
    assert "aks-nodepool1-2" in slack.body["blocks"][1]["text"]["text"]

    teams = by_path["teams"]
    assert teams.body["type"] == "message"
    card = teams.body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["version"] == "1.4"
    assert any(block.get("text", "").startswith("Rebooting aks-nodepool1-2") for block in card["content"]["body"])

    assert_no_secret(run.output)
    assert "tok-123" not in run.output
    assert f"http://127.0.0.1:{receiver.port}/…" in json.dumps(run.result["sent"], ensure_ascii=False)


def test_check_mode_sends_nothing_and_shows_the_payloads(receiver: Any, notify: Any) -> None:
    run = notify({"webhooks": [{"url": receiver.url("/hooks/s3cr3t-check"), "format": "slack"}],
                  "event": "reboot_finished", "node": "aks-nodepool1-0", "text": "aks-nodepool1-0 is back"},
                 check=True)
    assert run.rc == 0 and run.result["changed"] is True
    assert receiver.requests == []
    assert run.result["sent"] == []
    assert run.result["payloads"][0]["payload"]["text"] == "Node back after reboot: aks-nodepool1-0 is back"
    assert_no_secret(run.output)


def test_a_dead_webhook_warns_and_the_others_still_get_the_message(receiver: Any, notify: Any) -> None:
    dead = f"http://127.0.0.1:{dead_port()}{SECRET_PATH}?{SECRET_QUERY}"
    run = notify({"webhooks": [{"url": dead, "format": "teams"},
                               {"url": receiver.url(f"/status/503{SECRET_PATH}"), "format": "generic"},
                               {"url": receiver.url("/hooks/s3cr3t-ok"), "format": "generic"}],
                  "event": "reboot_failed", "node": "aks-nodepool1-1", "text": "Reboot of aks-nodepool1-1 failed",
                  "retries": 1})
    assert run.rc == 0 and not run.result.get("failed"), run.output
    assert run.result["changed"] is True
    assert [entry["status"] for entry in run.result["sent"]] == [200]
    reasons = [entry["reason"] for entry in run.result["not_sent"]]
    assert "refused" in reasons[0].lower()
    assert reasons[1].startswith("HTTP 503")
    warnings = run.result["warnings"]
    assert len(warnings) == 1
    warning = json.dumps(warnings, ensure_ascii=False)
    assert "Could not notify 2 of 3 webhooks" in warning
    assert f"http://127.0.0.1:{receiver.port}/…" in warning
    # the 503 was retried once, then given up on
    assert sum(1 for request in receiver.requests if request.path.startswith("/status/503")) == 2
    assert_no_secret(run.output)


def test_a_dead_webhook_fails_the_task_with_fail_on_error(notify: Any) -> None:
    port = dead_port()
    dead = f"http://127.0.0.1:{port}{SECRET_PATH}"
    run = notify({"webhooks": [{"url": dead, "format": "slack"}], "event": "rollout_failed", "node": "n1",
                  "text": "stopped", "fail_on_error": True, "retries": 0})
    assert run.rc != 0 and run.result["failed"] is True
    assert "Could not notify 1 of 1 webhooks about rollout_failed" in run.result["msg"]
    assert f"http://127.0.0.1:{port}/…" in run.result["msg"]
    assert_no_secret(run.output)


def test_a_bad_template_field_is_named(notify: Any) -> None:
    run = notify({"webhooks": [{"url": "http://127.0.0.1:9/hooks/s3cr3t", "format": "generic"}],
                  "event": "reboot_started", "text_template": "{node} {unknown}"})
    assert run.rc != 0 and "{unknown}" in run.result["msg"] and "{node}" in run.result["msg"]


def test_through_ansible_playbook_the_url_stays_hidden_even_verbose(receiver: Any, run_playbook: Any,
                                                                    tmp_path: Path) -> None:
    playbook = tmp_path / "notify.yml"
    playbook.write_text(f"""
- name: Notify
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Tell the chat a node goes down
      nodepatch.kube.notify:
        webhooks:
          - url: "{receiver.url('/hooks/s3cr3t-playbook')}"
            format: slack
          - url: "http://127.0.0.1:{dead_port()}{SECRET_PATH}"
            format: teams
        event: reboot_started
        node: aks-nodepool1-4
        text: "Rebooting aks-nodepool1-4"
        retries: 0
      register: sent

    - name: Show what was sent
      ansible.builtin.debug:
        var: sent
""")
    proc = run_playbook(playbook, args=("-vvv",), env={"ANSIBLE_LOCALHOST_WARNING": "False"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Could not notify 1 of 2 webhooks" in output
    assert [request.body["text"] for request in receiver.requests] == ["Node reboot started: Rebooting aks-nodepool1-4"]
    assert_no_secret(output)
