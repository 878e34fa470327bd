#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: reboot_required
short_description: Tell whether a node needs a reboot, and why
version_added: 0.1.0
description:
  - Runs on the node itself and answers in milliseconds, without fact gathering, so it fits ad hoc runs across
    thousands of hosts.
  - Detectors are the Debian/Ubuntu sentinel file C(/var/run/reboot-required), a sentinel command of your own,
    C(needs-restarting -r) on dnf/yum systems, and a comparison of the running kernel with the newest one installed.
  - A command that exits with an unexpected code, times out or cannot be executed fails the task with its command,
    exit code and stderr; it is never read as "reboot required", so a missing binary cannot cause a reboot loop.
  - Never changes anything.
author:
  - nodepatch maintainers (@nodepatch)
extends_documentation_fragment:
  - nodepatch.kube.attributes
  - nodepatch.kube.attributes.info_module
options:
  detectors:
    description:
      - Which detectors to run.
      - V(auto) runs the sentinel file, the sentinel command when O(sentinel_command) is set, C(needs-restarting -r)
        where it is installed, and the kernel comparison only where neither the sentinel file (Debian family) nor
        C(needs-restarting) applies.
      - A named list runs exactly those detectors; naming one that cannot run (C(needs_restarting) not installed,
        C(command) without O(sentinel_command)) is an error.
    type: list
    elements: str
    choices: [auto, file, command, needs_restarting, kernel]
    default: [auto]
  sentinel_file:
    description:
      - Path of the file whose existence means a reboot is required.
      - Packages are read from the file of the same name with C(.pkgs) appended, when it exists.
    type: path
    default: /var/run/reboot-required
  sentinel_command:
    description:
      - A command, as a list of arguments (never a shell string), whose exit code answers.
      - Exit code 0 means a reboot is required, 1 means it is not; any other outcome is an error.
    type: list
    elements: str
  sentinel_command_timeout:
    description:
      - Seconds the sentinel command and C(needs-restarting) may run before the task fails.
    type: float
    default: 30
  kernel_dirs:
    description:
      - Directories searched for installed kernels, as C(vmlinuz-RELEASE) images or C(/lib/modules/RELEASE)
        directories.
    type: list
    elements: path
    default: [/boot, /lib/modules]
notes:
  - Needs only the Python standard library on the node (Python 3.9 or newer).
seealso:
  - name: kured reboot sentinel
    description: The same sentinel file convention, used by the Kubernetes Reboot Daemon.
    link: https://kured.dev/docs/configuration/
"""

EXAMPLES = r"""
- name: Ask whether the node needs a reboot
  nodepatch.kube.reboot_required:
  register: reboot

- name: Use a custom check instead of the sentinel file
  nodepatch.kube.reboot_required:
    detectors: [command]
    sentinel_command: [/usr/local/sbin/reboot-needed, --quiet]
    sentinel_command_timeout: 10

- name: Compare the running kernel with the newest installed one only
  nodepatch.kube.reboot_required:
    detectors: [kernel]
"""

RETURN = r"""
reboot_required:
  description: Whether any detector said a reboot is required.
  returned: always
  type: bool
  sample: true
reasons:
  description: One sentence per detector that asked for a reboot, naming it.
  returned: always
  type: list
  elements: str
  sample: ["file: /var/run/reboot-required exists (packages: linux-image-5.15.0-1040-azure)"]
packages:
  description: Packages that asked for the reboot, from the C(.pkgs) file beside the sentinel; de-duplicated.
  returned: always
  type: list
  elements: str
  sample: [linux-image-5.15.0-1040-azure, libc6]
running_kernel:
  description: The running kernel release (C(uname -r)).
  returned: always
  type: str
  sample: 5.15.0-1039-azure
latest_kernel:
  description: The newest installed kernel release, or null when none is found.
  returned: always
  type: str
  sample: 5.15.0-1040-azure
boot_id:
  description: The kernel's boot id; it changes at every boot.
  returned: always
  type: str
  sample: 0b4f2a7c-9d1e-4a3b-8f5e-2c6d7e8f9a01
uptime_seconds:
  description: Seconds since boot.
  returned: always
  type: float
  sample: 86400.25
detectors:
  description: Each detector that ran, with its own answer and what it looked at.
  returned: always
  type: dict
  sample:
    file: {reboot_required: true, reason: "file: /var/run/reboot-required exists", path: /var/run/reboot-required,
           packages: []}
    kernel: {reboot_required: false, reason: null, running: 6.1.0-10-amd64, latest: 6.1.0-10-amd64,
             installed: [6.1.0-9-amd64, 6.1.0-10-amd64]}
"""

from ansible_collections.nodepatch.kube.plugins.module_utils.base_module import NodepatchModule
from ansible_collections.nodepatch.kube.plugins.module_utils.sentinel import (
    DEFAULT_KERNEL_DIRS,
    SentinelError,
    boot_id,
    detect,
    uptime_seconds,
)


def main() -> None:
    module = NodepatchModule(
        argument_spec=dict(
            detectors=dict(type="list", elements="str", default=["auto"],
                           choices=["auto", "file", "command", "needs_restarting", "kernel"]),
            sentinel_file=dict(type="path", default="/var/run/reboot-required"),
            sentinel_command=dict(type="list", elements="str"),
            sentinel_command_timeout=dict(type="float", default=30),
            kernel_dirs=dict(type="list", elements="path", default=list(DEFAULT_KERNEL_DIRS)),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        status = detect(
            requested=params["detectors"],
            sentinel_file=params["sentinel_file"],
            sentinel_command=params["sentinel_command"],
            command_timeout=params["sentinel_command_timeout"],
            kernel_dirs=params["kernel_dirs"],
        )
    except SentinelError as error:
        module.fail_json(msg=str(error), reboot_required=None)
    module.exit_json(
        changed=False,
        reboot_required=status.reboot_required,
        reasons=status.reasons,
        packages=status.packages,
        running_kernel=status.running_kernel,
        latest_kernel=status.latest_kernel,
        boot_id=boot_id(),
        uptime_seconds=uptime_seconds(),
        detectors=status.detectors,
    )


if __name__ == "__main__":
    main()
