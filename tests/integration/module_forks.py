# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs many module invocations cheaply: imports each module once, then forks one child per invocation.

    python module_forks.py CASES.json RESULTS.json     (PYTHONPATH: the staged collections root)

CASES.json: [{"key", "module", "args", "slow"}]. Each child gets its arguments the way AnsiballZ hands them over
(ansible.module_utils.basic._ANSIBLE_ARGS, profile legacy), runs the module's real main() and prints its JSON; RESULTS.json maps
each key to that JSON (or to {"failed": true, "crashed": ...} when there was none). Slow invocations (waiting out
retries) are forked first and left running while the others go one by one.

Why not one playbook task per case: a task costs ansible-playbook's per-task work plus a new Python that imports
ansible and the kubernetes client (0.8 s idle, 4 s at load 12: 220 cases took 15 min); a fork costs milliseconds.
The modules have no action plugins, so the module process is all a task would run.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import sys
import time
from typing import Any

TIMEOUT = 120.0


def warm(modules: set[str]) -> None:
    """Everything a child would import, imported once here (the models a child deserializes load on first use)."""
    for name in sorted(modules):
        importlib.import_module(f"ansible_collections.nodepatch.kube.plugins.modules.{name}")


def start(case: dict[str, Any]) -> tuple[int, int]:
    """Forks a child running the module; returns (pid, read end of its output pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    os.close(read_end)
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    code = 1
    try:
        from ansible.module_utils import basic

        # What AnsiballZ hands over, with the profile ansible-playbook uses for modules of this kind.
        args = {**case["args"], "_ansible_module_name": f"nodepatch.kube.{case['module']}"}
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()  # pylint: disable=protected-access
        basic._ANSIBLE_PROFILE = "legacy"  # pylint: disable=protected-access
        module = importlib.import_module(f"ansible_collections.nodepatch.kube.plugins.modules.{case['module']}")
        module.main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:  # pylint: disable=broad-exception-caught
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def collect(pid: int, read_end: int, timeout: float, started: float) -> dict[str, Any]:
    """The child's JSON, with `_seconds`: how long it ran (the slow cases count from their start)."""
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            break
        ready, _w, _x = select.select([read_end], [], [], left)
        if not ready:
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _pid, status = os.waitpid(pid, 0)
    output = b"".join(chunks).decode("utf-8", "replace")
    result = last_json(output)
    if result is None:
        result = {"failed": True, "crashed": True, "msg": f"no JSON (wait status {status}): {output[-2000:]}"}
    result["_seconds"] = round(time.monotonic() - started, 3)
    return result


def last_json(text: str) -> dict[str, Any] | None:
    start_at = text.find("{")
    while start_at != -1:
        try:
            value = json.loads(text[start_at:])
        except ValueError:
            start_at = text.find("{", start_at + 1)
            continue
        return value if isinstance(value, dict) else None
    return None


def main() -> None:
    cases = json.loads(open(sys.argv[1], encoding="utf-8").read())
    warm({case["module"] for case in cases})
    results: dict[str, Any] = {}
    background = [(case, time.monotonic(), *start(case)) for case in cases if case.get("slow")]
    for case in cases:
        if not case.get("slow"):
            started = time.monotonic()
            results[case["key"]] = collect(*start(case), TIMEOUT, started)
    for case, started, pid, read_end in background:
        results[case["key"]] = collect(pid, read_end, TIMEOUT, started)
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(results, out)


if __name__ == "__main__":
    main()
