# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label selectors evaluated locally (which PodDisruptionBudget covers a pod), and selector strings checked
before they are sent."""

from __future__ import annotations

import re
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.k8s_names import key_problem


def selector_matches(selector: t.Any, labels: t.Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against labels; an empty selector matches everything,
    as the PodDisruptionBudget API defines it for policy/v1."""
    if selector is None:
        return False
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.match_expressions or []:
        present = expression.key in labels
        values = expression.values or []
        operator = expression.operator
        if operator == "In" and not (present and labels[expression.key] in values):
            return False
        if operator == "NotIn" and present and labels[expression.key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


# One requirement of a label selector string, as the API server parses it: key, !key, key=value, key==value,
# key!=value, key in (v, ...), key notin (v, ...).
_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[A-Za-z0-9]?(?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_REQUIREMENT = re.compile(
    rf"^\s*(?:!\s*{_KEY}|{_KEY}\s*(?:(?:==|!=|=)\s*{_VALUE}|\s(?:in|notin)\s*\(\s*{_VALUE}(?:\s*,\s*{_VALUE})*\s*\))?)\s*$")
SELECTOR_FORMS = "key, !key, key=value, key!=value, key in (a,b), key notin (a,b), joined by commas"


def split_requirements(selector: str) -> list[str]:
    """The comma-separated requirements, commas inside `in (...)` lists kept."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def check_selector(option: str, selector: str | None) -> None:
    """ValueError naming ``option`` when the API server would refuse ``selector`` (400), before it is sent."""
    if not selector or not selector.strip():
        return
    for requirement in split_requirements(selector):
        if not _REQUIREMENT.match(requirement) or (key_problem(_key_of(requirement)) is not None):
            raise ValueError(f"{option}: {selector!r} is not a label selector ({requirement.strip()!r} is not one "
                             f"of: {SELECTOR_FORMS})")


def _key_of(requirement: str) -> str:
    return re.split(r"\s|!=|==|=|\(", requirement.strip().lstrip("!").strip(), maxsplit=1)[0]
