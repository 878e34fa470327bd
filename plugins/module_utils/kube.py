# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API client: built from the shared connection options, retrying transient failures, and the one
place where an ApiException becomes a message a person can act on."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import types
import typing as t
from urllib.parse import quote

from ansible.module_utils.basic import env_fallback

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.retry import call_with_retries
from ansible_collections.nodepatch.kube.plugins.module_utils.versions import (
    UnsupportedLibraryError,
    unsupported_library,
)

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    from kubernetes.config.config_exception import ConfigException
    from yaml import YAMLError  # the client reads kubeconfigs with PyYAML, its own dependency
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR: Exception | None = None
except ImportError as import_error:  # pragma: no cover - reported by KubeModule
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = import_error

    class ApiException(Exception):  # type: ignore[no-redef]
        status = 0
        reason = ""
        body = None

# kubernetes 29.0.0 to 35.x refuse the `_content_type` keyword the merge patches of the drain and the lock need;
# 36.0.0 and 36.0.1 silently drop the bearer token of a kubeconfig or a service account (kubernetes-client/python
# issues 2582 and 2584), so every token-authenticated call goes out anonymous.
MINIMUM_KUBERNETES = (36, 0, 2)


def unsupported_kubernetes(installed: str) -> UnsupportedLibraryError | None:
    return unsupported_library("kubernetes", installed, MINIMUM_KUBERNETES)


if HAS_KUBERNETES:
    import kubernetes as _kubernetes_package

    KUBERNETES_IMPORT_ERROR = unsupported_kubernetes(str(getattr(_kubernetes_package, "__version__", "0")))
    HAS_KUBERNETES = KUBERNETES_IMPORT_ERROR is None

T = t.TypeVar("T")

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
USER_AGENT = "nodepatch.kube"
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# An API server that has just started authorizes before its RBAC cache has loaded every binding, and refuses
# with the same 403 a missing permission gets (kubernetes/kubernetes#121635). So an RBAC refusal is tried this
# many times more (a few seconds in all) before it is reported as the missing permission it then is.
RBAC_DENIAL_RETRIES = 3

KUBE_AUTH_ARGSPEC: dict[str, dict[str, t.Any]] = dict(
    kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
    proxy=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_PROXY"])),
)

HINTS = {
    401: "the credentials were refused: check api_key, or the token or client certificate (client_cert, "
         "client_key) of the kubeconfig",
    403: "the identity lacks this permission: deploy/rbac.yml grants what the collection needs",
    404: "it was not found: check the name and the namespace",
    409: "it changed or exists already (conflict): re-read it and retry, or re-run the task",
    422: "the API server rejected the values: check the options given",
    429: "the API server is throttling requests: retry later or lower the concurrency",
}
# The cause the API server gives when it refuses to create anything (an eviction too) in a namespace being deleted.
NAMESPACE_TERMINATING = "NamespaceTerminating"
FORBIDDEN = re.compile(r'cannot (?P<verb>[\w-]+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
                       r'(?: in the namespace "(?P<namespace>[^"]+)")?')


def forbidden_hint(api_message: str) -> str | None:
    """Name the verb and resource the RBAC lacks, from the API server's own 403 message."""
    match = FORBIDDEN.search(api_message or "")
    if not match:
        return None
    group = match["group"] or "core"
    where = f"in namespace {match['namespace']}" if match["namespace"] else "cluster-wide"
    return (f"the identity may not {match['verb']} {match['resource']} (API group {group}) {where}; "
            f"deploy/rbac.yml grants the collection's permissions (kubectl apply -f deploy/rbac.yml)")


def api_error(error: ApiException, action: str, target: str) -> NodepatchError:
    """Turn an ApiException into what failed, on which object, why (the API's own words) and what to do."""
    status = getattr(error, "status", 0) or 0
    api_message = ""
    api_reason = ""
    causes: list[str] = []
    body = getattr(error, "body", None)
    if body:
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            decoded = json.loads(body)
        except ValueError:
            api_message = str(body)[:300]
        else:
            if isinstance(decoded, dict):
                api_message = str(decoded.get("message", ""))
                api_reason = str(decoded.get("reason", ""))
                details = decoded.get("details") if isinstance(decoded.get("details"), dict) else {}
                causes = [str(cause.get("reason", "")) for cause in details.get("causes") or [] if isinstance(cause, dict)]
    reason = getattr(error, "reason", "") or api_reason or "error"
    message = f"cannot {action} {target}: HTTP {status} {reason}"
    if api_message:
        message += f": {api_message}"
    hint = forbidden_hint(api_message) if status == 403 else None
    if NAMESPACE_TERMINATING in causes:
        hint = "the namespace is being deleted, and its pods with it; nothing new may be created in it"
    if status >= 500 and not hint:
        hint = "the API server failed; it was retried with backoff, check its health and retry"
    details: dict[str, t.Any] = {"status": status, "api_reason": api_reason or reason, "api_message": api_message}
    if causes:
        details["api_causes"] = causes
    return NodepatchError(message, target=target, hint=hint or HINTS.get(status), details=details, status=status)


