# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad-input cases generated from a module's own argument spec, run as one playbook, checked per task.

- `module_spec(root, name)`: the argument spec and the AnsibleModule keywords (mutually_exclusive, ...) the module
  really builds: its main() runs up to NodepatchAnsibleModule(), which is replaced by a recorder.
- `generated_cases(...)`: for each option, a value of the wrong type, a negative number for numbers, a value
  outside `choices`; for suboptions the same inside their parent; a missing required option; each
  mutually_exclusive / required_together / required_one_of / required_if rule broken.
- `uncovered(...)`: the options no case names and no allow-list excuses, so a new option fails a test until it
  gets a case (or a reason it cannot be wrong).
- `run_cases(...)`: every case's module result, from one process that forks per case (module_forks.py), so
  two hundred cases cost seconds, not one Python start each.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secrets_scan import SESSION


@dataclass
class Case:
    """One bad input: the module's arguments, the options it is about, what its failure message must contain."""

    module: str
    what: str
    options: tuple[str, ...]
    args: dict[str, Any]
    expect: tuple[str, ...] = ()
    # A case that waits out the API client's retries (an unreachable server) runs beside the others.
    slow: bool = False
    # reboot_gate answers "blocked" (with the reason) when the API cannot answer, by design: that is the outcome.
    blocked: bool = False
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        self.expect = tuple(self.expect) or tuple(option.rsplit(".", 1)[-1] for option in self.options)


class _Recorded(Exception):
    pass


