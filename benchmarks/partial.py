# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Partial roll-out benchmark: a test bed of N nodes of which K need a reboot, at a given concurrency, side by
side in one run:

- detection pass alone: playbooks/patch_and_reboot.yml with no node needing a reboot, at the default forks and at
  20 forks (the wall time is the check of every node, plus ansible-playbook's start and the report);
- before: benchmarks/playbooks/patch_and_reboot_batches_only.yml (the playbook as of 20d42f2: every node, needing
  a reboot or not, inside serial batches);
- after: playbooks/patch_and_reboot.yml (one parallel check of every node, then serial batches of the K
  candidates only), in both of its modes: batches (the default) and lock_paced (every candidate on its own, the
  lock the only throttle).

Ideal = the detection pass (default forks) + ceil(K / concurrency) × (drain + reboot + ready)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common import RequestMeter, batches, log, table
from rollout import IN_PROGRESS, LOCK_ANNOTATION, PLAYBOOK, RolloutBench, load_report

BEFORE = Path(__file__).resolve().parent / "playbooks" / "patch_and_reboot_batches_only.yml"
FORKS = (5, 20)


class PartialBench(RolloutBench):
    def sentinels(self, needy: set[str]) -> None:
        """The sentinel files themselves, and every node unmarked and schedulable: a `testbed sentinel` process
        per node would cost minutes over 100 nodes."""
        core, apps = self._clients()
        for node in self.testbed.info["nodes"]:
            path = Path(self.testbed.info["sentinels"][node])
            if node in needy:
                path.write_text("*** System restart required ***\n")
            else:
                path.unlink(missing_ok=True)
            core.patch_node(node, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
                IN_PROGRESS: None, "nodepatch.kube/boot-id-before": None}}})
        apps.patch_namespaced_daemon_set("kured", "kube-system", {"metadata": {"annotations": {LOCK_ANNOTATION: None}}})
        self.wait(lambda: all(self.ready(core, node) for node in self.testbed.info["nodes"]), 120, "all nodes Ready")

    def measure(self, name: str, playbook: Path, needy: set[str], concurrency: int, meter: RequestMeter,
                forks: int | None = None, mode: str | None = None) -> dict[str, Any]:
        self.sentinels(needy)
        run_dir = self.workdir / f"partial-{name}"
        meter.start()
        load_before = os.getloadavg()[0]
        extra = self.extra_vars(concurrency) | ({"patch_and_reboot_mode": mode} if mode else {})
        proc, wall = self.play(run_dir, extra, playbook=playbook, forks=forks)
        requests = meter.stop()
        report = load_report(run_dir / "ansible-playbook.log")
        rebooted = {row["node"] for row in report.get("nodes", []) if row.get("result") == "rebooted"}
        ok = proc.returncode == 0 and rebooted == needy
        log(f"    {name}: {wall:.1f} s, {len(rebooted)}/{len(needy)} rebooted, rc {proc.returncode}")
        return {"name": name, "forks": forks or 5, "ok": ok, "rc": proc.returncode, "wall_s": round(wall, 2),
                "rebooted": len(rebooted), "reported": len(report.get("nodes", [])),
                "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                "requests": requests, "log": str(run_dir / "ansible-playbook.log"),
                "error": None if ok else (proc.stdout + proc.stderr).strip()[-1500:]}

    def run_partial(self, needing: int, concurrency: int, full: bool = True) -> dict[str, Any]:
        """full: every row; otherwise (the smoke run, in the suite's budget) the detection pass at the default forks
        and today's playbook in batches, enough to prove the benchmark works."""
        nodes = list(self.testbed.info["nodes"])
        self.reset(needing=False)
        reference = self.reference_times()
        meter = RequestMeter(self.testbed)
        meter.calibrate()
        log(f"partial roll-out benchmark: {len(nodes)} nodes, {needing} need a reboot, concurrency {concurrency}")
        passes = [self.measure(f"detection-pass-forks-{forks}", PLAYBOOK, set(), concurrency, meter, forks=forks)
                  for forks in (FORKS if full else FORKS[:1])]
        needy = set(nodes[:needing])
        rows = [self.measure("before-batches-of-every-node", BEFORE, needy, concurrency, meter)] if full else []
        rows.append(self.measure("after-check-first-then-batches", PLAYBOOK, needy, concurrency, meter))
        if full:
            rows.append(self.measure("after-check-first-then-lock-paced", PLAYBOOK, needy, concurrency, meter,
                                     mode="lock_paced"))
        self.sentinels(set())
        per_node = reference["drain_s"] + reference["reboot_s"] + reference["ready_s"]
        ideal = passes[0]["wall_s"] + batches(needing, concurrency) * per_node
        for row in rows:
            row["ideal_s"] = round(ideal, 2)
            row["ratio_to_ideal"] = round(row["wall_s"] / ideal, 2)
        for row in passes:
            row["per_node_s"] = round(row["wall_s"] / len(nodes), 3)
        return {"nodes": len(nodes), "needing": needing, "concurrency": concurrency,
                "reboot_delay_s": self.reboot_delay, "reference": reference, "detection_passes": passes,
                "rows": rows}


def ours(row: dict[str, Any]) -> Any:
    """The collection's own requests from the audit log (common.our_requests); – where the log had none."""
    total = (row["requests"].get("ours") or {}).get("total")
    return "–" if total is None else total


def render(result: dict[str, Any]) -> str:
    head = (f"{result['nodes']} nodes, {result['needing']} need a reboot, concurrency {result['concurrency']}, "
            f"simulated reboot {result['reboot_delay_s']:g} s; ideal = detection pass at 5 forks + "
            f"ceil({result['needing']} / {result['concurrency']}) × (drain {result['reference']['drain_s']} + reboot "
            f"{result['reference']['reboot_s']} + ready {result['reference']['ready_s']}) s\n\n")
    text = head + table(
        ["playbook", "rebooted", "reported nodes", "wall s", "ideal s", "wall / ideal", "our API requests (audit log)",
         "API requests (tool, estimated)", "load avg 1m (before, after)"],
        [[row["name"], f"{row['rebooted']}/{result['needing']}", row["reported"], row["wall_s"], row["ideal_s"],
          row["ratio_to_ideal"], ours(row), row["requests"]["client"], " / ".join(map(str, row["load_average_1m"]))]
         for row in result["rows"]])
    text += "\n\nDetection pass alone (no node needs a reboot; the whole playbook's wall time):\n\n"
    text += table(["forks", "wall s", "s per node", "our API requests (audit log)", "API requests (tool, estimated)",
                   "load avg 1m (before, after)"],
                  [[row["forks"], row["wall_s"], row["per_node_s"], ours(row), row["requests"]["client"],
                    " / ".join(map(str, row["load_average_1m"]))] for row in result["detection_passes"]])
    failed = [row for row in result["rows"] + result["detection_passes"] if not row["ok"]]
    if failed:
        text += "\n\nFailed runs: " + "; ".join(f"{row['name']} rc {row['rc']}, see {row['log']}" for row in failed)
    return text
