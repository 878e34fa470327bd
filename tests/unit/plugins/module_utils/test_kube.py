# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The client factory's one place for errors: what failed, on which object, the API's words, what to do."""

from __future__ import annotations

import json
import typing as t

import pytest
import urllib3
from kubernetes.client.rest import ApiException

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.kube import (
    KUBE_AUTH_ARGSPEC,
    LEASES,
    NODES,
    PODS,
    RBAC_DENIAL_RETRIES,
    KubeClient,
    api_error,
    forbidden_hint,
    is_transient,
    query_of,
    retry_after,
    unsupported_kubernetes,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.versions import unsupported_library, version_tuple


def api_exception(status: int, reason: str, message: str | None = None, body: t.Any = None) -> ApiException:
    error = ApiException(status=status, reason=reason)
    if body is not None:
        error.body = body
    elif message is not None:
        error.body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "reason": reason,
                                 "code": status})
    return error


FORBIDDEN = ('daemonsets.apps "kured" is forbidden: User "system:serviceaccount:nodepatch-system:nodepatch" cannot '
             'patch resource "daemonsets" in API group "apps" in the namespace "kube-system"')


def test_forbidden_names_the_verb_resource_namespace_and_the_rbac_file() -> None:
    error = api_error(api_exception(403, "Forbidden", FORBIDDEN), "write the lock on", "daemonset kube-system/kured")
    text = str(error)
    assert text.startswith("cannot write the lock on daemonset kube-system/kured: HTTP 403 Forbidden: ")
    assert FORBIDDEN in text
    assert "may not patch daemonsets (API group apps) in namespace kube-system" in text
    assert "deploy/rbac.yml" in text
    assert error.target == "daemonset kube-system/kured"
    assert error.details == {"status": 403, "api_reason": "Forbidden", "api_message": FORBIDDEN}


def test_a_namespace_being_deleted_is_named_as_the_cause_not_rbac() -> None:
    body = json.dumps({"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
                       "message": 'pods "web-1" is forbidden: unable to create new content in namespace shop because '
                                  "it is being terminated",
                       "details": {"name": "web-1", "kind": "pods",
                                   "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace"}]}})
    error = api_error(api_exception(403, "Forbidden", body=body), "evict", "pod shop/web-1")
    assert error.details["api_causes"] == ["NamespaceTerminating"]
    assert "namespace is being deleted" in str(error)
    assert "rbac" not in str(error).lower()


def test_forbidden_on_a_cluster_scoped_core_subresource() -> None:
    hint = forbidden_hint('pods "web" is forbidden: User "x" cannot create resource "pods/eviction" in API group ""')
    assert hint is not None and "may not create pods/eviction (API group core) cluster-wide" in hint


def test_forbidden_without_the_usual_wording_still_points_at_rbac() -> None:
    error = api_error(api_exception(403, "Forbidden", "denied by webhook"), "read", "node/n1")
    assert error.hint is not None and "deploy/rbac.yml" in error.hint


@pytest.mark.parametrize("status, reason, words", [
    (404, "Not Found", "not found: check the name and the namespace"),
    (409, "Conflict", "conflict"),
    (401, "Unauthorized", "credentials were refused"),
    (422, "Unprocessable Entity", "rejected the values"),
    (503, "Service Unavailable", "retried with backoff"),
])
def test_common_statuses_get_a_hint(status: int, reason: str, words: str) -> None:
    error = api_error(api_exception(status, reason, f"the API says {status}"), "read", "node/n1")
    assert f"cannot read node/n1: HTTP {status} {reason}: the API says {status}" in str(error)
    assert error.hint is not None and words in error.hint
    assert error.details["status"] == status


def test_a_body_that_is_not_json_is_quoted_shortened() -> None:
    error = api_error(api_exception(502, "Bad Gateway", body=b"<html>" + b"x" * 1000), "list", "nodes")
    assert "<html>" in error.message and len(error.message) < 400


def test_no_body_still_says_status_and_reason() -> None:
    assert str(api_error(ApiException(status=500, reason="Internal Server Error"), "list", "nodes")).startswith(
        "cannot list nodes: HTTP 500 Internal Server Error")


