# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the drain, roll-out and lock contention benchmarks on a local test bed, prints markdown tables, saves JSON.

Benchmarks measure; they never assert. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import DEFAULT_TESTBED_DIR, REPO, Testbed, log, machine, staged_collections_root


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run.sh", description=__doc__)
    parser.add_argument("--smoke", action="store_true",
                        help="quick check that the benchmarks still work: 10 pods, 1 run; 3 nodes, concurrency 1")
    parser.add_argument("--only", choices=("drain", "rollout", "lock", "partial"), help="run one benchmark only")
    parser.add_argument("--pods", type=ints, help="pods on the drained node (default 50,200)")
    parser.add_argument("--runs", type=ints, help="runs per tool, one number or one per pod count (default 5)")
    parser.add_argument("--nodes", type=ints, help="roll-out sizes (default 10,50)")
    parser.add_argument("--concurrency", type=ints, help="roll-out concurrencies (default 1,3)")
    parser.add_argument("--rollouts", help="roll-outs as NODESxCONCURRENCY,... (e.g. 10x1,10x3,50x3); "
                                           "overrides --nodes and --concurrency")
    parser.add_argument("--partial", default=None,
                        help="partial roll-outs as NODESxNEEDINGxCONCURRENCY,... (default 100x10x2; smoke 3x2x1)")
    parser.add_argument("--reboot-delay", type=float, help="seconds a simulated reboot takes (default 10)")
    parser.add_argument("--no-kured", action="store_true",
                        help="roll-out: leave out the kured column (each kured reboot costs its 30-90 s start-up)")
    parser.add_argument("--lock-workers", type=int, default=8, help="lock contention: worker processes (default 8)")
    parser.add_argument("--lock-rounds", type=int, default=325,
                        help="lock contention: rounds per worker and line; 4 lines (2 backends x max_holders 1, 3), "
                             "so 8 x 325 x 4 = 10,400 rounds by default (not in --smoke)")
    parser.add_argument("--drain-nodes", type=int,
                        help="test bed size for the drain benchmark (default 5; smoke 3, the roll-out's size)")
    parser.add_argument("--testbed-dir", type=Path, default=DEFAULT_TESTBED_DIR,
                        help=f"test bed state directory (default {DEFAULT_TESTBED_DIR.relative_to(REPO)}, the "
                             "benchmarks' own; the shared .build/testbed is restored to its size afterwards)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="where JSON goes")
    parser.add_argument("--work", type=Path, default=REPO / ".build" / "bench-work",
                        help="where playbook logs and roll-out reports of each run are kept")
    parser.add_argument("--keep-testbed", action="store_true", help="leave a test bed started here running")
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.pods = args.pods or ([10] if smoke else [50, 200])
    runs = args.runs or [1 if smoke else 5]
    if len(runs) not in (1, len(args.pods)):
        parser.error("--runs takes one number, or one per pod count")
    args.runs = runs * len(args.pods) if len(runs) == 1 else runs
    if args.rollouts:
        plan: dict[int, list[int]] = {}
        for item in args.rollouts.split(","):
            nodes, concurrency = item.split("x", 1)
            plan.setdefault(int(nodes), []).append(int(concurrency))
    else:
        plan = {nodes: args.concurrency or ([1] if smoke else [1, 3]) for nodes in args.nodes or ([3] if smoke else [10, 50])}
    args.plan = plan
    # The smoke run keeps one 3-node test bed for all its parts: each other size would start the test bed again.
    args.drain_nodes = args.drain_nodes or (3 if smoke else 5)
    partial_plan = args.partial or ("3x2x1" if smoke else "100x10x2")
    args.partial = [tuple(int(part) for part in item.split("x")) for item in partial_plan.split(",")]
    args.reboot_delay = args.reboot_delay if args.reboot_delay is not None else (2.0 if smoke else 10.0)
    return args


def rerender(path: Path) -> int:
    """Prints the tables of a saved result again (adding phase times from kept roll-out reports if missing)."""
    import drain
    import lock
    import partial
    import rollout

    result = json.loads(path.read_text())
    tables = []
    if result.get("drain"):
        tables.append("### Drain\n\n" + drain.render(result["drain"]))
    for bench in result.get("rollout", []):
        for row in bench["rows"]:
            if not row.get("phases_median_s"):
                row["phases_median_s"] = rollout.phases(rollout.load_report(Path(row["log"])))
    if result.get("rollout"):
        tables.append("### Roll-out\n\n" + rollout.render(result["rollout"]))
    if result.get("lock"):
        tables.append("### Lock contention\n\n" + lock.render(result["lock"]))
    tables += ["### Partial roll-out\n\n" + partial.render(bench) for bench in result.get("partial", [])]
    result["tables"] = tables
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text("\n\n".join(tables) + "\n")
    print("\n\n".join(tables))
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--render"]:
        return rerender(Path(argv[1]))
    args = parse(argv)
    import drain
    import lock
    import partial
    import rollout

    started = time.monotonic()
    kured_left_out = rollout.KURED_SKIPPED if args.smoke else rollout.KURED_LEFT_OUT if args.no_kured else None
    args.work.mkdir(parents=True, exist_ok=True)
    testbed = Testbed(args.testbed_dir)
    was_up = testbed.load()
    size_before = len(testbed.info["nodes"]) if was_up else 0
    collections_root = lock.module_utils_root(args.work) if args.only == "lock" else staged_collections_root()
    result: dict[str, Any] = {
        "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": "smoke" if args.smoke else "full",
        "command": "benchmarks/run.sh " + " ".join(argv),
        "machine": machine(),
        "git_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                     capture_output=True, check=False).stdout.strip(),
        "kured": kured_left_out or (
            f"real kured peers (tests/testbed/kured.py), --period {rollout.KURED_PERIOD_S:g}s; the one-hour "
            f"default period is computed (rollout.kured_default_period)"),
        "drain": None,
        "rollout": [],
        "lock": None,
        "partial": [],
    }
    tables: list[str] = []
    try:
        workdir = Path(tempfile.mkdtemp(prefix="nodepatch-bench-", dir=args.work))
        log(f"work directory (playbook logs, reports): {workdir}")
        if args.only in (None, "drain"):
            testbed.ensure(args.drain_nodes)
            result["drain"] = drain.DrainBench(testbed, collections_root, workdir).run(
                args.pods, args.runs, save=lambda partial: save(args, result | {"drain": partial}, tables))
            result["testbed_versions"] = testbed.info.get("versions")
            tables.append("### Drain\n\n" + drain.render(result["drain"]))
            print(tables[-1] + "\n", flush=True)
            save(args, result, tables)
        if args.only in (None, "rollout"):
            rollout_tables = len(tables)
            for nodes, concurrencies in args.plan.items():
                testbed.ensure(nodes)
                bench = rollout.RolloutBench(testbed, collections_root, workdir, args.reboot_delay)
                result["rollout"].append(bench.run(concurrencies, kured_left_out=kured_left_out))
                result["testbed_versions"] = testbed.info.get("versions")
                del tables[rollout_tables:]
                tables.append("### Roll-out\n\n" + rollout.render(result["rollout"]))
                save(args, result, tables)
            print(tables[-1] + "\n", flush=True)
        if args.only == "lock" or (args.only is None and not args.smoke):
            if not testbed.load():
                testbed.ensure(args.drain_nodes)
            result["lock"] = lock.LockBench(testbed, collections_root).run(args.lock_workers, args.lock_rounds)
            result["testbed_versions"] = testbed.info.get("versions")
            tables.append("### Lock contention\n\n" + lock.render(result["lock"]))
            print(tables[-1] + "\n", flush=True)
            save(args, result, tables)
        elif args.smoke and args.only is None:
            log("lock contention: not in --smoke (10,400 rounds beside real kured peers take 15-30 min; "
                "benchmarks/run.sh --only lock)")
        if args.only in (None, "partial"):
            for nodes, needing, concurrency in args.partial:
                testbed.ensure(nodes)
                bench = partial.PartialBench(testbed, collections_root, workdir, args.reboot_delay)
                result["partial"].append(bench.run_partial(needing, concurrency, full=not args.smoke))
                tables.append("### Partial roll-out\n\n" + partial.render(result["partial"][-1]))
                save(args, result, tables)
                print(tables[-1] + "\n", flush=True)
    finally:
        if was_up and size_before:
            if not testbed.load() or len(testbed.info["nodes"]) != size_before:
                log(f"restoring the test bed in {testbed.state_dir} to {size_before} nodes")
                testbed.cli("down", check=False)
                testbed.cli("up", "--nodes", str(size_before), check=False)
        elif not args.keep_testbed:
            testbed.down()
    result["seconds"] = round(time.monotonic() - started, 1)
    result["complete"] = True
    path = save(args, result, tables)
    log(f"results: {path} ({result['seconds']} s)")
    return 0


def save(args: argparse.Namespace, result: dict[str, Any], tables: list[str]) -> Path:
    """Written after every part, so an interrupted run still leaves what it measured (complete: false)."""
    result = {"complete": False, **result, "tables": tables, "load_average_now": list(os.getloadavg())}
    args.out.mkdir(parents=True, exist_ok=True)
    name = "latest-smoke" if args.smoke else "latest"
    stamp = result["started_at"].replace(":", "").replace("-", "")
    text = json.dumps(result, indent=2) + "\n"
    (args.out / f"{name}.json").write_text(text)
    history = args.out / "history"
    history.mkdir(exist_ok=True)
    (history / f"{stamp}-{result['mode']}.json").write_text(text)
    (args.out / f"{name}.md").write_text("\n\n".join(tables) + "\n")
    return args.out / f"{name}.json"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
