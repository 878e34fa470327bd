# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A controller-side module task gives the same result whether it runs in the task's worker (the default on the
controller) or as a process of its own (nodepatch_kube_in_process=false): check mode, diff, a second run, the
task's environment, a group's module_defaults, a failure's message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MARK = "nodepatch.kube/in-process-test"

PLAY = """
- name: Run the modules the way a role does
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/nodepatch.kube.kube: {kubeconfig: "{{ kubeconfig }}"}
  tasks:
    - name: Mark the node in check mode, with a diff
      nodepatch.kube.node_metadata: {name: "{{ node }}", annotations: {"%(mark)s": "x"}}
      check_mode: true
      diff: true
      register: checked
    - name: Mark the node
      nodepatch.kube.node_metadata: {name: "{{ node }}", annotations: {"%(mark)s": "x"}}
      register: marked
    - name: Mark the node again
      nodepatch.kube.node_metadata: {name: "{{ node }}", annotations: {"%(mark)s": "x"}}
      register: again
    - name: Read the node
      nodepatch.kube.node_info: {names: ["{{ node }}"], lock_backend: none}
      register: read
    - name: Read the node with a context that the task's environment names and the kubeconfig lacks
      nodepatch.kube.node_info: {names: ["{{ node }}"], lock_backend: none}
      environment: {K8S_AUTH_CONTEXT: no-such-context}
      register: elsewhere
      ignore_errors: true
    - name: Cordon a node that does not exist
      nodepatch.kube.node_drain: {name: no-such-node, state: cordoned}
      register: refused
      ignore_errors: true
    - name: Remove the mark
      nodepatch.kube.node_metadata: {name: "{{ node }}", annotations: {"%(mark)s": null}}
      register: removed
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'checked': checked, 'marked': marked, 'again': again, 'read': read, 'elsewhere': elsewhere, 'refused': refused,
                      'removed': removed} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


@pytest.fixture
def node(testbed):
    name = testbed.nodes[-1]
    yield name
    testbed.core_v1().patch_node(name, {"metadata": {"annotations": {MARK: None}}})


def run_both_ways(testbed, run_playbook, tmp_path: Path, node: str) -> dict[str, tuple[dict, str]]:
    playbook = tmp_path / "in_process.yml"
    playbook.write_text(PLAY % {"mark": MARK})
    outcomes = {}
    for way, in_process in (("worker", True), ("process", False)):
        out = tmp_path / f"{way}.json"
        done = run_playbook(playbook, {"kubeconfig": testbed.kubeconfig, "node": node,
                                       "out": str(out), "nodepatch_kube_in_process": in_process}, args=("-vvv",))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        outcomes[way] = (json.loads(out.read_text()), done.stdout)
    return outcomes


def test_both_ways_give_the_same_results(testbed, run_playbook, tmp_path, node) -> None:
    outcomes = run_both_ways(testbed, run_playbook, tmp_path, node)
    worker, worker_log = outcomes["worker"]
    process, process_log = outcomes["process"]
    assert "node_metadata: ran in the task's worker" in worker_log
    assert "node_metadata: runs as its own process (nodepatch_kube_in_process is false)" in process_log
    assert "runs as its own process" not in worker_log, "every task of the first run was meant for the worker"

    for name in ("checked", "marked", "again", "removed"):
        assert worker[name] == process[name], name
    assert worker["checked"]["changed"] is True and worker["checked"]["diff"]["after"]["annotations"][MARK] == "x"
    assert [worker[name]["changed"] for name in ("marked", "again", "removed")] == [True, False, True]

    assert worker["read"]["nodes"][0]["name"] == node
    assert worker["read"]["nodes"][0]["boot_id"] == process["read"]["nodes"][0]["boot_id"]
    assert sorted(worker["read"]) == sorted(process["read"])

    assert worker["elsewhere"]["failed"] is True and "no-such-context" in worker["elsewhere"]["msg"]
    assert worker["elsewhere"]["msg"] == process["elsewhere"]["msg"]

    assert worker["refused"]["failed"] is True
    assert worker["refused"]["msg"] == process["refused"]["msg"]
    assert "no-such-node" in worker["refused"]["msg"]
    assert MARK not in (testbed.core_v1().read_node(node).metadata.annotations or {})
