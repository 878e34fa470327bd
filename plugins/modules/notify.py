#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: notify
short_description: Tell webhooks about reboots - generic JSON, Slack-compatible or Microsoft Teams
version_added: 0.1.0
description:
  - POSTs one message to each webhook, in the format it expects - V(generic) JSON, V(slack) (also accepted by
    Mattermost and Rocket.Chat incoming webhooks), or V(teams) (an Adaptive Card, for a Microsoft Teams workflow
    "when a Teams webhook request is received").
  - Webhook URLs hold secrets. They never appear in the output, the warnings or the error messages, only their
    scheme, host and port (V(https://hooks.slack.com/…)).
  - A webhook that cannot be reached or answers with an error gives a warning and the roll-out goes on, unless
    O(fail_on_error=true). Connection errors, HTTP 429 and 5xx answers are retried O(retries) times.
  - Runs on the controller, with C(delegate_to) set to C(localhost).
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.attributes
options:
  webhooks:
    description: Where to send. An empty list sends nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description: The webhook URL. Treated as a secret.
        type: str
        required: true
      format:
        description: Payload format.
        type: str
        choices: [generic, slack, teams]
        default: generic
      headers:
        description: Extra HTTP headers, for example an C(Authorization) header. Treated as secrets.
        type: dict
        default: {}
  event:
    description:
      - What happened, for example V(reboot_started), V(reboot_finished), V(reboot_failed), V(reboot_blocked),
        V(rollout_finished), V(rollout_failed). Events ending in C(_failed) are shown as alerts, C(_blocked) as
        warnings, C(_finished) as good news.
    type: str
    required: true
  node:
    description: The node concerned.
    type: str
  cluster:
    description: The cluster concerned, shown with the message and available as C({cluster}) in templates.
    type: str
  reason:
    description: Why - the reboot reasons, the blocker or the error; available as C({reason}) in templates.
    type: str
  text:
    description:
      - The message, already rendered (the roles render it with Jinja and name the node).
      - Exactly one of O(text) and O(text_template) is required.
      - Called C(text) because Ansible reserves the option name C(message).
    type: str
  text_template:
    description:
      - A Python C(str.format)-style template with the fields C({node}), C({event}), C({reason}), C({cluster})
        and the keys of O(details); C({{) and C(}}) are literal braces. Only plain field names are allowed.
      - Note that Jinja renders C({{ }}) first when the template is written inline in a task.
    type: str
  details:
    description: Extra facts shown with the message (key and value).
    type: dict
    default: {}
  timeout:
    description: Seconds per request.
    type: int
    default: 10
  retries:
    description: How often to retry a webhook after a connection error, HTTP 429 or 5xx (with jittered backoff).
    type: int
    default: 1
  validate_certs:
    description: Verify the webhooks' TLS certificates.
    type: bool
    default: true
  ca_path:
    description: A CA bundle (PEM) to verify the webhooks' certificates with, for an internal chat server.
    type: path
  fail_on_error:
    description:
      - Fail the task when a webhook cannot be reached or answers with an error.
      - By default a dead webhook only warns, so it cannot stop a roll-out.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Sends nothing; returns the payloads that would be sent.
  diff_mode:
    support: none
    details: Nothing on the managed hosts changes.
  idempotent:
    support: none
    details: Every run sends the message again; C(changed) is true when at least one webhook accepted it.
"""

EXAMPLES = r"""
- name: Tell the on-call channels a node goes down
  nodepatch.kube.notify:
    webhooks:
      - url: "{{ slack_webhook_url }}"
        format: slack
      - url: "{{ teams_workflow_url }}"
        format: teams
      - url: https://events.example.com/nodepatch
        headers:
          Authorization: "Bearer {{ events_token }}"
    event: reboot_started
    node: "{{ inventory_hostname }}"
    text: "Rebooting {{ inventory_hostname }} for a kernel update"
    details:
      kernel: "{{ running_kernel }}"
  delegate_to: localhost

- name: The same with a template the module fills in
  nodepatch.kube.notify:
    webhooks: "{{ chat_webhooks }}"
    event: reboot_failed
    node: aks-nodepool1-2
    cluster: prod-westeurope
    reason: PodDisruptionBudget shop/web allows 0 disruptions
    text_template: "Reboot of {node} in {cluster} failed: {reason}"
    fail_on_error: false
  delegate_to: localhost
"""

RETURN = r"""
text:
  description: The message sent (rendered from O(text_template) when that was given).
  returned: always
  type: str
  sample: Reboot of aks-nodepool1-2 in prod-westeurope failed
sent:
  description: Webhooks that accepted the message - scheme and host only, the format and the HTTP status.
  returned: always
  type: list
  elements: dict
  sample: [{webhook: "https://hooks.slack.com/…", format: slack, status: 200}]
not_sent:
  description: Webhooks that did not take the message, with the reason (scheme and host only).
  returned: always
  type: list
  elements: dict
  sample: [{webhook: "https://chat.example.com/…", format: generic, reason: "HTTP 503 Service Unavailable"}]
payloads:
  description: The payloads that would be sent, in check mode only.
  returned: check mode
  type: list
  elements: dict
"""

import os
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.base_module import NodepatchModule
from ansible_collections.nodepatch.kube.plugins.module_utils.http_url import check_http_url
from ansible_collections.nodepatch.kube.plugins.module_utils.notify import FORMATS, render_template, template_fields
from ansible_collections.nodepatch.kube.plugins.module_utils.webhook import HttpSettings, deliver


def main() -> None:
    module = NodepatchModule(
        argument_spec=dict(
            webhooks=dict(type="list", elements="dict", required=True, options=dict(
                url=dict(type="str", required=True, no_log=True),
                format=dict(type="str", choices=list(FORMATS), default="generic"),
                headers=dict(type="dict", default={}, no_log=True),
            )),
            event=dict(type="str", required=True),
            node=dict(type="str"),
            cluster=dict(type="str"),
            reason=dict(type="str"),
            text=dict(type="str"),
            text_template=dict(type="str"),
            details=dict(type="dict", default={}),
            timeout=dict(type="int", default=10),
            retries=dict(type="int", default=1),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            fail_on_error=dict(type="bool", default=False),
        ),
        required_one_of=[("text", "text_template")],
        mutually_exclusive=[("text", "text_template")],
        supports_check_mode=True,
    )
    module.require_at_least(timeout=1, retries=0)
    params = module.params
    try:
        for webhook in params["webhooks"]:
            check_http_url("webhooks.url", webhook["url"], secret=True)
        if params["ca_path"] and not os.path.isfile(params["ca_path"]):
            raise ValueError(f"ca_path: {params['ca_path']} does not exist or is not a file")
    except ValueError as error:
        module.fail_json(msg=str(error))
    if params["text_template"] is not None:
        fields = template_fields(params["event"], params["node"], params["reason"], params["cluster"], params["details"])
        try:
            message = render_template(params["text_template"], fields)
        except ValueError as error:
            module.fail_json(msg=str(error))
    else:
        message = params["text"]
    http = HttpSettings(params["timeout"], params["retries"], params["validate_certs"], params["ca_path"])
    sent, not_sent, payloads = deliver(params["webhooks"], params["event"], params["node"], message,
                                       params["details"], params["cluster"], http, module.check_mode)
    would_send = module.check_mode and bool(payloads)
    result: dict[str, t.Any] = {"changed": bool(sent) or would_send, "text": message, "sent": sent, "not_sent": not_sent}
    if module.check_mode:
        result["payloads"] = payloads
    if not_sent:
        summary = ", ".join(f"{entry['webhook']} ({entry['format']}): {entry['reason']}" for entry in not_sent)
        if params["fail_on_error"]:
            module.fail_json(msg=f"Could not notify {len(not_sent)} of {len(params['webhooks'])} webhooks about "
                                 f"{params['event']}: {summary}; check the URL and that the service is up", **result)
        module.warn(f"Could not notify {len(not_sent)} of {len(params['webhooks'])} webhooks about {params['event']} "
                    f"(fail_on_error is false, so the roll-out goes on): {summary}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
