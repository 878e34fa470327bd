# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real apt for one simulated node: its own dpkg database and a local repository with the next kernel.

`testbed updates NODE apt` builds, under <state>/nodes/<node>/apt/:

    dpkg/      the node's dpkg database (mounted on /var/lib/dpkg in its environment): one package installed,
               linux-image-azure at the version of the kernel the node has
    repo/      a flat repository (dpkg-deb + dpkg-scanpackages, no network) with linux-image-azure at the next
               kernel's version; it installs no files, and its postinst does what Ubuntu's kernel packages have
               update-notifier do: /var/run/reboot-required and .pkgs, plus the test bed's note of the kernel to boot
    sources.list.d/nodepatch.list   `deb [trusted=yes] file:<repo> ./`

In that node's environment the nsenter shim then lifts the apt-get shim, so apt-get, dpkg and libapt (python3-apt,
ansible.builtin.apt) run for real against the node's files only; this machine's package database is never read
or written. unattended-upgrade, dnf and tdnf stay simulated.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from node_state import NodeState, kernel_packages

PACKAGE = "linux-image-azure"
MAINTAINER = "nodepatch test bed <testbed@nodepatch.invalid>"
# Marks a dpkg database as a node's: the apt-get shim runs the real apt-get only where it finds this file.
MARKER = "nodepatch-testbed-node"


def package_version(kernel: str) -> str:
    """5.15.0-1052-azure -> 5.15.0.1052, as Ubuntu versions its linux-image-azure meta package."""
    release, abi = kernel.split("-")[:2]
    return f"{release}.{abi}"


def control(version: str) -> str:
    return (f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\nMaintainer: {MAINTAINER}\n"
            "Section: kernel\nPriority: optional\n"
            "Description: kernel-like package of the nodepatch test bed\n"
            " Installs no files; its postinst asks for a reboot as Ubuntu's kernel packages do.\n")


def postinst(kernel: str) -> str:
    image = kernel_packages(kernel)[0]
    return f"""#!/bin/sh
set -e
# As Ubuntu's update-notifier hook does after a kernel upgrade.
echo "*** System restart required ***" > /var/run/reboot-required
grep -qx "{image}" /var/run/reboot-required.pkgs 2>/dev/null || echo "{image}" >> /var/run/reboot-required.pkgs
# The test bed's note: the node's next simulated reboot boots this kernel.
. /run/nodepatch-testbed.env
echo "{kernel}" > "$NODEPATCH_TESTBED_DIR/nodes/$NODEPATCH_TESTBED_NODE/kernel-installed"
"""


def teardown(state: NodeState) -> None:
    """Back to the simulated package managers (what `testbed updates NODE kernel|none` leaves)."""
    apt = state.root / "apt"
    for directory in (apt / "dpkg", apt / "repo", apt / "lib" / "lists", apt / "cache"):
        shutil.rmtree(directory, ignore_errors=True)
    (apt / "sources.list.d" / "nodepatch.list").unlink(missing_ok=True)
    sandbox_partials(apt)


def sandbox_partials(apt: Path) -> None:
    """apt downloads as its sandbox user `_apt`: the partial directories must exist and be its own."""
    partials = (apt / "lib" / "lists" / "partial", apt / "cache" / "archives" / "partial")
    for partial in partials:
        partial.mkdir(parents=True, exist_ok=True)
    try:
        sandbox = pwd.getpwnam("_apt")
    except KeyError:
        return
    for partial in partials:
        shutil.chown(partial, user=sandbox.pw_uid)


def release(repo: Path, files: tuple[str, ...]) -> str:
    """A flat repository's Release file (unsigned: the source is [trusted=yes]), so apt finds its index at once."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S UTC")
    sums = "".join(f" {hashlib.sha256((repo / name).read_bytes()).hexdigest()} {(repo / name).stat().st_size} {name}\n"
                   for name in files)
    return f"Origin: nodepatch-testbed\nLabel: nodepatch-testbed\nSuite: stable\nDate: {date}\nSHA256:\n{sums}"


def setup(state: NodeState) -> str:
    """Builds the node's dpkg database and repository; returns the kernel version the repository offers."""
    for tool in ("dpkg-deb", "dpkg-scanpackages"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing; run tests/testbed/install-deps.sh")
    apt = state.root / "apt"
    offered = state.offer_kernel()
    dpkg, repo, build = apt / "dpkg", apt / "repo", apt / "build"
    for directory in (dpkg, repo, build):
        shutil.rmtree(directory, ignore_errors=True)
    for sub in ("info", "updates", "triggers", "alternatives"):
        (dpkg / sub).mkdir(parents=True)
    installed = control(package_version(state.newest_kernel())).replace(
        "Architecture:", "Status: install ok installed\nArchitecture:")
    (dpkg / "status").write_text(installed + "\n")
    (dpkg / "info" / f"{PACKAGE}.list").touch()
    (dpkg / MARKER).write_text(state.node + "\n")
    (apt / "log").mkdir(exist_ok=True)
    (apt / "dpkg.log").touch()

    (build / "DEBIAN").mkdir(parents=True)
    (build / "DEBIAN" / "control").write_text(control(package_version(offered)))
    (build / "DEBIAN" / "postinst").write_text(postinst(offered))
    (build / "DEBIAN" / "postinst").chmod(0o755)
    repo.mkdir()
    deb = repo / f"{PACKAGE}_{package_version(offered)}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(build), str(deb)], check=True,
                   capture_output=True)
    packages = subprocess.run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], cwd=repo, check=True,
                              capture_output=True, text=True).stdout
    (repo / "Packages").write_text(packages)
    (repo / "Packages.gz").write_bytes(gzip.compress(packages.encode(), mtime=0))
    (repo / "Release").write_text(release(repo, ("Packages", "Packages.gz")))
    shutil.rmtree(build)
    (apt / "sources.list.d" / "nodepatch.list").write_text(f"deb [trusted=yes] file:{repo} ./\n")
    sandbox_partials(apt)
    # The node's package lists predate the new kernel (its last `apt-get update` ran before the package was
    # published): without this, apt's cache_valid_time (os_patch asks for 3600 s) would trust the empty lists.
    stale = time.time() - 2 * 86400
    os.utime(apt / "lib" / "lists", (stale, stale))
    (apt / "lib" / "periodic" / "update-success-stamp").unlink(missing_ok=True)
    return offered
