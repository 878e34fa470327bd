# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A local HTTPS emulator of the Azure endpoints the AKS modules use (Microsoft Entra token + ARM).

Standard library HTTP server wrapped in TLS with a per-run CA (generated with `cryptography`), on 127.0.0.1.
Serves what azure-identity (MSAL) and azure-mgmt-containerservice ask for:

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (MSAL's tenant discovery) and
  ``GET /common/discovery/instance`` (MSAL's instance discovery, which a custom authority must NOT call);
- ``POST /{tenant}/oauth2/v2.0/token``: client credentials with a secret or a client assertion (workload identity);
- managedClusters GET/PUT (PUT is a long-running operation: 200/201 + Azure-AsyncOperation, If-Match → 412),
  upgradeProfiles/default;
- agentPools list/get/upgradeProfiles/default and POST upgradeNodeImageVersion (202 + Azure-AsyncOperation +
  Location), operations and operationresults under locations/{location};
- maintenanceConfigurations list/get/put/delete, validated like AKS and defaulted like AKS (startDate, utcOffset);
- POST listClusterAdminCredential / listClusterUserCredential and rotateClusterCertificates (see pki.py).

Every request is recorded (method, path, query, headers of interest, parsed body) in ``Emulator.requests``; the
same list is served at ``GET /_emulator/requests`` and cleared with ``POST /_emulator/reset``.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import secrets
import ssl
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import pki, seeds

API_VERSIONS = ("2026-08-01",)
PROVIDER = "Microsoft.ContainerService"
READONLY_CLUSTER_PROPS = ("provisioningState", "powerState", "fqdn", "azurePortalFQDN", "privateFQDN",
                          "currentKubernetesVersion", "maxAgentPools", "resourceUID")


# ------------------------------------------------------------------------------------------------- TLS


def make_ca_and_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A fresh CA and a server certificate for 127.0.0.1/localhost signed by it; returns (ca, cert, key)."""
    from bed.pki import Authority, cert_pem, key_pem

    now = datetime.datetime.now(datetime.timezone.utc)
    ca = Authority(f"nodepatch azure emulator CA {uuid.uuid4().hex[:8]}", now - datetime.timedelta(minutes=5),
                   now + datetime.timedelta(days=2))
    cert, key = ca.issue("127.0.0.1", server_names=["localhost"], ips=["127.0.0.1"], usage="server")
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(cert_pem(ca.cert))
    cert_path.write_bytes(cert_pem(cert))
    key_path.write_bytes(key_pem(key))
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


# ------------------------------------------------------------------------------------------------- state


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Emulator:
    """The emulator's state and its HTTPS server; ``start()`` returns once it listens."""

    def __init__(self, workdir: Path | None = None, client_id: str = seeds.CLIENT_ID,
                 client_secret: str = seeds.CLIENT_SECRET, tenant: str = seeds.TENANT,
                 subscription: str = seeds.SUBSCRIPTION) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="np-azure-emulator-"))
        self.client_id, self.client_secret, self.tenant, self.subscription = client_id, client_secret, tenant, subscription
        self.lock = threading.RLock()
        self.requests: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        # Polls of an operation's status before it reports Succeeded (0 = done at the first poll).
        self.operation_polls = 1
        # Set to a status code to make the next managedClusters PUT fail with it (e.g. 412, 500).
        self.fail_next_cluster_put: int | None = None
        # Set to a message to make the next certificate rotation's operation fail with it.
        self.fail_next_rotation: str | None = None
        self.reset()
        self.ca_path, self.cert_path, self.key_path = make_ca_and_cert(self.workdir / "tls")
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    def reset(self) -> None:
        with self.lock:
            self.clusters = seeds.seed_clusters()
            self.maintenance = seeds.seed_maintenance()
            self.operations: dict[str, dict[str, Any]] = {}
            self.requests.clear()
            self.operation_polls = 1
            self.fail_next_cluster_put = None
            self.fail_next_rotation = None

    def start(self) -> Emulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="azure-emulator", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        assert self.server is not None, "emulator not started"
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    # -------------------------------------------------------------- helpers for tests

    def writes(self, path_contains: str = "") -> list[dict[str, Any]]:
        """Recorded ARM requests that change something (PUT, PATCH, POST, DELETE), token requests excluded.

        The credential listings are POSTs that read, so they are not writes."""
        return [r for r in self.requests if r["method"] in ("PUT", "PATCH", "POST", "DELETE")
                and "/subscriptions/" in r["path"] and path_contains in r["path"]
                and not r["path"].endswith(("/listClusterAdminCredential", "/listClusterUserCredential"))]

    def arm_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "/subscriptions/" in r["path"]]

    def cluster_body(self, rg: str, name: str) -> dict[str, Any]:
        with self.lock:
            return self._render_cluster(rg, name)

    def certificate_secrets(self) -> list[str]:
        """The private keys and tokens of every cluster's credentials handed out so far."""
        with self.lock:
            return [s for record in self.clusters.values() for s in pki.secrets_of(record)]

    def set_pool(self, rg: str, name: str, pool: str, **properties: Any) -> None:
        with self.lock:
            for record in self.clusters[(rg, name)]["_pools"]:
                if record["name"] == pool:
                    record["properties"].update(properties)

    # -------------------------------------------------------------- rendering

    def _cluster_id(self, rg: str, name: str) -> str:
        return f"/subscriptions/{self.subscription}/resourcegroups/{rg}/providers/{PROVIDER}/managedClusters/{name}"

    def _render_pool(self, rg: str, name: str, record: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{self._cluster_id(rg, name)}/agentPools/{record['name']}", "name": record["name"],
                "type": f"{PROVIDER}/managedClusters/agentPools", "properties": copy.deepcopy(record["properties"])}

    def _render_cluster(self, rg: str, name: str) -> dict[str, Any]:
        record = self.clusters.get((rg, name))
        if record is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{PROVIDER}/managedClusters/{name}' under "
                           f"resource group '{rg}' was not found. For more details please go to "
                           "https://aka.ms/ARMResourceNotFoundFix")
        body = {"id": self._cluster_id(rg, name), "name": name, "type": f"{PROVIDER}/ManagedClusters"}
        body.update({k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")})
        body["eTag"] = record.setdefault("_etag", uuid.uuid4().hex)
        body["properties"]["agentPoolProfiles"] = [
            {"name": p["name"], **copy.deepcopy(p["properties"])} for p in record["_pools"]]
        return body

    def _pool_record(self, rg: str, name: str, pool: str) -> dict[str, Any]:
        self._render_cluster(rg, name)
        for record in self.clusters[(rg, name)]["_pools"]:
            if record["name"] == pool:
                return record
        raise ArmError(404, "NotFound", f"Agent pool {pool} not found in managed cluster {name}.")

    # -------------------------------------------------------------- operations

    def _new_operation(self, kind: str, on_done: Any, result: Any = None) -> str:
        op_id = str(uuid.uuid4())
        self.operations[op_id] = {"kind": kind, "polls": 0, "needed": self.operation_polls, "on_done": on_done,
                                  "result": result, "status": "InProgress",
                                  "startTime": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        return op_id

    def _poll_operation(self, op_id: str) -> dict[str, Any]:
        op = self.operations.get(op_id)
        if op is None:
            raise ArmError(404, "NotFound", f"Operation {op_id} not found.")
        if op["status"] == "InProgress":
            if op["polls"] >= op["needed"]:
                op["endTime"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
                if op.get("error"):
                    op["status"] = "Failed"
                    op["on_fail"]()
                else:
                    op["status"] = "Succeeded"
                    if op["on_done"] is not None:
                        op["result"] = op["on_done"]()
            op["polls"] += 1
        return op

    def finish_operations(self) -> None:
        """Completes every operation still running (as if AKS finished in the background)."""
        with self.lock:
            for op in self.operations.values():
                op["needed"] = 0
            for op_id in list(self.operations):
                self._poll_operation(op_id)


_ARM = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ContainerService/"
    r"managedClusters/(?P<cluster>[^/]+)(?P<rest>/.*)?$", re.IGNORECASE)
_OPERATION = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.ContainerService/locations/[^/]+/"
                        r"(?P<kind>operations|operationresults)/(?P<op>[^/]+)$", re.IGNORECASE)


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        return

    # -------------------------------------------------------------- plumbing

    def _body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if not raw:
            return raw, None
        if "application/x-www-form-urlencoded" in ctype:
            return raw, {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw.decode()).items()}
        try:
            return raw, json.loads(raw)
        except ValueError:
            return raw, raw.decode(errors="replace")

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers)

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        raw, body = self._body()
        emulator = self.emulator
        record = {"method": self.command, "path": split.path, "query": query, "body": body,
                  "if_match": self.headers.get("If-Match"), "authorization": bool(self.headers.get("Authorization"))}
        with emulator.lock:
            if not split.path.startswith("/_emulator/"):
                emulator.requests.append(record)
            try:
                self._route(split.path, query, body)
            except ArmError as err:
                self._error(err.status, err.code, err.message)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _dispatch  # noqa: N815

    # -------------------------------------------------------------- routing

    def _route(self, path: str, query: dict[str, str], body: Any) -> None:
        emulator = self.emulator
        if path == "/_emulator/requests":
            self._send(200, emulator.requests)
            return
        if path == "/_emulator/reset" and self.command == "POST":
            emulator.reset()
            self._send(204)
            return
        if path == "/common/discovery/instance":
            base = emulator.url
            self._send(200, {"tenant_discovery_endpoint": f"{base}/{emulator.tenant}/v2.0/.well-known/openid-configuration",
                             "api-version": "1.1", "metadata": []})
            return
        match = re.match(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$", path)
        if match:
            self._openid(match.group("tenant"))
            return
        match = re.match(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$", path)
        if match and self.command == "POST":
            self._token(match.group("tenant"), body or {})
            return
        if path.startswith("/subscriptions/"):
            self._arm(path, query, body)
            return
        self._error(404, "NotFound", f"The emulator does not serve {self.command} {path}")

    def _openid(self, tenant: str) -> None:
        base = self.emulator.url
        if tenant not in (self.emulator.tenant, "organizations", "common"):
            self._send(400, {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."})
            return
        self._send(200, {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "emulator.local",
        })

    def _token(self, tenant: str, form: dict[str, Any]) -> None:
        emulator = self.emulator
        if tenant != emulator.tenant:
            self._send(400, {"error": "invalid_request", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."})
            return
        if form.get("grant_type") != "client_credentials":
            self._send(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: only client_credentials"})
            return
        if form.get("client_id") != emulator.client_id:
            self._send(400, {"error": "unauthorized_client", "error_description":
                             f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found."})
            return
        assertion = form.get("client_assertion")
        if assertion is not None:
            ok = form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" and \
                str(assertion).count(".") == 2
        else:
            ok = form.get("client_secret") == emulator.client_secret
        if not ok:
            self._send(401, {"error": "invalid_client", "error_description":
                             "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                             "request is the client secret value, not the client secret ID."})
            return
        scope = str(form.get("scope", ""))
        if not scope.endswith("/.default"):
            self._send(400, {"error": "invalid_scope", "error_description": f"AADSTS1002012: scope {scope} is not valid."})
            return
        token = secrets.token_urlsafe(24)
        emulator.tokens.add(token)
        self._send(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    # -------------------------------------------------------------- ARM

    def _arm(self, path: str, query: dict[str, str], body: Any) -> None:
        emulator = self.emulator
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in emulator.tokens:
            self._error(401, "InvalidAuthenticationToken", "The access token is invalid.",
                        {"WWW-Authenticate": f'Bearer authorization_uri="{emulator.url}/{emulator.tenant}", '
                                             'error="invalid_token"'})
            return
        if query.get("api-version") not in API_VERSIONS:
            self._error(400, "InvalidApiVersionParameter",
                        f"The api-version '{query.get('api-version')}' is invalid. The supported versions are "
                        f"'{', '.join(API_VERSIONS)}'.")
            return
        match = _OPERATION.match(path)
        if match:
            self._operation(match.group("kind").lower(), match.group("op"))
            return
        match = _ARM.match(path)
        if not match or match.group("sub") != emulator.subscription:
            self._error(404, "SubscriptionNotFound" if match else "NotFound",
                        f"The emulator does not serve {self.command} {path}")
            return
        rg, name, rest = match.group("rg"), match.group("cluster"), (match.group("rest") or "").rstrip("/")
        key = next((k for k in emulator.clusters if k[0].lower() == rg.lower() and k[1].lower() == name.lower()),
                   (rg, name))
        rg, name = key
        parts = [p for p in rest.split("/") if p]
        if not parts:
            if self.command == "GET":
                self._send(200, emulator._render_cluster(rg, name))
            elif self.command == "PUT":
                self._put_cluster(rg, name, body)
            else:
                self._error(405, "MethodNotAllowed", f"{self.command} on a managed cluster is not emulated")
            return
        emulator._render_cluster(rg, name)  # 404 for an unknown cluster
        if parts == ["upgradeProfiles", "default"] and self.command == "GET":
            self._send(200, self._cluster_upgrade_profile(rg, name))
        elif parts[0] == "agentPools":
            self._agent_pools(rg, name, parts[1:], body)
        elif parts[0] == "maintenanceConfigurations":
            self._maintenance(rg, name, parts[1:], body)
        elif parts in (["listClusterAdminCredential"], ["listClusterUserCredential"]) and self.command == "POST":
            self._send(200, pki.list_credentials(emulator, rg, name, "admin" if "Admin" in parts[0] else "user"))
        elif parts == ["rotateClusterCertificates"] and self.command == "POST":
            self._send(202, None, self._operation_headers(pki.start_rotation(emulator, rg, name), location=True))
        else:
            self._error(404, "NotFound", f"The emulator does not serve {self.command} {path}")

    def _operation_headers(self, op_id: str, location: bool = False) -> dict[str, str]:
        base = f"{self.emulator.url}/subscriptions/{self.emulator.subscription}/providers/{PROVIDER}/locations/" \
               f"{seeds.LOCATION}"
        headers = {"Azure-AsyncOperation": f"{base}/operations/{op_id}?api-version={API_VERSIONS[0]}",
                   "Retry-After-Ms": "50"}
        if location:
            headers["Location"] = f"{base}/operationresults/{op_id}?api-version={API_VERSIONS[0]}"
        return headers

    def _operation(self, kind: str, op_id: str) -> None:
        op = self.emulator._poll_operation(op_id)
        if kind == "operations":
            body = {"id": f"/subscriptions/{self.emulator.subscription}/providers/{PROVIDER}/locations/"
                          f"{seeds.LOCATION}/operations/{op_id}",
                    "name": op_id, "status": op["status"], "startTime": op["startTime"]}
            if op.get("endTime"):
                body["endTime"] = op["endTime"]
            if op["status"] == "Failed":
                body["error"] = op["error"]
            self._send(200, body, {"Retry-After-Ms": "50"} if op["status"] == "InProgress" else None)
            return
        if op["status"] == "InProgress":
            self._send(202, None, self._operation_headers(op_id, location=True))
        else:
            self._send(200, op["result"])

    def _put_cluster(self, rg: str, name: str, body: Any) -> None:
        emulator = self.emulator
        if not isinstance(body, dict) or not body.get("location"):
            raise ArmError(400, "InvalidParameter", "The value of parameter location is invalid.")
        if emulator.fail_next_cluster_put is not None:
            status, emulator.fail_next_cluster_put = emulator.fail_next_cluster_put, None
            raise ArmError(status, "InternalServerError" if status >= 500 else "PreconditionFailed",
                           "Injected failure from the emulator.")
        existing = emulator.clusters.get((rg, name))
        if_match = self.headers.get("If-Match")
        if if_match and if_match != "*" and (existing is None or if_match.strip('"') != existing.get("_etag")):
            raise ArmError(412, "PreconditionFailed", f"Operation failed: the provided eTag {if_match} does not match "
                           "the current eTag of the managed cluster. Re-read the resource and retry.")
        props = body.get("properties") or {}
        auto = props.get("autoUpgradeProfile") or {}
        pools = existing["_pools"] if existing else [
            {"name": p["name"], "latest": p.get("nodeImageVersion"), "properties": {k: v for k, v in p.items() if k != "name"}}
            for p in props.get("agentPoolProfiles") or []]
        self._check_auto_upgrade(auto, pools)
        record = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("id", "name", "type", "eTag", "systemData")}
        record["properties"] = {k: v for k, v in copy.deepcopy(props).items()
                                if k not in READONLY_CLUSTER_PROPS and k != "agentPoolProfiles"}
        kept = (existing or {}).get("properties", {})
        for ro in READONLY_CLUSTER_PROPS:
            if ro in kept:
                record["properties"][ro] = kept[ro]
        record["properties"]["provisioningState"] = "Updating" if existing else "Creating"
        record["_pools"] = pools
        record["_etag"] = uuid.uuid4().hex
        emulator.clusters[(rg, name)] = record

        def done() -> dict[str, Any]:
            record["properties"]["provisioningState"] = "Succeeded"
            return emulator._render_cluster(rg, name)

        op_id = emulator._new_operation("managedClusters.put", done)
        self._send(200 if existing else 201, emulator._render_cluster(rg, name), self._operation_headers(op_id))

    @staticmethod
    def _check_auto_upgrade(auto: dict[str, Any], pools: list[dict[str, Any]]) -> None:
        channel, node_os = auto.get("upgradeChannel"), auto.get("nodeOSUpgradeChannel")
        if channel is not None and channel not in ("none", "patch", "stable", "rapid", "node-image"):
            raise ArmError(400, "InvalidParameter", f"The value '{channel}' of autoUpgradeProfile.upgradeChannel is invalid.")
        if node_os is not None and node_os not in ("None", "Unmanaged", "SecurityPatch", "NodeImage"):
            raise ArmError(400, "InvalidParameter",
                           f"The value '{node_os}' of autoUpgradeProfile.nodeOSUpgradeChannel is invalid.")
        if channel == "node-image" and node_os not in (None, "NodeImage"):
            raise ArmError(400, "InvalidParameter", "NodeOSUpgradeChannel must be NodeImage when upgradeChannel is "
                           "node-image.")
        if node_os == "SecurityPatch" and any(p["properties"].get("osType") == "Windows" for p in pools):
            raise ArmError(400, "InvalidParameter", "SecurityPatch node OS upgrade channel is not supported for "
                           "Windows node pools.")

    def _cluster_upgrade_profile(self, rg: str, name: str) -> dict[str, Any]:
        emulator = self.emulator
        record = emulator.clusters[(rg, name)]
        upgrades = [{"kubernetesVersion": "1.33.5", "isPreview": False}, {"kubernetesVersion": "1.34.1"}]
        return {
            "id": f"{emulator._cluster_id(rg, name)}/upgradeprofiles/default", "name": "default",
            "type": f"{PROVIDER}/managedClusters/upgradeprofiles",
            "properties": {
                "controlPlaneProfile": {"kubernetesVersion": record["properties"].get("kubernetesVersion"),
                                        "osType": "Linux", "upgrades": upgrades},
                "agentPoolProfiles": [{"name": p["name"], "kubernetesVersion": p["properties"].get("orchestratorVersion"),
                                       "osType": p["properties"].get("osType"), "upgrades": upgrades}
                                      for p in record["_pools"]],
            },
        }

    def _agent_pools(self, rg: str, name: str, parts: list[str], body: Any) -> None:
        emulator = self.emulator
        if not parts:
            if self.command != "GET":
                raise ArmError(405, "MethodNotAllowed", "only GET on the agentPools collection")
            self._send(200, {"value": [emulator._render_pool(rg, name, p) for p in emulator.clusters[(rg, name)]["_pools"]]})
            return
        record = emulator._pool_record(rg, name, parts[0])
        rest = parts[1:]
        if not rest and self.command == "GET":
            self._send(200, emulator._render_pool(rg, name, record))
        elif rest == ["upgradeProfiles", "default"] and self.command == "GET":
            self._send(200, {
                "id": f"{emulator._cluster_id(rg, name)}/agentPools/{record['name']}/upgradeProfiles/default",
                "name": "default", "type": f"{PROVIDER}/managedClusters/agentPools/upgradeProfiles",
                "properties": {"kubernetesVersion": record["properties"].get("orchestratorVersion"),
                               "osType": record["properties"].get("osType"),
                               "upgrades": [{"kubernetesVersion": "1.33.5"}, {"kubernetesVersion": "1.34.1"}],
                               "latestNodeImageVersion": record["latest"]}})
        elif rest == ["upgradeNodeImageVersion"] and self.command == "POST":
            if record["properties"].get("provisioningState") not in ("Succeeded", "Failed"):
                raise ArmError(409, "OperationNotAllowed", f"Operation is not allowed because agent pool "
                               f"{record['name']} is in {record['properties'].get('provisioningState')} state.")
            record["properties"]["provisioningState"] = "UpgradingNodeImageVersion"

            def done() -> dict[str, Any]:
                record["properties"]["nodeImageVersion"] = record["latest"]
                record["properties"]["provisioningState"] = "Succeeded"
                return emulator._render_pool(rg, name, record)

            op_id = emulator._new_operation("agentPools.upgradeNodeImageVersion", done)
            self._send(202, emulator._render_pool(rg, name, record), self._operation_headers(op_id, location=True))
        else:
            raise ArmError(404, "NotFound", f"The emulator does not serve {self.command} agentPools/{'/'.join(parts)}")

    def _maintenance(self, rg: str, name: str, parts: list[str], body: Any) -> None:
        emulator = self.emulator
        configs = emulator.maintenance.setdefault((rg, name), {})

        def render(config: str) -> dict[str, Any]:
            return {"id": f"{emulator._cluster_id(rg, name)}/maintenanceConfigurations/{config}", "name": config,
                    "type": f"{PROVIDER}/managedClusters/maintenanceConfigurations",
                    "properties": copy.deepcopy(configs[config])}

        if not parts:
            if self.command != "GET":
                raise ArmError(405, "MethodNotAllowed", "only GET on the maintenanceConfigurations collection")
            self._send(200, {"value": [render(c) for c in sorted(configs)]})
            return
        config = parts[0]
        if self.command == "GET":
            if config not in configs:
                raise ArmError(404, "NotFound", f"Maintenance configuration {config} not found in managed cluster "
                               f"{name}.")
            self._send(200, render(config))
        elif self.command == "PUT":
            configs[config] = self._check_maintenance(config, (body or {}).get("properties") or {})
            self._send(200, render(config))
        elif self.command == "DELETE":
            existed = configs.pop(config, None) is not None
            self._send(200 if existed else 204)
        else:
            raise ArmError(405, "MethodNotAllowed", f"{self.command} on a maintenance configuration")

    @staticmethod
    def _check_maintenance(config: str, props: dict[str, Any]) -> dict[str, Any]:
        props = copy.deepcopy(props)
        if config not in ("default", "aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"):
            raise ArmError(400, "InvalidParameter", f"Maintenance configuration name {config} is invalid.")
        window = props.get("maintenanceWindow")
        if config == "default":
            if window:
                raise ArmError(400, "InvalidParameter", "maintenanceWindow is not supported for the default "
                               "maintenance configuration; use timeInWeek.")
            return props
        if not window:
            raise ArmError(400, "InvalidParameter", f"maintenanceWindow is required for {config}.")
        schedule = window.get("schedule") or {}
        kinds = [k for k in ("daily", "weekly", "absoluteMonthly", "relativeMonthly") if schedule.get(k)]
        if len(kinds) != 1:
            raise ArmError(400, "InvalidParameter", "Exactly one schedule type must be specified.")
        hours = window.get("durationHours")
        if not isinstance(hours, int) or not 4 <= hours <= 24:
            raise ArmError(400, "InvalidParameter", "durationHours must be between 4 and 24.")
        if not re.match(r"^\d{2}:\d{2}$", str(window.get("startTime", ""))):
            raise ArmError(400, "InvalidParameter", "startTime must be in format HH:mm.")
        window.setdefault("utcOffset", "+00:00")
        if not re.match(r"^(-|\+)[0-9]{2}:[0-9]{2}$", window["utcOffset"]):
            raise ArmError(400, "InvalidParameter", "utcOffset must be in format +/-HH:mm.")
        # AKS fills startDate with the day the configuration is created when none is given.
        window.setdefault("startDate", datetime.date.today().isoformat())
        return props


def main() -> None:  # pragma: no cover - manual use: python -m azure_emulator
    emulator = Emulator().start()
    print(json.dumps({"url": emulator.url, "ca": str(emulator.ca_path), "tenant": emulator.tenant,
                      "subscription": emulator.subscription, "client_id": emulator.client_id}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()
