# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Roll-out benchmark: playbooks/patch_and_reboot.yml on a test bed of N nodes that all need a reboot, simulated
reboot of a fixed duration, at a given concurrency; wall time against the ideal
ceil(N / concurrency) × (drain + reboot + ready), and API requests per rebooted node.

The kured column: the same roll-out done by real kured processes, one per node (tests/testbed/kured.py), with
--period 3s and the same simulated reboot, timed from the moment every sentinel appears (the peers already past
their start-up loop) to the last node's release; and, computed rather than measured, what kured's default period
of one hour makes of the same roll-out (kured_default_period)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from common import VENV_BIN, RequestMeter, Testbed, ansible_env, batches, log, median, table

PLAYBOOK = Path(__file__).resolve().parents[1] / "playbooks" / "patch_and_reboot.yml"
FLOOR = Path(__file__).resolve().parent / "playbooks" / "floor_ping.yml"
LOCK_ANNOTATION = "weave.works/kured-node-lock"
IN_PROGRESS = "weave.works/kured-reboot-in-progress"
KURED_PERIOD_S = 3.0
KURED_NO_BINARY = 3  # `testbed kured start`: no kured binary and no source to build one from


class RolloutBench:
    def __init__(self, testbed: Testbed, collections_root: Path, workdir: Path, reboot_delay: float) -> None:
        self.testbed = testbed
        self.collections_root = collections_root
        self.workdir = workdir
        self.reboot_delay = reboot_delay

    def _clients(self) -> tuple[Any, Any]:
        from kubernetes import client

        api = self.testbed.client()
        return client.CoreV1Api(api), client.AppsV1Api(api)

    def reset(self, needing: bool = True) -> None:
        """Every node schedulable, Ready, unmarked, needing a reboot (or not); the lock free."""
        core, apps = self._clients()
        for node in self.testbed.info["nodes"]:
            self.testbed.cli("sentinel", node, "on" if needing else "off")
            core.patch_node(node, {"spec": {"unschedulable": None}, "metadata": {"annotations": {
                IN_PROGRESS: None, "nodepatch.kube/boot-id-before": None, "nodepatch.kube/was-unschedulable": None}}})
        apps.patch_namespaced_daemon_set("kured", "kube-system", {"metadata": {"annotations": {LOCK_ANNOTATION: None}}})
        self.wait(lambda: all(self.ready(core, node) for node in self.testbed.info["nodes"]), 120, "all nodes Ready")

    @staticmethod
    def ready(core: Any, node: str) -> bool:
        conditions = core.read_node(node).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    @staticmethod
    def wait(check: Any, timeout: float, what: str, interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def reference_times(self) -> dict[str, float]:
        """The ideal's parts, measured on this test bed: `kubectl drain` of one node (cordon + evict what it
        carries), the simulated reboot (fixed), and ready = from the reboot's end to Ready with a new boot id."""
        core = self._clients()[0]
        node = self.testbed.info["nodes"][-1]
        drains = []
        for _attempt in range(3):
            started = time.monotonic()
            self.testbed.kubectl("drain", node, "--ignore-daemonsets", "--timeout=300s")
            drains.append(time.monotonic() - started)
            self.testbed.kubectl("uncordon", node)
        boot_before = core.read_node(node).status.node_info.boot_id
        started = time.monotonic()
        self.testbed.cli("reboot", node, "--delay", str(self.reboot_delay))
        self.wait(lambda: (core.read_node(node).status.node_info.boot_id != boot_before
                           and self.ready(core, node)), 120, f"{node} back after a simulated reboot")
        down = time.monotonic() - started
        return {"drain_s": round(median(drains) or 0.0, 3), "reboot_s": self.reboot_delay,
                "ready_s": round(max(0.0, down - self.reboot_delay), 3)}

    def extra_vars(self, concurrency: int) -> dict[str, Any]:
        return {
            "patch_and_reboot_hosts": "testbed_nodes",
            "patch_and_reboot_patch": False,
            "safe_reboot_method": "command",
            "safe_reboot_command": f"{{{{ (nodepatch_testbed_reboot_command ~ ' --delay {self.reboot_delay:g}') | split }}}}",
            "safe_reboot_kubeconfig": self.testbed.info["kubeconfig"],
            "safe_reboot_concurrency": concurrency,
            "safe_reboot_drain_timeout": 120,
            "safe_reboot_ready_timeout": 300,
            "safe_reboot_lock_wait_timeout": 300,
            "safe_reboot_lock_wait_sleep": 1,
        }

    def play(self, run_dir: Path, extra: dict[str, Any], playbook: Path = PLAYBOOK,
             forks: int | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
        """One ansible-playbook run in run_dir (its log and roll-out report stay there); returns it and its wall s."""
        run_dir.mkdir(parents=True, exist_ok=True)
        vars_file = run_dir / "extra-vars.json"
        vars_file.write_text(json.dumps(extra))
        argv = [str(VENV_BIN / "ansible-playbook"), str(playbook), "-i", self.testbed.info["inventory"],
                "-e", f"@{vars_file}", *(["--forks", str(forks)] if forks else [])]
        env = ansible_env([self.collections_root], run_dir,
                          {"NODEPATCH_TESTBED_DIR": str(self.testbed.state_dir), "PWD": str(run_dir)})
        started = time.monotonic()
        proc = subprocess.run(argv, cwd=run_dir, env=env, text=True, capture_output=True, check=False)
        wall = time.monotonic() - started
        (run_dir / "ansible-playbook.log").write_text(proc.stdout + proc.stderr)
        return proc, wall

    def one(self, concurrency: int, reference: dict[str, float], meter: RequestMeter) -> dict[str, Any]:
        nodes = len(self.testbed.info["nodes"])
        self.reset(needing=True)
        run_dir = self.workdir / f"rollout-{nodes}-{concurrency}"
        log(f"  roll-out of {nodes} nodes at concurrency {concurrency}")
        meter.start()
        proc, wall = self.play(run_dir, self.extra_vars(concurrency))
        requests = meter.stop()
        report = load_report(run_dir / "ansible-playbook.log")
        rebooted = sum(1 for row in report.get("nodes", []) if row.get("result") == "rebooted")
        per_node = reference["drain_s"] + reference["reboot_s"] + reference["ready_s"]
        ideal = batches(nodes, concurrency) * per_node
        overhead = (wall - ideal) / batches(nodes, concurrency)
        ok = proc.returncode == 0 and rebooted == nodes
        log(f"    {wall:.1f} s (ideal {ideal:.1f} s), {rebooted}/{nodes} rebooted, rc {proc.returncode}")
        return {
            "nodes": nodes, "concurrency": concurrency, "reboot_delay_s": self.reboot_delay, "ok": ok,
            "rc": proc.returncode, "rebooted": rebooted, "load_average_1m": round(os.getloadavg()[0], 2), "wall_s": round(wall, 2), "ideal_s": round(ideal, 2),
            "overhead_per_node_s": round(overhead, 2), "overhead_ratio": round(overhead / per_node, 3),
            "requests": requests,
            "requests_per_rebooted_node": round(requests["client"] / rebooted, 1) if rebooted else None,
            "cluster_requests_per_rebooted_node": round(requests["net"] / rebooted, 1) if rebooted else None,
            "our_requests_per_rebooted_node": per_node_counts(requests["ours"], rebooted),
            "phases_median_s": phases(report),
            "log": str(run_dir / "ansible-playbook.log"),
            "error": None if ok else (proc.stdout + proc.stderr).strip()[-1500:],
        }

    def floor(self, concurrency: int) -> dict[str, Any]:
        """The same roll-out shape with ansible.builtin.ping in place of our modules and no reboot: per batch, what
        Ansible itself costs (benchmarks/playbooks/floor_ping.yml)."""
        nodes = len(self.testbed.info["nodes"])
        load = os.getloadavg()[0]
        proc, wall = self.play(self.workdir / f"floor-{nodes}-{concurrency}", self.extra_vars(concurrency),
                               playbook=FLOOR)
        per_node = wall / batches(nodes, concurrency)
        log(f"    floor (ping): {wall:.1f} s, {per_node:.2f} s per batch, rc {proc.returncode}")
        return {"ok": proc.returncode == 0, "wall_s": round(wall, 2), "per_node_s": round(per_node, 2),
                "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)]}

    def kured(self, concurrency: int, meter: RequestMeter) -> dict[str, Any]:
        """The same roll-out by kured peers: every node's sentinel at once, kured --concurrency on the default lock."""
        nodes = list(self.testbed.info["nodes"])
        self.reset(needing=False)
        log(f"  kured, {len(nodes)} nodes at concurrency {concurrency} (--period {KURED_PERIOD_S:g}s)")
        started = time.monotonic()
        proc = self.testbed.cli("kured", "start", "--reboot-delay", f"{self.reboot_delay:g}", "--",
                                f"--concurrency={concurrency}", f"--period={KURED_PERIOD_S:g}s", "--annotate-nodes",
                                check=False)
        if proc.returncode == KURED_NO_BINARY:
            return {"ok": False, "error": "no kured binary: " + proc.stderr.strip()[-600:]}
        if proc.returncode != 0:
            raise RuntimeError(f"testbed kured start failed:\n{proc.stderr[-2000:]}")
        try:
            # kured's start-up loop (30-90 s, not tied to --period) is not part of a roll-out: a DaemonSet's pods
            # have been running long before a node needs a reboot.
            self.wait(lambda: all(state["phase"] == "ready" for state in self.kured_states().values()), 300,
                      "the kured peers to leave their start-up loop", interval=0.2)
            startup = time.monotonic() - started
            boots = {node: self.boot_id(node) for node in nodes}
            meter.start()
            began = time.time()
            for node in nodes:  # the files themselves: a `testbed sentinel` per node would add seconds
                Path(self.testbed.info["sentinels"][node]).write_text("*** System restart required ***\n")
            # Done when every peer has been restarted after its reboot and has logged its uncordon, which kured
            # does right before it releases the lock; read from the peers' own state, so no request is added.
            self.wait(lambda: all(state["starts"] >= 2 and state.get("events", {}).get("uncordon", 0) > began
                                  for state in self.kured_states().values()), 600 + 120 * len(nodes),
                      "every kured peer to reboot its node and release the lock", interval=0.1)
            states = self.kured_states()
            wall = max(state["events"]["uncordon"] for state in states.values()) - began
            time.sleep(1)  # the release follows the uncordon within milliseconds; let it land in the window
            requests = meter.stop()
        finally:
            self.testbed.cli("kured", "stop", check=False)
        rebooted = sum(1 for node in nodes if self.boot_id(node) != boots[node])
        holds = sorted(state["events"]["uncordon"] - state["events"]["drain"] for state in states.values())
        refused = sum(state.get("counts", {}).get("refused", 0) for state in states.values())
        log(f"    {wall:.1f} s, {rebooted}/{len(nodes)} rebooted; kured start-up took {startup:.0f} s")
        return {
            "ok": rebooted == len(nodes), "period_s": KURED_PERIOD_S, "wall_s": round(wall, 2), "rebooted": rebooted,
            "startup_s": round(startup, 1), "hold_median_s": round(median(holds) or 0.0, 2),
            "holds_s": [round(hold, 2) for hold in holds], "refused": refused, "requests": requests,
            "requests_per_rebooted_node": round(requests["client"] / rebooted, 1) if rebooted else None,
            "cluster_requests_per_rebooted_node": round(requests["net"] / rebooted, 1) if rebooted else None,
            "default_period": kured_default_period(len(nodes), concurrency, median(holds) or 0.0),
        }

    def kured_states(self) -> dict[str, dict[str, Any]]:
        """The peers' state files (tests/testbed/kured.py writes them atomically); reading them costs no request."""
        states = {}
        for path in (self.testbed.state_dir / "kured").glob("*.json"):
            try:
                states[path.stem] = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
        return states

    def boot_id(self, node: str) -> str:
        return str(self._clients()[0].read_node(node).status.node_info.boot_id)

    def run(self, concurrencies: list[int], kured_left_out: str | None = None) -> dict[str, Any]:
        """kured_left_out: why the kured column is not measured (None: it is)."""
        nodes = len(self.testbed.info["nodes"])
        self.reset(needing=False)
        reference = self.reference_times()
        log(f"roll-out benchmark, {nodes} nodes: ideal per node {reference}")
        meter = RequestMeter(self.testbed)
        meter.calibrate()
        rows = []
        for concurrency in concurrencies:
            row = self.one(concurrency, reference, meter)
            row["floor"] = self.floor(concurrency)
            row["kured"] = (self.kured(concurrency, meter) if kured_left_out is None
                            else {"ok": False, "error": kured_left_out})
            rows.append(row)
        self.reset(needing=False)
        return {"nodes": nodes, "reference": reference, "idle_requests_per_s": round(meter.idle_rate, 2),
                "rows": rows}


KURED_SKIPPED = "not run in smoke mode (every kured reboot costs its 30-90 s start-up before the release)"
KURED_LEFT_OUT = "left out (--no-kured)"


def kured_default_period(nodes: int, concurrency: int, hold_s: float, period_s: float = 3600.0,
                         trials: int = 2000) -> dict[str, Any]:
    """COMPUTED, not measured: the wall time of the same roll-out under kured's default --period of one hour.

    From kured's code (cmd/kured rebootAsRequired, pkg/delaytick): a kured that has run for a while checks its
    sentinel once per period, at a phase of its own (its first tick came at a random moment between period/2 and
    3 period/2 after its start); a check that finds the lock full waits for the next period. A node that gets a
    place holds it for `hold_s` (drain, reboot, kured's restart and start-up loop: measured with the short period).
    Every node needs a reboot at t = 0 (the night's unattended upgrades). Monte Carlo over the nodes' phases with a
    fixed seed, so the figure is reproducible; returns the mean and 90th percentile in seconds.
    """
    rng = random.Random(20261201)
    walls = []
    for _trial in range(trials):
        checks = sorted((rng.uniform(0, period_s), node) for node in range(nodes))
        releases: list[float] = []  # when each place taken so far is given back
        done = 0.0
        pending = list(checks)
        while pending:
            pending.sort()
            moment, node = pending.pop(0)
            busy = [end for end in releases if end > moment]
            if len(busy) < concurrency:
                releases.append(moment + hold_s)
                done = max(done, moment + hold_s)
            else:
                pending.append((moment + period_s, node))
        walls.append(done)
    walls.sort()
    return {"computed": True, "period_s": period_s, "hold_s": round(hold_s, 2), "trials": trials,
            "mean_s": round(sum(walls) / len(walls), 1), "p90_s": round(walls[int(0.9 * len(walls))], 1)}


# Where a node's time goes, from the roll-out report's per-node timeline (timestamps the role records).
PHASES = (
    ("detect + gate", "started", "lock_requested"),
    ("lock", "lock_requested", "lock_acquired"),
    ("mark", "lock_acquired", "drain_started"),
    ("drain", "drain_started", "drain_finished"),
    ("reboot command", "drain_finished", "reboot_started"),
    ("reboot + ready", "reboot_started", "node_ready"),
    ("uncordon + unmark", "node_ready", "uncordoned"),
    ("release", "uncordoned", "finished"),
)


def load_report(playbook_log: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((playbook_log.parent / "nodepatch-reports" / "rollout.json").read_text()))
    except (OSError, ValueError):
        return {}


def phases(report: dict[str, Any]) -> dict[str, float]:
    """Median seconds per phase over the rebooted nodes, plus the time between one node's end and the next
    node's start in the same slot (Ansible's own work between batches: report, next batch's set-up)."""
    rows = [row for row in report.get("nodes", []) if row.get("result") == "rebooted"]
    result: dict[str, float] = {}
    for name, start, end in PHASES:
        values = [row["timeline"][end] - row["timeline"][start] for row in rows
                  if start in row.get("timeline", {}) and end in row.get("timeline", {})]
        if values:
            result[name] = round(median(values) or 0.0, 2)
    totals = [row["total_seconds"] for row in rows if "total_seconds" in row]
    if totals:
        result["node total"] = round(median(totals) or 0.0, 2)
    return result


def kured_cells(row: dict[str, Any]) -> list[Any]:
    kured = row.get("kured")
    if not isinstance(kured, dict) or "wall_s" not in kured:
        return ["–", "–", "–"]
    default = kured["default_period"]
    return [kured["wall_s"], kured["requests_per_rebooted_node"],
            f"{default['mean_s'] / 60:.0f} min (p90 {default['p90_s'] / 60:.0f} min)"]


def per_node_counts(ours: dict[str, Any], rebooted: int) -> dict[str, Any] | None:
    """The collection's own requests (audit log, common.our_requests) per rebooted node, in all and by module."""
    if not rebooted or ours.get("total") is None:
        return None
    return {"total": round(ours["total"] / rebooted, 1),
            "by_agent": {agent: round(count / rebooted, 1) for agent, count in ours["by_agent"].items()},
            "by_call": {call: round(count / rebooted, 1) for call, count in ours["by_call"].items()}}


def our_cell(row: dict[str, Any]) -> Any:
    return (row.get("our_requests_per_rebooted_node") or {}).get("total", "–")


def render(results: list[dict[str, Any]]) -> str:
    rows = []
    for result in results:
        for row in result["rows"]:
            rows.append([row["nodes"], row["concurrency"], f"{row['rebooted']}/{row['nodes']}", row["wall_s"],
                         row["ideal_s"], row["overhead_per_node_s"], f"{row['overhead_ratio'] * 100:.0f} %",
                         (row.get("floor") or {}).get("per_node_s", "–"), row.get("load_average_1m", "–"),
                         our_cell(row), row["requests_per_rebooted_node"], row["cluster_requests_per_rebooted_node"],
                         *kured_cells(row)])
    text = table(["nodes", "concurrency", "rebooted", "wall s", "ideal s", "overhead s/node", "overhead ratio",
                  "floor s/node (ping shape)", "load avg 1m", "our API requests/node (audit log)",
                  "API requests/node (tool, estimated)", "API requests/node (cluster)",
                  f"kured wall s (--period {KURED_PERIOD_S:g}s)", "kured API requests/node", "kured at --period 1h (computed)"], rows)
    kured_rows = [[row["nodes"], row["concurrency"], row["kured"]["rebooted"], row["kured"]["hold_median_s"],
                   row["kured"]["refused"], row["kured"]["cluster_requests_per_rebooted_node"],
                   row["kured"]["startup_s"]]
                  for result in results for row in result["rows"] if "wall_s" in (row.get("kured") or {})]
    if kured_rows:
        text += ("\n\nkured peers (real kured, one process per node, same simulated reboot): a node's lock hold "
                 "(drain to release: drain, reboot, kured's restart and its 30-90 s start-up loop), refusals "
                 "(`Lock already held`), and the start-up of the peers before the roll-out (not counted in its wall "
                 "time):\n\n")
        text += table(["nodes", "concurrency", "rebooted", "hold median s", "refused", "API requests/node (cluster)",
                       "start-up s"], kured_rows)
    skipped = {row["kured"].get("error") for result in results for row in result["rows"]
               if not (row.get("kured") or {}).get("ok") and (row.get("kured") or {}).get("error")}
    if skipped:
        text += "\n\nkured column not filled: " + "; ".join(sorted(str(reason) for reason in skipped))
    names = [phase[0] for phase in PHASES] + ["node total"]
    phase_rows = [[row["nodes"], row["concurrency"], *(row.get("phases_median_s", {}).get(name) for name in names)]
                  for result in results for row in result["rows"]]
    text += "\n\nMedian seconds per phase of a rebooted node (from the roll-out report's timeline):\n\n"
    text += table(["nodes", "concurrency", *names], phase_rows)
    counted = [row for result in results for row in result["rows"] if row.get("our_requests_per_rebooted_node")]
    agents = sorted({agent for row in counted for agent in row["our_requests_per_rebooted_node"]["by_agent"]})
    if counted:
        text += ("\n\nOur API requests per rebooted node by the module that made them (the audit log's User-Agent; "
                 "the check pass's included):\n\n")
        text += table(["nodes", "concurrency", *agents, "all"],
                      [[row["nodes"], row["concurrency"],
                        *(row["our_requests_per_rebooted_node"]["by_agent"].get(agent, 0) for agent in agents),
                        row["our_requests_per_rebooted_node"]["total"]] for row in counted])
    refs = [f"- {r['nodes']} nodes: drain {r['reference']['drain_s']} s (kubectl drain of one node), reboot "
            f"{r['reference']['reboot_s']} s (simulated, fixed), ready {r['reference']['ready_s']} s"
            for r in results]
    errors = [f"- {row['nodes']} nodes, concurrency {row['concurrency']}: rc {row['rc']}, see {row['log']}"
              for result in results for row in result["rows"] if not row["ok"]]
    text += "\n\nIdeal = ceil(N / concurrency) × (drain + reboot + ready), measured per test bed:\n" + "\n".join(refs)
    if errors:
        text += "\n\nFailed roll-outs:\n" + "\n".join(errors)
    return text
