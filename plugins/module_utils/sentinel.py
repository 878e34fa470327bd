# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does this node need a reboot? Runs on the node: standard library only, Python 3.9+."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import typing as t
from dataclasses import dataclass, field

DETECTORS = ("file", "command", "needs_restarting", "kernel")
DEFAULT_KERNEL_DIRS = ("/boot", "/lib/modules")
# Where dnf-utils / yum-utils install needs-restarting, for targets whose PATH is minimal (cron, sudo secure_path).
NEEDS_RESTARTING_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin")
# Debian and Ubuntu are the systems whose package hooks write /var/run/reboot-required.
DEBIAN_MARKER = "/etc/debian_version"
KERNEL_IMAGE_PREFIXES = ("vmlinuz-", "vmlinux-", "Image-")
PRERELEASE_TAGS = ("rc", "pre", "alpha", "beta")


class SentinelError(Exception):
    """A detector could not give an answer; never to be read as "reboot required"."""


@dataclass
class DetectorResult:
    name: str
    reboot_required: bool
    reason: str | None = None
    details: dict[str, t.Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, t.Any]:
        return {"reboot_required": self.reboot_required, "reason": self.reason, **self.details}


@dataclass
class RebootStatus:
    reboot_required: bool
    reasons: list[str]
    packages: list[str]
    running_kernel: str
    latest_kernel: str | None
    detectors: dict[str, dict[str, t.Any]]


def kernel_sort_key(release: str) -> list[tuple[int, t.Any]]:
    """Order kernel releases the way their versions mean, not as strings.

    ``5.15.0-1039-azure`` > ``5.15.0-1037-azure``; ``6.1.0-10`` > ``6.1.0-9``; ``6.1.0-rc3`` < ``6.1.0``.
    Numbers compare as numbers; pre-release tags sort below the end of a version, other words above it.
    """
    key: list[tuple[int, t.Any]] = []
    for token in re.findall(r"\d+|[A-Za-z]+", release):
        if token.isdigit():
            key.append((2, int(token)))
        elif token.lower() in PRERELEASE_TAGS:
            key.append((0, token.lower()))
        else:
            key.append((1, token.lower()))
    key.append((1, ""))
    return key


def installed_kernels(kernel_dirs: t.Sequence[str] = DEFAULT_KERNEL_DIRS) -> list[str]:
    """Kernel releases found as /boot images or /lib/modules directories (rescue images excluded)."""
    releases: set[str] = set()
    for directory in kernel_dirs:
        try:
            entries = os.listdir(directory)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise SentinelError(f"cannot list kernels in {directory}: {error.strerror}") from error
        for entry in entries:
            if "rescue" in entry:
                continue
            release = _release_from_entry(directory, entry)
            if release:
                releases.add(release)
    return sorted(releases, key=kernel_sort_key)


def _release_from_entry(directory: str, entry: str) -> str | None:
    for prefix in KERNEL_IMAGE_PREFIXES:
        if entry.startswith(prefix) and len(entry) > len(prefix):
            return entry[len(prefix):]
    if os.path.basename(directory.rstrip("/")) == "modules" and os.path.isdir(os.path.join(directory, entry)):
        return entry
    return None


def read_packages(sentinel_file: str) -> list[str]:
    """Packages listed in ``<sentinel>.pkgs``: de-duplicated, first occurrence order kept."""
    path = sentinel_file + ".pkgs"
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = [line.strip() for line in handle]
    except FileNotFoundError:
        return []
    except OSError as error:
        raise SentinelError(f"cannot read {path}: {error.strerror}") from error
    return list(dict.fromkeys(line for line in lines if line))


def check_file(sentinel_file: str) -> DetectorResult:
    try:
        mode = os.stat(sentinel_file).st_mode
    except FileNotFoundError:
        return DetectorResult("file", False, details={"path": sentinel_file, "packages": []})
    except OSError as error:
        raise SentinelError(f"cannot check sentinel_file {sentinel_file}: {error.strerror}") from error
    if stat.S_ISDIR(mode):
        raise SentinelError(f"sentinel_file {sentinel_file} is a directory; give the path of the sentinel file itself")
    if not os.access(sentinel_file, os.R_OK):
        raise SentinelError(f"sentinel_file {sentinel_file} exists but cannot be read by this user; "
                            "run with become or fix its permissions")
    packages = read_packages(sentinel_file)
    reason = f"file: {sentinel_file} exists"
    if packages:
        reason += f" (packages: {', '.join(packages)})"
    return DetectorResult("file", True, reason, {"path": sentinel_file, "packages": packages})


def run_probe(argv: t.Sequence[str], timeout: float, required_rc: int, not_required_rc: int,
              detector: str, option: str | None = None) -> DetectorResult:
    """Run a probe command whose exit code answers; any other outcome is an error, never "reboot required".

    ``option`` names the module option the command came from, for a command that cannot run."""
    command = " ".join(shlex.quote(arg) for arg in argv)
    check = f" (check {option})" if option else ""
    try:
        completed = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as error:
        raise SentinelError(f"{detector}: cannot execute {command}: {error.strerror}{check}") from error
    except PermissionError as error:
        raise SentinelError(f"{detector}: cannot execute {command}: {error.strerror}{check}") from error
    except subprocess.TimeoutExpired as error:
        raise SentinelError(f"{detector}: {command} did not finish within {timeout:g} s") from error
    details = {"command": list(argv), "rc": completed.returncode}
    if completed.returncode == required_rc:
        return DetectorResult(detector, True, f"{detector}: {command} exited {completed.returncode} (reboot required)",
                              details)
    if completed.returncode == not_required_rc:
        return DetectorResult(detector, False, details=details)
    stderr = completed.stderr.strip() or "(empty)"
    raise SentinelError(
        f"{detector}: {command} exited {completed.returncode}, expected {required_rc} (reboot required) or "
        f"{not_required_rc} (not required); stderr: {stderr[-500:]}")


