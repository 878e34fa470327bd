# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files a module writes on the controller (the roll-out report): compared with what is there first, written
atomically only when the content differs, and shown in a diff as a content hash and size."""

from __future__ import annotations

import hashlib
import os
import tempfile

from ansible_collections.nodepatch.kube.plugins.module_utils.diff import DiffRecorder
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError


def fingerprint(content: bytes | None) -> str:
    if content is None:
        return "(absent)"
    return f"sha256:{hashlib.sha256(content).hexdigest()[:16]} ({len(content)} bytes)"


def read_current(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise NodepatchError(f"Cannot read the existing report {path}: {error.strerror}; check the path and its "
                             "permissions, or choose another path") from error


def write_atomically(path: str, content: bytes) -> None:
    """A temporary file in the same directory renamed over the target: a reader never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".rollout-report-", dir=directory)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    except OSError as error:
        raise NodepatchError(f"Cannot write the report {path}: {error.strerror}; check that the directory "
                             f"{directory} is writable by the user running the play") from error


def ensure_content(path: str, content: bytes, check_mode: bool, diff: DiffRecorder) -> bool:
    """Make ``path`` hold ``content``; True when it did not (or, in check mode, would change)."""
    current = read_current(path)
    if current == content:
        return False
    diff.record(path, fingerprint(current), fingerprint(content))
    if not check_mode:
        write_atomically(path, content)
    return True


def check_writable_directory(option: str, path: str) -> None:
    """ValueError naming ``option`` when the file cannot be written where it is asked for: checked before a
    change whose result would go there, so nothing is changed that cannot be recorded."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: {directory} is not a directory this user can write; give {option} a path in one")