def module_spec(collections_root: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(argument_spec, other AnsibleModule keywords) exactly as the module passes them."""
    if str(collections_root) not in sys.path:
        sys.path.insert(0, str(collections_root))
    base = importlib.import_module("ansible_collections.nodepatch.kube.plugins.module_utils.base_module")
    module = importlib.import_module(f"ansible_collections.nodepatch.kube.plugins.modules.{name}")

    def record(argument_spec: dict[str, Any], **kwargs: Any) -> None:
        raise _Recorded(argument_spec, kwargs)

    real = base.NodepatchAnsibleModule
    base.NodepatchAnsibleModule = record
    try:
        module.main()
    except _Recorded as recorded:
        spec, kwargs = recorded.args
        return copy.deepcopy(spec), copy.deepcopy(kwargs)
    finally:
        base.NodepatchAnsibleModule = real
    raise AssertionError(f"{name}: main() never built its AnsibleModule")


# The wrong value for each type, and the word the failure must use for what is allowed.
WRONG_TYPE: dict[str, tuple[Any, str]] = {
    "int": ("twelve", "int"),
    "float": ("fast", "float"),
    "bool": ("perhaps", "bool"),
    "list": ({"not": "a list"}, "list"),
    # Numbers, not words: a no_log option's value is masked wherever it appears in the message.
    "dict": ([12345], "dict"),
}
WRONG_ELEMENT: dict[str, tuple[Any, str]] = {
    "dict": ("not-a-dict", "dict"),
    "int": ("twelve", "int"),
}
# No option of the collection takes a number below -1 (-1: "each pod's own grace period").
OUT_OF_RANGE = -2
NOT_A_CHOICE = "not-a-choice"


def _option_cases(module: str, path: tuple[str, ...], name: str, option: dict[str, Any], wrap: Any) -> list[Case]:
    """Cases for one option; ``wrap(value)`` builds the arguments that put ``value`` in this option's place."""
    label = ".".join((*path, name))
    kind = option.get("type", "str")
    cases: list[Case] = []
    if kind in WRONG_TYPE:
        value, word = WRONG_TYPE[kind]
        expect = (name, word)
        if kind == "dict" and option.get("options"):
            # ansible-core's own message for a dict with suboptions names no option ("dictionary requested,
            # could not parse JSON or key=value"): what it does say is asserted, and docs/reliability.md says so.
            value, expect = "not-a-mapping", ("dictionary requested",)
        cases.append(Case(module, f"{label}: not a {kind}", (label,), wrap(value), expect))
    if kind in ("int", "float"):
        cases.append(Case(module, f"{label}: {OUT_OF_RANGE} (out of range)", (label,), wrap(OUT_OF_RANGE), (name,)))
    elements = option.get("elements")
    if kind == "list" and elements in WRONG_ELEMENT and not option.get("options"):
        value, word = WRONG_ELEMENT[elements]
        cases.append(Case(module, f"{label}: an element that is not a {elements}", (label,), wrap([value]),
                          (name, word)))
    if option.get("choices"):
        bad = [NOT_A_CHOICE] if kind == "list" else NOT_A_CHOICE
        cases.append(Case(module, f"{label}: a value outside its choices", (label,), wrap(bad),
                          (name, *[str(choice) for choice in option["choices"]])))
    return cases


def generated_cases(module: str, spec: dict[str, Any], kwargs: dict[str, Any], base: dict[str, Any],
                    sub_bases: dict[str, dict[str, Any]] | None = None) -> list[Case]:
    """Every case the spec implies, each on top of ``base`` (arguments that are otherwise valid).

    Suboptions are walked at every depth. ``sub_bases`` gives a valid element for an option with suboptions, by
    its dotted name (notify's ``webhooks``: a URL), when the element needs required suboptions of its own.
    """
    return _level_cases(module, (), spec, kwargs, base, lambda level: level, sub_bases or {})


def _level_cases(module: str, path: tuple[str, ...], spec: dict[str, Any], rules: dict[str, Any],
                 level: dict[str, Any], build: Any, sub_bases: dict[str, dict[str, Any]]) -> list[Case]:
    """The cases of one level of options; ``level`` holds valid values at this level, ``build(level)`` makes the
    module's whole arguments from it."""
    cases: list[Case] = []
    for name, option in spec.items():
        label = ".".join((*path, name))
        cases += _option_cases(module, path, name, option, lambda value, name=name: build({**level, name: value}))
        if option.get("required") and "default" not in option:
            cases.append(Case(module, f"{label}: missing (required)", (label,),
                              build({k: v for k, v in level.items() if k != name}), (name, "required")))
        if option.get("options"):
            listed = option.get("type") == "list"
            # The options this one excludes leave the level while it is the one being tried.
            others = {other for group in rules.get("mutually_exclusive") or () if name in group for other in group}
            beside = {k: v for k, v in level.items() if k == name or k not in others}

            def child(element: dict[str, Any], name: str = name, listed: bool = listed,
                      beside: dict[str, Any] = beside) -> dict[str, Any]:
                return build({**beside, name: [element] if listed else element})

            cases += _level_cases(module, (*path, name), option["options"], option, dict(sub_bases.get(label, {})),
                                  child, sub_bases)
    cases += _rule_cases(module, path, spec, rules, level, build)
    return cases


def _sample(option: dict[str, Any]) -> Any:
    """A valid value of an option's type, to set an option a rule is about."""
    if option.get("choices"):
        return option["choices"][0] if option.get("type") != "list" else option["choices"][:1]
    return {"int": 1, "float": 1.0, "bool": True, "list": [], "dict": {}}.get(option.get("type", "str"), "x")


def _rule_cases(module: str, path: tuple[str, ...], spec: dict[str, Any], rules: dict[str, Any],
                level: dict[str, Any], build: Any) -> list[Case]:
    cases = []

    def labels(names: Any) -> tuple[str, ...]:
        return tuple(".".join((*path, name)) for name in names)

    def given(names: Any) -> dict[str, Any]:
        return {name: level.get(name, _sample(spec[name])) for name in names}

    def without(names: Any) -> dict[str, Any]:
        return {k: v for k, v in level.items() if k not in names}

    for group in rules.get("mutually_exclusive") or ():
        cases.append(Case(module, f"{' and '.join(labels(group))}: all given (mutually exclusive)", labels(group),
                          build({**level, **given(group)}), (*group, "mutually exclusive")))
    for group in rules.get("required_together") or ():
        cases.append(Case(module, f"{labels(group)[0]} without {', '.join(labels(group[1:]))} (required together)",
                          labels(group), build({**without(group), **given(group[:1])}), tuple(group)))
    for group in rules.get("required_one_of") or ():
        cases.append(Case(module, f"none of {', '.join(labels(group))} (one is required)", labels(group),
                          build(without(group)), tuple(group)))
    for rule in rules.get("required_if") or ():
        key, value, needed = rule[0], rule[1], rule[2]
        for missing in needed:
            cases.append(Case(module, f"{key}={value} without {missing}", labels([missing]),
                              build({**without([missing]), key: value}), (missing, key)))
    return cases


def option_names(spec: dict[str, Any], path: tuple[str, ...] = ()) -> set[str]:
    """Every option, suboptions at any depth as parent.sub."""
    names = set()
    for name, option in spec.items():
        names.add(".".join((*path, name)))
        names |= option_names(option.get("options") or {}, (*path, name))
    return names


def uncovered(spec: dict[str, Any], cases: list[Case], allowed: dict[str, str]) -> set[str]:
    covered = {option for case in cases for option in case.options}
    return option_names(spec) - covered - set(allowed)


# --------------------------------------------------------------------------------------------------- running them

FORKS = Path(__file__).resolve().parent / "module_forks.py"


def run_cases(cases: list[Case], collections_root: Path, workdir: Path,
              env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every case's module result, by case key: one Python process that forks per case (module_forks.py)."""
    for index, case in enumerate(cases):
        case.key = case.key or f"case_{index:04d}"
    cases_file, results_file = workdir / "cases.json", workdir / "results.json"
    cases_file.write_text(json.dumps([{"key": c.key, "module": c.module, "args": c.args, "slow": c.slow}
                                      for c in cases]))
    proc = subprocess.run([sys.executable, str(FORKS), str(cases_file), str(results_file)], capture_output=True,
                          text=True, cwd=workdir, check=False,
                          env={**os.environ, **(env or {}), "PYTHONPATH": str(collections_root)})
    assert proc.returncode == 0, f"module_forks.py failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    SESSION.add_output(f"module_forks.py, {len(cases)} module results",
                       results_file.read_text() + proc.stdout + proc.stderr)
    results = json.loads(results_file.read_text())
    return {case.key: results[case.key] for case in cases}


def failures(cases: list[Case], results: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong with each case's outcome: it did not fail, or its message lacks what it must name."""
    problems = []
    for case in cases:
        result = results[case.key]
        message = str(result.get("msg", ""))
        if case.blocked:
            reasons = " ".join(map(str, result.get("reasons") or []))
            missing = [word for word in case.expect if word.lower() not in reasons.lower()]
            if result.get("failed") or result.get("blocked") is not True or missing:
                problems.append(f"{case.module}: {case.what}: not blocked with a reason naming {case.expect}: "
                                f"{json.dumps(result)[:400]}")
            continue
        if not result.get("failed"):
            problems.append(f"{case.module}: {case.what}: did not fail (args {case.args}); result: "
                            f"{json.dumps(result)[:300]}")
            continue
        if result.get("crashed") or "Traceback" in json.dumps(result):
            problems.append(f"{case.module}: {case.what}: crashed instead of refusing: {message[:300]} "
                            f"{str(result.get('module_stderr', ''))[-300:]}")
            continue
        missing = [word for word in case.expect if word.lower() not in message.lower()]
        if missing:
            problems.append(f"{case.module}: {case.what}: the message does not name {missing}: {message[:400]}")
    return problems


def counts(cases: list[Case]) -> dict[str, int]:
    found: dict[str, int] = {}
    for case in cases:
        found[case.module] = found.get(case.module, 0) + 1
    return found
