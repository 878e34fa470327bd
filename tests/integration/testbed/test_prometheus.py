# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real Prometheus evaluates the test alert; tests switch it firing or inactive."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import Testbed


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def firing(testbed: Testbed) -> set[str]:
    alerts = get(f"{testbed.prometheus_url}/api/v1/alerts")["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def alerts_series(testbed: Testbed) -> set[str]:
    query = urllib.parse.quote('ALERTS{alertstate="firing"}')
    result = get(f"{testbed.prometheus_url}/api/v1/query?query={query}")["data"]["result"]
    return {r["metric"]["alertname"] for r in result}


@pytest.fixture
def alert_off(testbed: Testbed) -> Iterator[None]:
    yield
    testbed.alert(on=False)
    testbed.alert(on=False, name="NodepatchOtherAlert")


@pytest.mark.usefixtures("alert_off")
def test_the_test_alert_toggles_firing_in_the_alerts_api_and_the_alerts_series(testbed: Testbed) -> None:
    testbed.alert(on=False)
    assert "NodepatchTestAlert" not in firing(testbed)

    testbed.alert(on=True)
    assert "NodepatchTestAlert" in firing(testbed)
    testbed.wait_until(lambda: "NodepatchTestAlert" in alerts_series(testbed), 15, "ALERTS to show the alert")

    testbed.alert(on=False)
    assert "NodepatchTestAlert" not in firing(testbed)


@pytest.mark.usefixtures("alert_off")
def test_alerts_with_other_names_fire_independently(testbed: Testbed) -> None:
    testbed.alert(on=True, name="NodepatchOtherAlert")
    assert {"NodepatchOtherAlert"} <= firing(testbed)
    assert "NodepatchTestAlert" not in firing(testbed)
