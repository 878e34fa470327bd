# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs nodepatch.kube.node_lock in the task's worker when the task runs on the controller (plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.nodepatch.kube.plugins.plugin_utils.in_process import action_for

ActionModule = action_for("node_lock")
