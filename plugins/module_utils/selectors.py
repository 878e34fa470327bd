# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label selectors evaluated locally: which PodDisruptionBudget covers a pod."""

from __future__ import annotations

import typing as t


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