@pytest.mark.parametrize("error, with_429, without_429", [
    (ApiException(status=429), True, False),
    (ApiException(status=500), True, True),
    (ApiException(status=503), True, True),
    (ApiException(status=404), False, False),
    (ApiException(status=409), False, False),
    (urllib3.exceptions.MaxRetryError(None, "/", "refused"), True, True),
    (ConnectionResetError(), True, True),
    (ValueError(), False, False),
])
def test_transient_errors(error: BaseException, with_429: bool, without_429: bool) -> None:
    assert is_transient(error) is with_429
    assert is_transient(error, retry_429=False) is without_429


def client() -> KubeClient:
    built = KubeClient.from_params({"host": "https://127.0.0.1:1", "api_key": "t0ken"})
    built.sleep = lambda _seconds: None
    return built


class Flaky:
    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return ("ok", args, kwargs)


def test_call_retries_429_and_5xx_then_succeeds() -> None:
    flaky = Flaky(ApiException(status=429), ApiException(status=503))
    assert client().call(flaky, "n1", target="node/n1", action="read", pretty="x") == ("ok", ("n1",), {"pretty": "x"})
    assert flaky.calls == 3


def test_call_without_retry_429_fails_at_once_with_a_readable_error() -> None:
    flaky = Flaky(api_exception(429, "Too Many Requests", "Cannot evict pod as it would violate the pod's disruption budget."))
    with pytest.raises(NodepatchError) as caught:
        client().call(flaky, target="pod shop/web", action="evict", retry_429=False)
    assert flaky.calls == 1
    assert caught.value.details["status"] == 429
    assert "disruption budget" in str(caught.value)


def test_call_gives_up_after_the_attempts_with_the_last_error() -> None:
    flaky = Flaky(*[ApiException(status=500)] * 10)
    with pytest.raises(NodepatchError, match="HTTP 500"):
        client().call(flaky, target="nodes", action="list")
    assert flaky.calls == 6


def throttled(seconds: str) -> ApiException:
    error = api_exception(429, "Too Many Requests", "Too many requests, please try again later.")
    error.headers = {"Retry-After": seconds}
    return error


def test_call_waits_at_least_what_retry_after_asks_and_no_longer_than_the_cap() -> None:
    built = client()
    slept: list[float] = []
    built.sleep = slept.append
    flaky = Flaky(throttled("3"), throttled("3600"), ApiException(status=503))
    assert built.call(flaky, target="nodes", action="list")[0] == "ok"
    assert slept[0] >= 3 and slept[1] == built.retry_cap and slept[2] <= 2.0  # third pause: full jitter up to 2 s
    assert flaky.calls == 4


@pytest.mark.parametrize("headers, seconds", [
    ({"Retry-After": "1"}, 1.0), ({"Retry-After": "0.5"}, 0.5), ({"Retry-After": "-1"}, None),
    ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None), ({}, None), (None, None),
])
def test_retry_after_reads_delay_seconds_only(headers: t.Any, seconds: float | None) -> None:
    error = ApiException(status=429)
    error.headers = headers
    assert retry_after(error) == seconds


def test_a_burst_outlasting_the_retries_says_how_many_attempts_it_outlasted() -> None:
    flaky = Flaky(*[throttled("1")] * 10)
    with pytest.raises(NodepatchError, match=r"HTTP 429 Too Many Requests.*still failing after 6 attempts") as caught:
        client().call(flaky, target="nodes", action="list")
    assert caught.value.details["attempts"] == 6 and flaky.calls == 6


def test_a_failure_at_the_first_try_is_not_said_to_be_retried() -> None:
    with pytest.raises(NodepatchError) as caught:
        client().call(Flaky(ApiException(status=404)), target="node/n1", action="read")
    assert "attempts" not in str(caught.value) and "attempts" not in caught.value.details


def test_an_rbac_refusal_is_retried_a_few_times_then_named_as_the_missing_permission() -> None:
    flaky = Flaky(*[api_exception(403, "Forbidden", FORBIDDEN)] * 10)
    with pytest.raises(NodepatchError, match=r"still failing after 4 attempts.*may not patch daemonsets"):
        client().call(flaky, target="daemonset kube-system/kured", action="write the lock on")
    assert flaky.calls == 1 + RBAC_DENIAL_RETRIES


def test_an_rbac_refusal_that_clears_is_not_an_error() -> None:
    # What a client sees in the seconds after an API server restart, before its RBAC cache has loaded.
    flaky = Flaky(api_exception(403, "Forbidden", FORBIDDEN), api_exception(403, "Forbidden", FORBIDDEN))
    assert client().call(flaky, target="daemonset kube-system/kured", action="write the lock on")[0] == "ok"
    assert flaky.calls == 3


