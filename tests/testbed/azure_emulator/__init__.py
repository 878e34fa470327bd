# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Local HTTPS emulator of the Azure Resource Manager and Entra token endpoints the AKS modules use."""

from .server import Emulator, make_ca_and_cert

__all__ = ["Emulator", "make_ca_and_cert"]
