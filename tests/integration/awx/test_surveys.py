# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX survey specs in playbooks/awx/: generated from the roles' argument specs, never stale, and valid by the
rules AWX's survey_spec endpoint applies (awx/api/views: JobTemplateSurveySpec._validate_spec_data), plus the
bounds AWX checks answers against at launch, applied to the defaults."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SURVEYS = sorted((REPO / "playbooks" / "awx").glob("*.survey.json"))
ANSWER_TYPES: dict[str, tuple[type, ...]] = {
    "text": (str,), "textarea": (str,), "password": (str,), "multiplechoice": (str,), "multiselect": (str, list),
    "integer": (int,), "float": (float, int),
}


def awx_survey_errors(survey: Any) -> list[str]:
    """What AWX would refuse in a survey spec (an empty list when it would store it)."""
    errors = []
    for key, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(survey.get(key), kind):
            errors.append(f"{key}: missing or not a {kind.__name__}")
    if errors:
        return errors
    if not survey["spec"]:
        return ["spec: no questions"]
    seen = set()
    for index, item in enumerate(survey["spec"]):
        where = f"spec[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: not an object")
            continue
        for key, kind in (("type", str), ("question_name", str), ("variable", str), ("required", bool)):
            if not isinstance(item.get(key), kind):
                errors.append(f"{where}.{key}: missing or not a {kind.__name__}")
        if errors:
            continue
        where = f"{where} ({item['variable']})"
        if item["variable"] in seen:
            errors.append(f"{where}: variable asked twice")
        seen.add(item["variable"])
        qtype, default = item["type"], item.get("default", "")
        if qtype not in ANSWER_TYPES:
            errors.append(f"{where}: type {qtype} is not one of {sorted(ANSWER_TYPES)}")
            continue
        if default != "" and (not isinstance(default, ANSWER_TYPES[qtype]) or isinstance(default, bool)):
            errors.append(f"{where}: default {default!r} is not a {qtype} answer")
        for key in ("min", "max"):
            if item.get(key) is not None and (not isinstance(item[key], int) or isinstance(item[key], bool)):
                errors.append(f"{where}: {key} must be an integer or null")
        if isinstance(default, str) and default.startswith("$encrypted$"):
            errors.append(f"{where}: $encrypted$ is reserved for password defaults AWX stored")
        if qtype in ("multiplechoice", "multiselect"):
            choices = item.get("choices")
            choices = choices.splitlines() if isinstance(choices, str) else choices
            if not choices or not all(isinstance(choice, str) for choice in choices):
                errors.append(f"{where}: a {qtype} question needs choices")
                continue
            defaults = default.splitlines() if isinstance(default, str) else list(default)
            if qtype == "multiplechoice" and len(defaults) > 1:
                errors.append(f"{where}: a single choice has one default")
            if any(value not in choices for value in defaults):
                errors.append(f"{where}: default {defaults} not among the choices {choices}")
        low, high = (value if isinstance(value, int) else None for value in (item.get("min"), item.get("max")))
        measure = len(default) if qtype in ("text", "textarea", "password") else default
        if qtype in ("text", "textarea", "password", "integer", "float") and default != "":
            if (low is not None and measure < low) or (high is not None and measure > high):
                errors.append(f"{where}: default {default!r} outside the bounds {low}..{high}")
    return errors


def role_options() -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for spec_file in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        options.update(yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"])
    return options


def test_the_checked_in_surveys_are_what_the_argument_specs_give_today() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "awx_surveys.py"), "--check"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [path.name for path in SURVEYS] == ["aks_auto_upgrade.survey.json", "patch_and_reboot.survey.json"]


def test_a_changed_argument_spec_makes_the_check_fail(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    for part in ("tools", "playbooks", "roles"):
        shutil.copytree(REPO / part, copy / part)
    spec_file = copy / "roles" / "safe_reboot" / "meta" / "argument_specs.yml"
    spec_file.write_text(spec_file.read_text().replace("    default: 600\n", "    default: 900\n", 1))
    proc = subprocess.run([sys.executable, str(copy / "tools" / "awx_surveys.py"), "--check"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 1
    assert "playbooks/awx/patch_and_reboot.survey.json is out of date" in proc.stderr


@pytest.mark.parametrize("path", SURVEYS, ids=[path.stem for path in SURVEYS])
def test_each_survey_is_one_awx_accepts(path: Path) -> None:
    assert awx_survey_errors(json.loads(path.read_text())) == []


def test_the_validator_refuses_what_awx_refuses() -> None:
    good = {"type": "integer", "question_name": "n", "variable": "n", "required": True, "default": 2, "min": 1,
            "max": 3}
    assert awx_survey_errors({"name": "s", "description": "", "spec": [good]}) == []
    bad = [{**good, "default": 5}, {**good, "type": "boolean"}, {**good, "required": "yes"},
           {**good, "type": "multiplechoice", "default": "c", "choices": ["a", "b"]}, {**good, "min": "1"}]
    for item in bad:
        assert awx_survey_errors({"name": "s", "description": "", "spec": [item]}), item
    assert awx_survey_errors({"name": "s", "description": "", "spec": [good, good]})
    assert awx_survey_errors({"name": "s", "spec": [good]})


@pytest.mark.parametrize("path", SURVEYS, ids=[path.stem for path in SURVEYS])
def test_every_question_is_a_role_option_with_the_roles_default(path: Path) -> None:
    options = role_options()
    for item in json.loads(path.read_text())["spec"]:
        option = options[item["variable"]]
        default = option.get("default")
        if option["type"] == "bool":
            assert item["default"] == str(default).lower()
        elif option["type"] == "list":
            assert sorted(item["default"].splitlines()) == sorted(default)
        else:
            assert item["default"] == default, item["variable"]
        if option.get("choices"):
            assert item["choices"] == [str(choice) for choice in option["choices"]]