def retry_after(error: BaseException) -> float | None:
    """The seconds an API server's Retry-After header asks for (429 from API priority and fairness, 503), if any.

    Only the delay-seconds form: the API server never sends an HTTP date."""
    headers = getattr(error, "headers", None) or {}
    try:
        value = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def is_rbac_denial(error: BaseException) -> bool:
    """A 403 in the RBAC authorizer's words ("cannot VERB resource ..."), not an admission webhook's refusal."""
    if not isinstance(error, ApiException) or error.status != 403:
        return False
    body = error.body.decode("utf-8", "replace") if isinstance(error.body, bytes) else str(error.body or "")
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    message = str(status.get("message", "")) if isinstance(status, dict) else body
    return FORBIDDEN.search(message) is not None


def is_transient(error: BaseException, retry_429: bool = True) -> bool:
    if isinstance(error, ApiException):
        return error.status in TRANSIENT_STATUSES or (retry_429 and error.status == 429)
    return HAS_KUBERNETES and isinstance(error, (urllib3.exceptions.HTTPError, ConnectionError))


FILE_OPTIONS = ("kubeconfig", "ca_cert", "client_cert", "client_key")
FILE_ENVIRONMENT = {option: KUBE_AUTH_ARGSPEC[option]["fallback"][1][0] for option in FILE_OPTIONS}


def check_files(params: t.Mapping[str, t.Any]) -> None:
    """The connection options that name files, each an existing file, before the client library reads them (it
    would fail with a bare FileNotFoundError, or a kubeconfig that is not there would read as an empty one)."""
    for option in FILE_OPTIONS:
        path = params.get(option)
        if path and not os.path.isfile(path):
            raise NodepatchError(f"{option}: {path} does not exist or is not a file",
                                 hint=f"give {option} (or {FILE_ENVIRONMENT[option]}) the path of a readable file on "
                                      "the controller")


MERGE_PATCH = "application/merge-patch+json"


@dataclasses.dataclass(frozen=True)
class Resource:
    """A kind of object by its REST path and the client library's model of it.

    The collection calls these paths itself rather than through the library's generated API classes: from
    kubernetes 37 on, importing core/v1's class costs about a second of CPU, paid again by every module run."""

    api: str
    plural: str
    model: str
    namespaced: bool = True

    def path(self, name: str | None = None, namespace: str | None = None, subresource: str | None = None) -> str:
        parts = [self.api]
        if self.namespaced and namespace:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(self.plural)
        if name:
            parts.append(quote(name, safe=""))
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


NAMESPACES = Resource("/api/v1", "namespaces", "V1Namespace", namespaced=False)
NODES = Resource("/api/v1", "nodes", "V1Node", namespaced=False)
PODS = Resource("/api/v1", "pods", "V1Pod")
EVENTS = Resource("/api/v1", "events", "CoreV1Event")
SECRETS = Resource("/api/v1", "secrets", "V1Secret")
SERVICE_ACCOUNTS = Resource("/api/v1", "serviceaccounts", "V1ServiceAccount")
DAEMONSETS = Resource("/apis/apps/v1", "daemonsets", "V1DaemonSet")
LEASES = Resource("/apis/coordination.k8s.io/v1", "leases", "V1Lease")
BUDGETS = Resource("/apis/policy/v1", "poddisruptionbudgets", "V1PodDisruptionBudget")
CLUSTER_ROLES = Resource("/apis/rbac.authorization.k8s.io/v1", "clusterroles", "V1ClusterRole", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings",
                                 "V1ClusterRoleBinding", namespaced=False)
ROLES = Resource("/apis/rbac.authorization.k8s.io/v1", "roles", "V1Role")
ROLE_BINDINGS = Resource("/apis/rbac.authorization.k8s.io/v1", "rolebindings", "V1RoleBinding")


def query_of(options: t.Mapping[str, t.Any]) -> list[tuple[str, t.Any]]:
    """The API's query parameters from Python-style keywords (label_selector → labelSelector); None is left out."""
    query = []
    for option, value in options.items():
        if value is None:
            continue
        head, *rest = option.split("_")
        query.append((head + "".join(word.capitalize() for word in rest),
                      str(value).lower() if isinstance(value, bool) else value))
    return query


