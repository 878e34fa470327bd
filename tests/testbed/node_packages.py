# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Package managers of a simulated node: apt-get, unattended-upgrade, dnf, tdnf (run by tests/testbed/shims).

Each call is recorded in <state>/nodes/<node>/packages.jsonl. The only update a node ever has is a newer
kernel: one is available when the test bed starts, `testbed kernel-update NODE` publishes another. An upgrade
(any of the four tools, security-only included) installs it the way Ubuntu does: the sentinel
/var/run/reboot-required and its .pkgs appear, and the node's next simulated reboot reports the new kernel in
status.nodeInfo.kernelVersion. Once it is installed there is nothing left to do, so a second run changes nothing.
Simulation flags (apt-get -s, unattended-upgrade --dry-run, dnf --assumeno) install nothing. Standard library only.
"""

from __future__ import annotations

import sys

from node_state import from_environment, kernel_packages

APT_SIMULATE = {"-s", "--simulate", "--just-print", "--dry-run", "--recon", "--no-act"}
APT_UPGRADES = {"upgrade", "dist-upgrade", "full-upgrade", "install"}
RPM_UPGRADES = {"upgrade", "update", "distro-sync", "upgrade-minimal"}


# Options whose value is the next word (e.g. ansible.builtin.apt runs `apt-get -y -o Dpkg::Options::=... dist-upgrade`).
VALUED = {"-o", "--option", "-c", "--config-file", "-t", "--target-release", "-a", "--host-architecture",
          "--setopt", "--releasever", "--enablerepo", "--disablerepo", "-x", "--exclude", "--installroot", "-d", "-e"}


def verb(argv: list[str]) -> str:
    """The first word that is neither an option nor an option's value: apt-get's or dnf's command."""
    words = iter(argv)
    for word in words:
        if word in VALUED:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def apt_get(argv: list[str], pending: str | None) -> tuple[int, str, bool]:
    action = verb(argv)
    if action == "update":
        return 0, "Hit:1 file:/nodepatch-testbed stable InRelease\nReading package lists...\n", False
    if action not in APT_UPGRADES:
        return 0, "", False
    head = "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
    if pending is None:
        return 0, head + "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n", False
    new, upgraded = kernel_packages(pending)
    text = (head + f"Calculating upgrade...\nThe following NEW packages will be installed:\n  {new}\n"
            f"The following packages will be upgraded:\n  {upgraded}\n"
            "1 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\n")
    if APT_SIMULATE & set(argv):
        return 0, text + f"Inst {new} ({pending})\nInst {upgraded}\n", False
    return 0, text + f"Setting up {new} ...\nSetting up {upgraded} ...\n", True


def unattended_upgrade(argv: list[str], pending: str | None) -> tuple[int, str, bool]:
    if pending is None:
        return 0, "No packages found that can be upgraded unattended and no pending auto-removals\n", False
    text = f"Packages that will be upgraded: {' '.join(kernel_packages(pending))}\n"
    if "--dry-run" in argv:
        return 0, text, False
    return 0, text + "All upgrades installed\n", True


def rpm_manager(argv: list[str], pending: str | None) -> tuple[int, str, bool]:
    action = verb(argv)
    if action == "check-update":
        # dnf and tdnf answer 100 when updates are available.
        return (100, f"kernel-{pending}  azurelinux-official-base\n", False) if pending else (0, "", False)
    if action not in RPM_UPGRADES:
        return 0, "", False
    if pending is None:
        return 0, "Dependencies resolved.\nNothing to do.\nComplete!\n", False
    text = f"Dependencies resolved.\nUpgrading:\n kernel-{pending}\n"
    if "--assumeno" in argv:
        return 1, text + "Operation aborted.\n", False
    return 0, text + f"Upgraded:\n  kernel-{pending}\nComplete!\n", True


TOOLS = {"apt-get": apt_get, "unattended-upgrade": unattended_upgrade, "dnf": rpm_manager, "tdnf": rpm_manager}


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    state = from_environment()
    code, text, installs = TOOLS[tool](args, state.pending_kernel())
    state.record(tool, args, state.install_kernel() if installs else [])
    sys.stdout.write(text)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
