# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed HTTP status of an API error, from either client, and the one retry loop serving conflicts."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from kubernetes.client.rest import ApiException

from ansible_collections.nodepatch.kube.plugins.module_utils.aks_api import translate
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError, is_conflict
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import api_error
from ansible_collections.nodepatch.kube.plugins.module_utils.retry import call_with_retries


@pytest.mark.parametrize("status, not_found, conflict", [
    (404, True, False), (409, False, True), (403, False, False), (None, False, False)])
def test_the_status_answers_not_found_and_conflict(status: int | None, not_found: bool, conflict: bool) -> None:
    error = NodepatchError("cannot write", status=status)
    assert (error.is_not_found, error.is_conflict, is_conflict(error)) == (not_found, conflict, conflict)


def test_a_kubernetes_api_error_carries_its_status() -> None:
    error = api_error(ApiException(status=409, reason="Conflict"), "write", "node/n1")
    assert error.status == 409 and error.is_conflict


def test_an_azure_error_carries_its_status_under_the_same_name() -> None:
    sdk_error = HttpResponseError(message="not found")
    sdk_error.status_code = 404
    error = translate(sdk_error, "read managed cluster aks", "managedCluster rg/aks")
    assert error.status == 404 and error.is_not_found


def test_conflicts_are_retried_within_the_stated_bounds_and_each_retry_is_seen() -> None:
    tries: list[int] = []
    seen: list[BaseException] = []
    slept: list[float] = []

    def attempt() -> str:
        tries.append(1)
        raise NodepatchError("changed", status=409)

    with pytest.raises(NodepatchError):
        call_with_retries(attempt, is_conflict, attempts=5, base=0, sleep=slept.append, on_retry=seen.append)
    assert len(tries) == 5 and len(seen) == 4 and slept == [0, 0, 0, 0]


def test_anything_but_a_conflict_is_raised_at_once() -> None:
    tries: list[int] = []

    def attempt() -> str:
        tries.append(1)
        raise NodepatchError("forbidden", status=403)

    with pytest.raises(NodepatchError):
        call_with_retries(attempt, is_conflict, attempts=5, base=0, sleep=lambda _s: None)
    assert len(tries) == 1
