# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rows as a plain-text table aligned in columns, shared by the filter and the report module."""

from __future__ import annotations

import typing as t


def cell_text(value: t.Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "; ".join(cell_text(item) for item in value) or "-"
    return str(value).replace("\n", " ")


def text_table(rows: t.Sequence[t.Mapping[str, t.Any]], columns: t.Sequence[t.Sequence[str]],
               max_width: int = 60) -> str:
    """Rows as a plain-text table aligned in columns; ``columns`` is a list of ``[key, header]`` pairs."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(row, t.Mapping) for row in rows):
        raise ValueError("text_table: rows must be a list of dictionaries")
    try:
        keys = [str(key) for key, _header in columns]
        headers = [str(header) for _key, header in columns]
    except (TypeError, ValueError) as error:
        raise ValueError("text_table: columns must be a list of [key, header] pairs") from error
    body = [[_clip(cell_text(row.get(key)), max_width) for key in keys] for row in rows]
    widths = [max(len(line[index]) for line in [headers] + body) for index in range(len(keys))]
    lines = [headers, ["-" * width for width in widths]] + body
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def _clip(text: str, max_width: int) -> str:
    return text if len(text) <= max_width else text[: max_width - 1] + "…"
