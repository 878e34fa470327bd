# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.nodepatch.kube.plugins.module_utils.text_table import text_table as render_table


def text_table(rows: t.Any, columns: t.Any, max_width: int = 60) -> str:
    try:
        return render_table(rows, columns, max_width)
    except ValueError as error:
        raise AnsibleFilterError(str(error)) from error


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"text_table": text_table}
