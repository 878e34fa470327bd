# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`python -m azure_emulator` (from tests/testbed): start the emulator, print its URL and CA path as JSON."""

from .server import main

main()
