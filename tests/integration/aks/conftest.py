# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the AKS suite: the ARM emulator (never the Kubernetes test bed) and module/playbook runners bound
to it through the real azure-identity and azure-mgmt-containerservice clients.

The emulator runs in this process (one per session, reset before each test); modules and playbooks run as
subprocesses that reach it over HTTPS with its per-run CA in REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "testbed"))

from azure_emulator import Emulator  # noqa: E402
from azure_emulator import seeds as emulator_seeds  # noqa: E402

SECRET = emulator_seeds.CLIENT_SECRET


@pytest.fixture
def seeds() -> Any:
    return emulator_seeds


@pytest.fixture
def azure_env(emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    """Environment for a module or playbook subprocess: the CA bundle, a clean HOME, no ambient Azure settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ANSIBLE_AZURE_"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update({"REQUESTS_CA_BUNDLE": str(emulator.ca_path), "SSL_CERT_FILE": str(emulator.ca_path),
                "HOME": str(home), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        env.pop(proxy, None)
    return env


@pytest.fixture
def auth(emulator: Emulator) -> dict[str, str]:
    """Module options that authenticate against the emulator with the seeded service principal."""
    return {"auth_source": "env", "subscription_id": emulator.subscription, "client_id": emulator.client_id,
            "secret": emulator.client_secret, "tenant": emulator.tenant, "resource_manager_url": emulator.url,
            "authority_host": emulator.url}


@pytest.fixture
def aks(run_module: Any, azure_env: dict[str, str], auth: dict[str, str]) -> Any:
    """aks(module, check=False, diff=False, env=None, **options) → result; auth options are added, the secret is
    asserted absent from everything the module printed."""

    def run(module_name: str, check: bool = False, diff: bool = False, env: dict[str, str] | None = None,
            use_auth: bool = True, **options: Any) -> dict[str, Any]:
        args = {**(auth if use_auth else {}), **options}
        result = run_module(module_name, args, check=check, diff=diff, env={**azure_env, **(env or {})})
        assert SECRET not in json.dumps(result), f"the client secret appears in the output of {module_name}"
        return result

    return run
