# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes an AWX survey spec per playbook (playbooks/awx/<playbook>.survey.json) from the questions in
playbooks/awx/questions.yml and the argument specs of the roles each playbook runs. AWX does not read role
argument specs itself, so without this the survey and the roles drift apart.

    python tools/awx_surveys.py          # write the files
    python tools/awx_surveys.py --check  # exit 1 when a checked-in file differs from what would be written
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "playbooks" / "awx" / "questions.yml"
NAMESPACE = "nodepatch.kube."

# Lengths AWX's own survey editor proposes for a text answer.
TEXT_MIN, TEXT_MAX = 0, 1024


class SurveyError(Exception):
    pass


def roles_of(playbook: Path) -> list[str]:
    """The collection's roles a playbook runs (roles: and include_role/import_role tasks), in order."""
    found: list[str] = []

    def visit(node: Any) -> Iterator[str]:
        if isinstance(node, list):
            for item in node:
                yield from visit(item)
        elif isinstance(node, Mapping):
            for key, value in node.items():
                if key == "roles":
                    for role in value:
                        yield role["role"] if isinstance(role, Mapping) else role
                elif key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                    yield value["name"]
                else:
                    yield from visit(value)

    for name in visit(yaml.safe_load(playbook.read_text())):
        if name.startswith(NAMESPACE) and name[len(NAMESPACE):] not in found:
            found.append(name[len(NAMESPACE):])
    return found


def options_of(roles: list[str]) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for role in roles:
        spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
        options.update(spec["argument_specs"]["main"].get("options", {}))
    return options


def plain(text: Any) -> str:
    """A description as one line of plain text: list items joined, ansible-doc markup (C(x), V(x), O(x)) unwrapped."""
    joined = " ".join(text) if isinstance(text, list) else str(text)
    return re.sub(r"\b[CVOIMBE]\(([^)]*)\)", r"\1", joined)


def question(playbook: str, entry: Mapping[str, Any], option: Mapping[str, Any]) -> dict[str, Any]:
    variable = entry["variable"]
    kind = option.get("type", "str")
    default = option.get("default")
    where = f"{playbook}: {variable}"
    item: dict[str, Any] = {
        "question_name": entry["question"],
        "question_description": plain(option.get("description", "")),
        "variable": variable,
        "required": bool(option.get("required", False)) or default is not None,
    }
    if kind == "bool":
        # AWX has no yes/no question; the answer arrives as the string "true" or "false", which the roles read
        # with the bool filter.
        item.update(type="multiplechoice", choices=["false", "true"], default=str(bool(default)).lower(),
                    min=None, max=None)
    elif kind == "int":
        if "min" not in entry or "max" not in entry:
            raise SurveyError(f"{where}: an integer question needs min and max in {QUESTIONS.name}")
        if not entry["min"] <= default <= entry["max"]:
            raise SurveyError(f"{where}: default {default} outside {entry['min']}..{entry['max']}")
        item.update(type="integer", choices="", default=default, min=entry["min"], max=entry["max"])
    elif kind == "str" and option.get("choices"):
        item.update(type="multiplechoice", choices=[str(c) for c in option["choices"]], default=str(default),
                    min=None, max=None)
    elif kind == "str":
        item.update(type="text", choices="", default="" if default is None else str(default),
                    min=entry.get("min", TEXT_MIN), max=entry.get("max", TEXT_MAX))
    elif kind == "list" and option.get("elements") == "str":
        choices = [str(c) for c in (option.get("choices") or entry.get("choices") or [])]
        if not choices:
            raise SurveyError(f"{where}: a list question needs choices (in the spec or in {QUESTIONS.name})")
        unknown = [value for value in default or [] if value not in choices]
        if unknown:
            raise SurveyError(f"{where}: defaults {unknown} are not among the choices {choices}")
        # AWX keeps a multiselect default as newline-separated text, in the order of the choices.
        item.update(type="multiselect", choices=choices,
                    default="\n".join(choice for choice in choices if choice in (default or [])), min=None, max=None)
    else:
        raise SurveyError(f"{where}: a {kind} option cannot be a survey question; set it in the job template")
    return item


def survey(playbook: str, config: Mapping[str, Any]) -> dict[str, Any]:
    roles = roles_of(REPO / "playbooks" / f"{playbook}.yml")
    options = options_of(roles)
    spec = []
    for entry in config["questions"]:
        if entry["variable"] not in options:
            raise SurveyError(f"{playbook}: {entry['variable']} is not an option of the roles it runs {roles}")
        spec.append(question(playbook, entry, options[entry["variable"]]))
    return {"name": config["name"], "description": " ".join(config["description"].split()), "spec": spec}


def rendered() -> dict[Path, str]:
    config = yaml.safe_load(QUESTIONS.read_text())
    return {QUESTIONS.parent / f"{playbook}.survey.json": json.dumps(survey(playbook, entry), indent=2) + "\n"
            for playbook, entry in config.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    try:
        files = rendered()
    except SurveyError as err:
        print(f"awx_surveys: {err}", file=sys.stderr)
        return 2
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(REPO)} is out of date: run python tools/awx_surveys.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path])
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
