# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller libraries' lower bounds, checked at import so an older one gets a message, not a traceback."""
from __future__ import annotations

import re


class UnsupportedLibraryError(ImportError):
    """The library imports, but its version is older than the collection supports."""

    unsupported_version = True


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: '36.0.0b1' -> (36, 0, 0)."""
    numbers = []
    for part in version.split(".")[:3]:
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        numbers.append(int(digits.group()))
    return tuple(numbers)


def unsupported_library(package: str, installed: str, minimum: tuple[int, ...]) -> UnsupportedLibraryError | None:
    if version_tuple(installed) >= minimum:
        return None
    required = ".".join(str(number) for number in minimum)
    return UnsupportedLibraryError(
        f"the Python library {package} {installed} is installed on the controller, nodepatch.kube needs "
        f"{package}>={required}: upgrade it in the Python that runs the modules (pip install '{package}>={required}')")
