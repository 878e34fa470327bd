# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nodepatch.kube.plugins.filter.text_table import text_table

COLUMNS = [["host", "HOST"], ["needed", "NEEDED"], ["reasons", "WHY"]]


def test_columns_are_aligned_under_their_headers() -> None:
    table = text_table([
        {"host": "aks-nodepool1-0", "needed": True, "reasons": ["file: exists", "kernel: newer"]},
        {"host": "n2", "needed": False, "reasons": []},
    ], COLUMNS)
    lines = table.splitlines()
    assert lines[0] == "HOST             NEEDED  WHY"
    assert lines[1] == "---------------  ------  ---------------------------"
    assert lines[2] == "aks-nodepool1-0  yes     file: exists; kernel: newer"
    assert lines[3] == "n2               no      -"


def test_missing_keys_print_as_dash_and_long_cells_are_clipped() -> None:
    table = text_table([{"host": "x" * 80}], COLUMNS, max_width=10)
    assert table.splitlines()[2] == "xxxxxxxxx…  -       -"


def test_rows_must_be_dictionaries() -> None:
    with pytest.raises(AnsibleFilterError, match="list of dictionaries"):
        text_table(["n1"], COLUMNS)
