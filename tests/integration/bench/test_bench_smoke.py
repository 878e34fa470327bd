# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keeps the benchmarks working: `benchmarks/run.sh --smoke` end to end. Timings are never asserted here.

The smoke run starts a test bed of its own in a temporary state directory (the roll-out part needs its own node
count), so the shared test bed other suites reuse is neither restarted nor disturbed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.testbed
def test_the_smoke_benchmark_prints_both_tables_and_saves_them_as_json(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run([str(REPO / "benchmarks" / "run.sh"), "--smoke", "--out", str(out),
                           "--testbed-dir", str(tmp_path / "testbed")],
                          cwd=REPO, text=True, capture_output=True, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "### Drain" in proc.stdout and "### Roll-out" in proc.stdout
    assert "| pods | tool |" in proc.stdout and "| nodes | concurrency |" in proc.stdout

    result = json.loads((out / "latest-smoke.json").read_text())
    assert result["mode"] == "smoke"
    assert {row["tool"] for row in result["drain"]["summary"]} == {
        "nodepatch.kube.node_drain", "kubectl drain", "kubernetes.core.k8s_drain"}
    samples = result["drain"]["samples"]
    assert all(sample["pods"] == 10 for sample in samples)
    assert all(sample["requests"]["total"] > 0 for sample in samples)
    rows = [row for rollout in result["rollout"] for row in rollout["rows"]]
    assert [(row["nodes"], row["concurrency"]) for row in rows] == [(3, 1)]
    assert {"wall_s", "ideal_s", "overhead_per_node_s", "requests_per_rebooted_node", "rebooted"} <= set(rows[0])
    # The kured column costs kured's 30-90 s start-up per reboot: measured by the full run only.
    assert "not run in smoke mode" in result["kured"]
    assert rows[0]["kured"] == {"ok": False, "error": result["kured"]}
    markdown = (out / "latest-smoke.md").read_text().splitlines()
    assert sum(1 for line in markdown if line.startswith("|---")) >= 2  # the drain and the roll-out tables
    assert not (tmp_path / "testbed" / "testbed.json").exists(), "the smoke run left its test bed running"
