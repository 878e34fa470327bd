# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Contention on the Lease backend of the reboot lock: 8 processes acquire and release it 60 rounds each with
max_holders 2, while a watch on the namespace's Leases rebuilds the holders at every etcd revision and counts them
(tests/integration/contention.py; benchmarks/lock.py runs the same for 10,000 rounds and more, both backends).
The count never exceeds the limit, no entry is lost. kured has no Lease lock: these rounds are ours alone. The
DaemonSet backend, beside real kured processes, is test_lock_contention.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from contention import Watcher, close, contend

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed

WORKERS = int(os.environ.get("NODEPATCH_CONTENTION_WORKERS", "8"))
ROUNDS = int(os.environ.get("NODEPATCH_CONTENTION_LEASE_ROUNDS", "60"))
MAX_HOLDERS = 2


def test_lease_slots_never_hold_more_than_the_limit_under_contention(testbed: Testbed, collections_root: Path) -> None:
    namespace = testbed.create_namespace("np-lease-contention")
    try:
        watcher = Watcher(testbed.api_client(), "lease", namespace, lease_name="np-contention")
        result = contend(testbed.kubeconfig, collections_root, "lease", namespace, MAX_HOLDERS, WORKERS, ROUNDS,
                         watcher, lease_name="np-contention")
        close(result, watcher)
        print("\n" + result.line())
        assert result.held == WORKERS * ROUNDS and result.refused == 0
        assert result.lost == 0, "an entry vanished while its holder held it"
        assert result.max_seen <= MAX_HOLDERS, result.histogram
        assert result.overlap <= MAX_HOLDERS
        # Every acquisition and every release is one write to a Lease, and the watch saw each of them.
        assert result.versions >= 2 * result.held
        assert result.max_seen == MAX_HOLDERS, "the workers never held the lock together: no contention was tested"
        leases = testbed.coordination_v1().list_namespaced_lease(namespace).items
        assert [lease.spec.holder_identity for lease in leases if lease.spec.holder_identity] == []
        assert len(leases) == MAX_HOLDERS, "one Lease per slot, max_holders of them"
    finally:
        testbed.delete_namespace(namespace)
