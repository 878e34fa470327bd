# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-task cost of nodepatch.kube.reboot_required on one test-bed node reached three ways: through the Kubernetes
API (connection nodepatch.kube.node: a node pod, pods/exec), over real SSH (the test bed's sshd on loopback,
ControlPersist, pipelining) and locally (connection local); plus the first task's cost, which for the API
includes starting the node pod. Each task's wall time comes from a small callback (task start to result).

    .venv/bin/python benchmarks/node_access.py [--tasks 10] [--runs 3] [--testbed-dir DIR]

Measures, never asserts; the table goes to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import DEFAULT_TESTBED_DIR, VENV_BIN, Testbed, ansible_env, fmt, log, machine, staged_collections_root, table

CALLBACK = '''
from __future__ import annotations
import json, os, time
from ansible.plugins.callback import CallbackBase

class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.started = {}
        self.out = open(os.environ["NODEPATCH_BENCH_TIMES"], "a")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.started[task._uuid] = time.monotonic()

    def _done(self, result, status):
        took = time.monotonic() - self.started[result._task._uuid]
        self.out.write(json.dumps({"task": result._task.get_name(), "status": status, "seconds": took}) + "\\n")
        self.out.flush()

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")
'''


def inventories(testbed: Testbed, work: Path) -> dict[str, tuple[Path, str]]:
    """Inventory and host per way of reaching the same node (the one the test bed's sshd stands for)."""
    info = testbed.info
    ssh = info["ssh"]
    node = ssh["node"]
    python = str(VENV_BIN / "python")
    api = work / "bench.nodes.yml"
    api.write_text(json.dumps({"plugin": "nodepatch.kube.nodes", "kubeconfig": info["kubeconfig"],
                               "label_selector": f"kubernetes.io/hostname={node}",
                               "compose": {"ansible_python_interpreter": repr(python)}}))
    ssh_inventory = work / "ssh.yml"
    ssh_inventory.write_text(json.dumps({"all": {"hosts": {"ssh-node": {
        "ansible_host": ssh["host"], "ansible_port": ssh["port"], "ansible_user": ssh["user"],
        "ansible_ssh_private_key_file": ssh["private_key"], "ansible_python_interpreter": python,
        "ansible_ssh_pipelining": True,
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={ssh['known_hosts']} -o StrictHostKeyChecking=yes"}}}}))
    local = work / "local.yml"
    local.write_text(json.dumps({"all": {"hosts": {"local-node": {
        "ansible_connection": "local", "ansible_python_interpreter": python}}}}))
    return {"api (nodepatch.kube.node)": (api, node), "ssh (pipelining)": (ssh_inventory, "ssh-node"),
            "local": (local, "local-node")}


def run_once(inventory: Path, host: str, tasks: int, work: Path, collections: Path) -> list[float]:
    playbook = work / "tasks.yml"
    playbook.write_text(json.dumps([{"hosts": host, "gather_facts": False, "tasks": [
        {"name": f"reboot_required {index}", "nodepatch.kube.reboot_required": {}} for index in range(tasks)]}]))
    times = work / "times.jsonl"
    times.unlink(missing_ok=True)
    callbacks = work / "callback_plugins"
    callbacks.mkdir(exist_ok=True)
    (callbacks / "task_times.py").write_text(CALLBACK)
    env = ansible_env([collections], work, {"ANSIBLE_CALLBACK_PLUGINS": str(callbacks),
                                            "ANSIBLE_CALLBACKS_ENABLED": "task_times",
                                            "NODEPATCH_BENCH_TIMES": str(times)})
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)], env=env,
                          capture_output=True, text=True, check=False, cwd=work)
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    records = [json.loads(line) for line in times.read_text().splitlines()]
    return [record["seconds"] for record in records]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10, help="reboot_required tasks per run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per way (default 3)")
    parser.add_argument("--testbed-dir", type=Path, default=DEFAULT_TESTBED_DIR)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "node_access.json")
    args = parser.parse_args(argv)
    testbed = Testbed(args.testbed_dir)
    started_here = testbed.ensure(5)
    work = Path(args.testbed_dir) / "bench-node-access"
    work.mkdir(parents=True, exist_ok=True)
    collections = staged_collections_root()
    results: dict[str, Any] = {"machine": machine(), "tasks": args.tasks, "runs": args.runs, "ways": {}}
    try:
        for way, (inventory, host) in inventories(testbed, work).items():
            firsts, rest = [], []
            for run in range(args.runs):
                seconds = run_once(inventory, host, args.tasks, work, collections)
                firsts.append(seconds[0])
                rest.extend(seconds[1:])
                log(f"{way} run {run + 1}: first {seconds[0]:.2f} s, then median {statistics.median(seconds[1:]):.2f} s")
                time.sleep(1)
            results["ways"][way] = {"first_s": statistics.median(firsts), "per_task_s": statistics.median(rest),
                                    "per_task_p90_s": sorted(rest)[int(len(rest) * 0.9) - 1]}
    finally:
        if started_here:
            testbed.down()
    ssh = results["ways"]["ssh (pipelining)"]["per_task_s"]
    rows = [[way, value["first_s"], value["per_task_s"], value["per_task_p90_s"], f"{value['per_task_s'] / ssh:.2f}x"]
            for way, value in results["ways"].items()]
    rendered = table(["connection", "first task (s)", "later tasks, median (s)", "p90 (s)", "vs ssh"], rows)
    results["table"] = rendered
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(rendered)
    print(f"\n{args.runs} runs of {args.tasks} tasks each; {fmt(results['machine'].get('nproc'))} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