def find_needs_restarting() -> str | None:
    found = shutil.which("needs-restarting")
    if found:
        return found
    for directory in NEEDS_RESTARTING_DIRS:
        candidate = os.path.join(directory, "needs-restarting")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def check_kernel(running: str, kernel_dirs: t.Sequence[str]) -> DetectorResult:
    kernels = installed_kernels(kernel_dirs)
    if not kernels:
        raise SentinelError(f"kernel: no installed kernel found in {', '.join(kernel_dirs)}")
    latest = kernels[-1]
    details = {"running": running, "latest": latest, "installed": kernels}
    if kernel_sort_key(latest) > kernel_sort_key(running):
        return DetectorResult("kernel", True, f"kernel: running {running}, newer {latest} is installed", details)
    return DetectorResult("kernel", False, details=details)


def plan_detectors(requested: t.Sequence[str], sentinel_command: t.Sequence[str] | None,
                   needs_restarting: str | None, debian_like: bool, sentinel_present: bool) -> list[str]:
    """Turn ``auto`` into the detectors that apply on this node."""
    if list(requested) != ["auto"]:
        return list(dict.fromkeys(requested))
    plan = ["file"]
    if sentinel_command:
        plan.append("command")
    if needs_restarting:
        plan.append("needs_restarting")
    if not needs_restarting and not (debian_like or sentinel_present):
        plan.append("kernel")
    return plan


def detect(requested: t.Sequence[str] = ("auto",), sentinel_file: str = "/var/run/reboot-required",
           sentinel_command: t.Sequence[str] | None = None, command_timeout: float = 30,
           kernel_dirs: t.Sequence[str] = DEFAULT_KERNEL_DIRS, running_kernel: str | None = None) -> RebootStatus:
    validate_request(requested, sentinel_file, sentinel_command, command_timeout)
    running = running_kernel or os.uname().release
    needs_restarting = find_needs_restarting()
    plan = plan_detectors(requested, sentinel_command, needs_restarting,
                          os.path.exists(DEBIAN_MARKER), os.path.lexists(sentinel_file))
    results: list[DetectorResult] = []
    for name in plan:
        if name == "file":
            results.append(check_file(sentinel_file))
        elif name == "command":
            results.append(run_probe(sentinel_command or [], command_timeout, 0, 1, "command", "sentinel_command"))
        elif name == "needs_restarting":
            if not needs_restarting:
                raise SentinelError("needs_restarting: needs-restarting is not installed "
                                    "(dnf-utils / yum-utils provide it); remove it from detectors or install it")
            results.append(run_probe([needs_restarting, "-r"], command_timeout, 1, 0, "needs_restarting"))
        else:
            results.append(check_kernel(running, kernel_dirs))
    packages: list[str] = []
    latest: str | None = None
    for result in results:
        packages.extend(result.details.get("packages", []))
        latest = result.details.get("latest", latest)
    if latest is None:
        kernels = installed_kernels(kernel_dirs)
        latest = kernels[-1] if kernels else None
    return RebootStatus(
        reboot_required=any(result.reboot_required for result in results),
        reasons=[result.reason for result in results if result.reboot_required and result.reason],
        packages=list(dict.fromkeys(packages)),
        running_kernel=running,
        latest_kernel=latest,
        detectors={result.name: result.as_dict() for result in results},
    )


def validate_request(requested: t.Sequence[str], sentinel_file: str, sentinel_command: t.Sequence[str] | None,
                     command_timeout: float) -> None:
    if not requested:
        raise SentinelError("detectors is empty; give 'auto' or some of: " + ", ".join(DETECTORS))
    if "auto" in requested and len(requested) > 1:
        raise SentinelError("detectors: 'auto' cannot be combined with named detectors")
    unknown = [name for name in requested if name != "auto" and name not in DETECTORS]
    if unknown:
        raise SentinelError(f"detectors: unknown {', '.join(unknown)}; allowed: auto, {', '.join(DETECTORS)}")
    if not sentinel_file:
        raise SentinelError("sentinel_file is empty; give the path of the sentinel file")
    if sentinel_command is not None and (not sentinel_command or not all(sentinel_command)):
        raise SentinelError("sentinel_command must be a non-empty list of arguments (argv, not a shell string), "
                            "e.g. ['/usr/local/bin/check-reboot', '--quiet']")
    if "command" in requested and not sentinel_command:
        raise SentinelError("detectors includes 'command' but sentinel_command is not set")
    if command_timeout <= 0:
        raise SentinelError(f"sentinel_command_timeout must be greater than 0, got {command_timeout:g}")


def boot_id() -> str | None:
    return _read_first_line("/proc/sys/kernel/random/boot_id")


def uptime_seconds() -> float | None:
    line = _read_first_line("/proc/uptime")
    return float(line.split()[0]) if line else None


def _read_first_line(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.readline().strip() or None
    except OSError:
        return None
