# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the API server accepts as an object name, a label or annotation key and a label value: checked before a
write, so a value it would refuse (422) fails naming the option instead of reaching it."""

from __future__ import annotations

import re
import typing as t

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
KEY_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
KEY_RULE = ("an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit")
VALUE_RULE = "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, or empty"


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a label or annotation key (prefix/name), or None."""
    prefix, _slash, name = key.rpartition("/")
    if "/" in prefix or (_slash and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix))):
        return f"the prefix {prefix!r} is not a DNS subdomain"
    if not name or len(name) > 63 or not KEY_NAME.match(name):
        return f"the name {name!r} is not " + KEY_RULE.split(", then ", 1)[1]
    return None


def check_keys(option: str, values: t.Mapping[str, t.Any], label_values: bool = False) -> None:
    """ValueError naming ``option`` for the first key (and, for labels, value) the API server would refuse."""
    for key, value in values.items():
        problem = key_problem(str(key))
        if problem:
            raise ValueError(f"{option}: {key!r} is not a valid key ({problem}); a key is {KEY_RULE}")
        if label_values and value is not None and (len(str(value)) > 63 or not LABEL_VALUE.match(str(value))):
            raise ValueError(f"{option}: the value {value!r} of {key} is not a valid label value; a label value is "
                             f"{VALUE_RULE}")


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(DNS_LABEL.match(name))