def test_a_403_that_is_not_rbac_fails_at_once() -> None:
    flaky = Flaky(api_exception(403, "Forbidden", "admission webhook \"deny.example.com\" denied the request"))
    with pytest.raises(NodepatchError):
        client().call(flaky, target="node/n1", action="patch")
    assert flaky.calls == 1


def test_call_does_not_retry_a_conflict() -> None:
    flaky = Flaky(ApiException(status=409), ApiException(status=409))
    with pytest.raises(NodepatchError):
        client().call(flaky, target="node/n1", action="patch")
    assert flaky.calls == 1


def test_connection_errors_name_the_server() -> None:
    flaky = Flaky(*[ConnectionRefusedError("refused")] * 10)
    with pytest.raises(NodepatchError, match=r"cannot reach the API server at https://127.0.0.1:1 to list nodes"):
        client().call(flaky, target="nodes", action="list")


KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}
- name: d
  cluster: {server: "https://10.0.0.2:6443"}
users:
- name: u
  user: {token: abc}
contexts:
- name: one
  context: {cluster: c, user: u}
- name: two
  context: {cluster: d, user: u}
current-context: one
"""


def test_from_kubeconfig_and_context(tmp_path: t.Any) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    assert KubeClient.from_params({"kubeconfig": str(path)}).host == "https://10.0.0.1:6443"
    two = KubeClient.from_params({"kubeconfig": str(path), "context": "two", "validate_certs": False,
                                  "proxy": "http://proxy:3128"})
    assert two.host == "https://10.0.0.2:6443"
    assert two.api_client.configuration.verify_ssl is False
    assert two.api_client.configuration.proxy == "http://proxy:3128"
    assert two.api_client.configuration.auth_settings()["BearerToken"]["value"] == "Bearer abc"


def test_explicit_host_and_token_override_the_kubeconfig(tmp_path: t.Any) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    ca = tmp_path / "ca.pem"
    ca.write_text("not read before a request")
    built = KubeClient.from_params({"kubeconfig": str(path), "host": "https://other:443", "api_key": "xyz",
                                    "ca_cert": str(ca)})
    assert built.host == "https://other:443"
    assert built.api_client.configuration.auth_settings()["BearerToken"]["value"] == "Bearer xyz"
    assert built.api_client.configuration.ssl_ca_cert == str(ca)


def test_a_missing_kubeconfig_is_a_readable_error(tmp_path: t.Any) -> None:
    with pytest.raises(NodepatchError, match=f"^kubeconfig: {tmp_path / 'nope'} does not exist") as caught:
        KubeClient.from_params({"kubeconfig": str(tmp_path / "nope")})
    assert caught.value.hint is not None and "K8S_AUTH_KUBECONFIG" in caught.value.hint


@pytest.mark.parametrize("option", ["ca_cert", "client_cert", "client_key"])
def test_a_missing_certificate_file_names_its_option(tmp_path: t.Any, option: str) -> None:
    with pytest.raises(NodepatchError, match=f"^{option}: {tmp_path / 'missing.pem'} does not exist"):
        KubeClient.from_params({"host": "https://127.0.0.1:1", option: str(tmp_path / "missing.pem")})


def test_a_kubeconfig_that_is_not_one_names_the_file(tmp_path: t.Any) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: [not: a kubeconfig\n")
    with pytest.raises(NodepatchError, match=f"cannot load the Kubernetes connection from kubeconfig '{path}'"):
        KubeClient.from_params({"kubeconfig": str(path)})


def test_argspec_mirrors_kubernetes_core_names_and_environment() -> None:
    assert set(KUBE_AUTH_ARGSPEC) == {"kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert",
                                      "client_cert", "client_key", "proxy"}
    assert KUBE_AUTH_ARGSPEC["api_key"]["no_log"] is True
    assert KUBE_AUTH_ARGSPEC["validate_certs"]["aliases"] == ["verify_ssl"]
    envs = {name: spec["fallback"][1][0] for name, spec in KUBE_AUTH_ARGSPEC.items()}
    assert envs["validate_certs"] == "K8S_AUTH_VERIFY_SSL" and envs["ca_cert"] == "K8S_AUTH_SSL_CA_CERT"
    assert all(env.startswith("K8S_AUTH_") for env in envs.values())


def test_parallel_requests_get_a_pooled_connection_each(tmp_path: t.Any) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    serial = KubeClient.from_params({"kubeconfig": str(path)})
    parallel = KubeClient.from_params({"kubeconfig": str(path)}, parallel_requests=40)
    assert parallel.api_client.configuration.connection_pool_maxsize == 41
    assert serial.api_client.configuration.connection_pool_maxsize >= 2
    assert parallel.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] == 41


@pytest.mark.parametrize("installed", ["29.0.0", "35.0.0", "35.99.1", "36.0.0", "36.0.1"])
def test_a_kubernetes_client_older_than_36_0_2_is_refused_naming_installed_and_required(installed: str) -> None:
    error = unsupported_kubernetes(installed)
    assert error is not None and error.unsupported_version
    assert f"kubernetes {installed} is installed" in str(error)
    assert "kubernetes>=36.0.2" in str(error)


@pytest.mark.parametrize("installed", ["36.0.2", "36.1.0", "37.0.2", "40.1.0b1"])
def test_a_kubernetes_client_from_36_0_2_on_is_accepted(installed: str) -> None:
    assert unsupported_kubernetes(installed) is None


def test_version_tuple_reads_the_leading_release() -> None:
    assert version_tuple("36.0.0b1") == (36, 0, 0)
    assert version_tuple("37.0") == (37, 0)


def test_an_azure_sdk_older_than_the_api_version_it_must_speak_is_refused_by_name() -> None:
    error = unsupported_library("azure-mgmt-containerservice", "34.0.0", (41, 8, 0))
    assert error is not None and error.unsupported_version
    assert "azure-mgmt-containerservice 34.0.0 is installed" in str(error)
    assert "pip install 'azure-mgmt-containerservice>=41.8.0'" in str(error)
    assert unsupported_library("azure-mgmt-containerservice", "41.8.0", (41, 8, 0)) is None


# ------------------------------------------------------------------------------------------ REST paths and watches


def test_paths_of_cluster_and_namespaced_resources_and_subresources() -> None:
    assert NODES.path("n1") == "/api/v1/nodes/n1"
    assert NODES.path("n1", namespace="ignored") == "/api/v1/nodes/n1"
    assert PODS.path() == "/api/v1/pods"
    assert PODS.path(namespace="shop") == "/api/v1/namespaces/shop/pods"
    assert PODS.path("web-0", "shop", "eviction") == "/api/v1/namespaces/shop/pods/web-0/eviction"
    assert LEASES.path("a/b", "kube-system") == "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/a%2Fb"


def test_query_parameters_are_the_apis_names_with_booleans_as_it_spells_them() -> None:
    assert query_of({"label_selector": "app=web", "field_selector": None, "allow_watch_bookmarks": True,
                     "timeout_seconds": 5, "command": ["sh", "-c"]}) == [
        ("labelSelector", "app=web"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", 5), ("command", ["sh", "-c"])]


class StreamedResponse:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def stream(self, amt: int | None, decode_content: bool) -> t.Iterator[bytes]:
        assert amt is None, "each chunk as it arrives, not a fixed size that waits for more"
        yield from self.chunks

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        assert self.closed, "a half-read watch must not go back to the pool open"


def test_a_watch_splits_events_across_chunks_and_keeps_bookmarks_and_errors_as_sent() -> None:
    from kubernetes import client as k8s_client

    node = json.dumps({"type": "MODIFIED", "object": {"metadata": {"name": "n1", "resourceVersion": "8"}}}).encode()
    lines = [node, b'{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}',
             b'{"type": "ERROR", "object": {"code": 410}}']
    stream = b"\n".join(lines) + b"\n"
    response = StreamedResponse([stream[:10], stream[10:70], stream[70:]])
    client = KubeClient(k8s_client.ApiClient())
    requests = []

    def request(*args: t.Any, **kwargs: t.Any) -> StreamedResponse:
        requests.append((args, kwargs))
        return response

    client.request = request  # type: ignore[method-assign]
    events = list(client.watch(NODES, resource_version="7", field_selector="metadata.name=n1"))
    assert [kind for kind, _found in events] == ["MODIFIED", "BOOKMARK", "ERROR"]
    assert events[0][1].metadata.name == "n1" and events[0][1].metadata.resource_version == "8"
    assert events[2][1] == {"code": 410}
    (method, path), options = requests[0]
    assert (method, path, options["stream"]) == ("GET", "/api/v1/nodes", True)
    assert options["query"] == [("watch", "true"), ("resourceVersion", "7"), ("fieldSelector", "metadata.name=n1")]
    assert response.closed