class KubeClient:
    """The REST verbs on Resources over one ApiClient, and ``call`` to use them with retries and readable errors."""

    def __init__(self, api_client: t.Any) -> None:
        self.api_client = api_client
        self.retry_attempts = 6
        self.retry_base = 0.5
        self.retry_cap = 10.0
        self.sleep: t.Callable[[float], None] = time.sleep

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any], parallel_requests: int = 1, agent: str = "") -> KubeClient:
        """A client from the shared connection options, in kubernetes.core's order: a kubeconfig (given, or the
        default one) unless only ``host`` is given; in a pod with nothing given, the service account; then the
        explicit options override what the kubeconfig said. ``agent`` (the module, plugin or process) goes into
        the User-Agent, so an API server's audit log says which part of the collection made each request."""
        configuration = k8s_client.Configuration()
        check_files(params)
        where = " ".join(f"{option} {params[option]!r}" for option in ("kubeconfig", "context") if params.get(option))
        try:
            if params.get("kubeconfig") or params.get("context"):
                k8s_config.load_kube_config(config_file=params.get("kubeconfig"), context=params.get("context"),
                                            client_configuration=configuration, persist_config=False)
            elif not params.get("host"):
                if os.path.exists(IN_CLUSTER_TOKEN) and os.environ.get("KUBERNETES_SERVICE_HOST"):
                    k8s_config.load_incluster_config(client_configuration=configuration)
                else:
                    k8s_config.load_kube_config(client_configuration=configuration, persist_config=False)
        except (ConfigException, OSError, TypeError, ValueError, AttributeError, YAMLError) as error:
            raise NodepatchError(
                f"cannot load the Kubernetes connection{' from ' + where if where else ''}: {error}",
                hint="give kubeconfig (or K8S_AUTH_KUBECONFIG) with a valid kubeconfig file and a context it has, "
                     "or host with api_key (K8S_AUTH_HOST, K8S_AUTH_API_KEY), or run in a pod with a service "
                     "account") from error
        if params.get("host"):
            configuration.host = params["host"]
        if params.get("api_key"):
            configuration.api_key = {"BearerToken": "Bearer " + params["api_key"]}
            configuration.refresh_api_key_hook = None  # else the kubeconfig's token comes back on refresh
        overrides = {"validate_certs": "verify_ssl", "ca_cert": "ssl_ca_cert", "client_cert": "cert_file",
                     "client_key": "key_file", "proxy": "proxy"}
        for option, attribute in overrides.items():
            if params.get(option) is not None:
                setattr(configuration, attribute, params[option])
        # One pooled connection per parallel request (plus a watch), else urllib3 discards and reopens connections.
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 1, parallel_requests + 1)
        api_client = k8s_client.ApiClient(configuration)
        api_client.user_agent = f"{USER_AGENT}/{agent}" if agent else USER_AGENT
        return cls(api_client)

    def exec_stream(self, path: str, **options: t.Any) -> t.Any:
        """An open exec WebSocket on ``path`` (the library's WSClient), with the credentials requests carry. A
        refused upgrade raises ApiException with status 0 and the handshake's status in its reason."""
        from kubernetes.stream import ws_client  # pylint: disable=import-outside-toplevel

        configuration = self.api_client.configuration
        headers = {setting["key"]: setting["value"] for setting in configuration.auth_settings().values()
                   if setting.get("in") == "header" and setting.get("value")}
        return ws_client.websocket_call(configuration, "GET", configuration.host + path, headers=headers,
                                        query_params=query_of(options), _preload_content=False, binary=True)

    @property
    def _split_call_api(self) -> bool:
        # kubernetes 37 split the legacy call_api into param_serialize, call_api and response_deserialize.
        return hasattr(self.api_client, "param_serialize")

    def request(self, method: str, path: str, model: str | None = None, *, query: t.Sequence[tuple[str, t.Any]] = (),
                body: t.Any = None, content_type: str = "application/json", stream: bool = False,
                timeout: float | None = None) -> t.Any:
        """One request through the library's ApiClient (its authentication, TLS and proxy): the response as
        ``model`` (None: discarded), or with ``stream`` the open urllib3 response. A status outside 2xx raises
        ApiException, as the generated API classes do."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        if self._split_call_api:
            serialized = self.api_client.param_serialize(method, path, query_params=list(query), header_params=headers,
                                                         body=body, auth_settings=["BearerToken"])
            response = self.api_client.call_api(*serialized, _request_timeout=timeout)
            if stream and 200 <= response.status <= 299:
                return response.response
            response.read()
            return self.api_client.response_deserialize(response, {"2XX": model}).data
        return self.api_client.call_api(path, method, query_params=list(query), header_params=headers, body=body,
                                        response_types_map={status: model for status in (200, 201, 202)},
                                        auth_settings=["BearerToken"], _return_http_data_only=True,
                                        _preload_content=not stream, _request_timeout=timeout)

    def model_of(self, text: str, model: str) -> t.Any:
        """``text`` (one object's JSON) as the library's ``model``."""
        if self._split_call_api:
            return self.api_client.deserialize(text, model, "application/json")
        return self.api_client.deserialize(types.SimpleNamespace(data=text), model)

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> t.Any:
        return self.request("GET", resource.path(name, namespace), resource.model)

    def list(self, resource: Resource, namespace: str | None = None, **options: t.Any) -> t.Any:
        return self.request("GET", resource.path(namespace=namespace), resource.model + "List", query=query_of(options))

    def create(self, resource: Resource, body: t.Any, namespace: str | None = None, *, name: str | None = None,
               subresource: str | None = None) -> t.Any:
        """Create an object, or with ``name`` and ``subresource`` post to one (an eviction): that answer is discarded."""
        return self.request("POST", resource.path(name, namespace, subresource),
                            None if subresource else resource.model, body=body)

    def patch(self, resource: Resource, name: str, body: t.Any, namespace: str | None = None) -> t.Any:
        """A JSON merge patch (RFC 7386): a key set to None is removed."""
        return self.request("PATCH", resource.path(name, namespace), resource.model, body=body, content_type=MERGE_PATCH)

    def replace(self, resource: Resource, name: str, body: t.Any, namespace: str | None = None) -> t.Any:
        return self.request("PUT", resource.path(name, namespace), resource.model, body=body)

    def delete(self, resource: Resource, name: str, namespace: str | None = None, body: t.Any = None,
               **options: t.Any) -> None:
        self.request("DELETE", resource.path(name, namespace), query=query_of(options), body=body)

    def watch(self, resource: Resource, namespace: str | None = None, request_timeout: float | None = None,
              **options: t.Any) -> t.Iterator[tuple[str, t.Any]]:
        """The events of one watch request, as (type, object): ADDED, MODIFIED and DELETED with the object as its
        model, BOOKMARK and ERROR with the object as the API sent it. Ends when the API server ends the watch."""
        response = self.request("GET", resource.path(namespace=namespace), query=query_of({"watch": True, **options}),
                                stream=True, timeout=request_timeout)
        try:
            pending = b""
            # amt=None: each chunk as it arrives, as the API server flushes one per event.
            for chunk in response.stream(None, decode_content=False):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in filter(bytes.strip, lines):
                    event = json.loads(line)
                    kind, found = event.get("type", ""), event.get("object")
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        found = self.model_of(json.dumps(found), resource.model)
                    yield kind, found
        finally:
            response.close()  # not back to the pool half read: the next request would read this watch's rest
            response.release_conn()

    def call(self, function: t.Callable[..., T], *args: t.Any, target: str, action: str, retry_429: bool = True,
             **kwargs: t.Any) -> T:
        """Run one API call; retry 429 (unless ``retry_429`` is false), 5xx and connection errors with backoff,
        waiting at least what a Retry-After header asks (up to ``retry_cap``); at most ``retry_attempts`` tries."""
        retried: list[BaseException] = []

        def retryable(error: BaseException) -> bool:
            return is_transient(error, retry_429) or (
                is_rbac_denial(error) and sum(map(is_rbac_denial, retried)) < RBAC_DENIAL_RETRIES)
        try:
            return call_with_retries(lambda: function(*args, **kwargs), retryable,
                                     self.retry_attempts, self.retry_base, self.retry_cap, self.sleep,
                                     on_retry=retried.append, wait_hint=retry_after)
        except ApiException as error:
            failure = api_error(error, action, target)
            if retried:
                failure = self._gave_up(failure, len(retried) + 1)
            raise failure from error
        except (urllib3.exceptions.HTTPError, ConnectionError) as error:
            failure = NodepatchError(f"cannot reach the API server at {self.host} to {action} {target}: {error}",
                                     target=target, hint="check host (or the server of the kubeconfig), that the API server "
                                                         "is up, and proxy if one is given")
            raise (self._gave_up(failure, len(retried) + 1) if retried else failure) from error

    @staticmethod
    def _gave_up(failure: NodepatchError, attempts: int) -> NodepatchError:
        """The error, saying that it outlasted the retries: the bounds a user can weigh against the outage."""
        failure.message += f" (still failing after {attempts} attempts)"
        failure.details["attempts"] = attempts
        return failure
