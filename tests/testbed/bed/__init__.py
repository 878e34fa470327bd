# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test bed's parts, one concept per module; `tests/testbed/testbed.py` is the command line over them.

    state       the state directory, testbed.json, the error type and log line every part shares (stdlib only)
    procs       processes and ports: start in a session of their own, alive, stop, wait for a condition
    pki         the CA and certificates (also the Azure emulator's), kubeconfigs
    api         the few API calls the test bed makes itself (admin client certificate)
    cluster     the objects `up` creates: nodes, the kured DaemonSet, deploy/rbac.yml, the inventory
    kwok        kwok's stage file (kwok-stages.yaml, a data file beside this one)
    components  etcd, kube-apiserver, controller-manager, scheduler, kwok, ...: command lines, health, start/stop
    prometheus  the alert rules and their switch
    ssh         the test bed's own sshd
    reboot      the simulated reboot of a node
    up          `up` and `down` as their steps

`reboot` and `sentinel` serve as a role's reboot command and a test's switch: their path imports only `state`,
`api` (reboot) and node_state, never cryptography, PyYAML or the component declarations.
"""
