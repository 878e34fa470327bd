#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: notify
short_description: Tell webhooks about reboots - generic JSON, Slack-compatible or Microsoft Teams
version_added: 0.1.0
description:
  - POSTs one message to each webhook, in the format it expects - V(generic) JSON, V(slack) (also accepted by
    Mattermost and Rocket.Chat), or V(teams) (an Adaptive Card, for Teams workflows).
  - Webhook URLs hold secrets; they never appear in the output, only their scheme and host.
  - A webhook that fails gives a warning and the roll-out goes on, unless O(fail_on_error=true).
author:
  - nodepatch maintainers (@nodepatch)
options:
  webhooks:
    description: Where to send.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description: The webhook URL.
        type: str
        required: true
      format:
        description: Payload format.
        type: str
        choices: [generic, slack, teams]
        default: generic
      headers:
        description: Extra HTTP headers (for example an authorization header).
        type: dict
        default: {}
  event:
    description: What happened, for example V(reboot_started), V(reboot_finished), V(reboot_failed), V(rollout_finished).
    type: str
    required: true
  node:
    description: The node concerned.
    type: str
  message:
    description: The text; the roles render it from templates that name the node.
    type: str
    required: true
  details:
    description: Extra facts shown with the message.
    type: dict
    default: {}
  timeout:
    description: Seconds per request.
    type: int
    default: 10
  validate_certs:
    description: Verify the webhooks' TLS certificates.
    type: bool
    default: true
  fail_on_error:
    description: Fail the task when a webhook cannot be reached or answers with an error.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Sends nothing and reports what would be sent.
  diff_mode:
    support: none
    description: Nothing on the managed hosts changes.
  idempotent:
    support: none
    description: Every run sends the message again.
"""

EXAMPLES = r"""
- name: Tell the on-call channel a node goes down
  nodepatch.kube.notify:
    webhooks:
      - url: "{{ slack_webhook_url }}"
        format: slack
      - url: "{{ teams_workflow_url }}"
        format: teams
    event: reboot_started
    node: "{{ inventory_hostname }}"
    message: "Rebooting {{ inventory_hostname }} for a kernel update"
  delegate_to: localhost
"""

RETURN = r"""
sent:
  description: Webhooks that accepted the message (scheme and host only).
  returned: always
  type: list
  elements: str
  sample: ["https://hooks.slack.com/…"]
failed:
  description: Webhooks that did not, with the reason (scheme and host only).
  returned: always
  type: list
  elements: dict
payloads:
  description: The payloads, in check mode only.
  returned: check mode
  type: list
  elements: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.nodepatch.kube.plugins.module_utils.notify import FORMATS, masked, payload


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            webhooks=dict(type="list", elements="dict", required=True, no_log=True, options=dict(
                url=dict(type="str", required=True, no_log=True),
                format=dict(type="str", choices=list(FORMATS), default="generic"),
                headers=dict(type="dict", default={}, no_log=True),
            )),
            event=dict(type="str", required=True),
            node=dict(type="str"),
            message=dict(type="str", required=True),
            details=dict(type="dict", default={}),
            timeout=dict(type="int", default=10),
            validate_certs=dict(type="bool", default=True),
            fail_on_error=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    sent, failed, payloads = [], [], []
    for webhook in params["webhooks"]:
        body = payload(webhook["format"], params["event"], params["node"], params["message"], params["details"])
        where = masked(webhook["url"])
        if module.check_mode:
            payloads.append({"webhook": where, "format": webhook["format"], "payload": body})
            continue
        headers = {"Content-Type": "application/json", **webhook["headers"]}
        try:
            open_url(webhook["url"], data=json.dumps(body).encode("utf-8"), headers=headers, method="POST",
                     timeout=params["timeout"], validate_certs=params["validate_certs"])
            sent.append(where)
        except Exception as error:  # pylint: disable=broad-exception-caught
            reason = getattr(error, "code", None) or type(error).__name__
            failed.append({"webhook": where, "reason": f"HTTP {reason}" if isinstance(reason, int) else str(reason)})
    result = {"changed": bool(sent) or (module.check_mode and bool(payloads)), "sent": sent, "failed": failed}
    if module.check_mode:
        result["payloads"] = payloads
    if failed:
        summary = ", ".join(f"{entry['webhook']} ({entry['reason']})" for entry in failed)
        if params["fail_on_error"]:
            module.fail_json(msg=f"webhooks failed: {summary}", **result)
        module.warn(f"webhooks failed, the roll-out goes on: {summary}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
