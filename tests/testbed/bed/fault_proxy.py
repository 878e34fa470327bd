# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fault-injecting HTTPS proxy in front of the API server, on loopback (`python bed/fault_proxy.py ...`).

It terminates TLS with a certificate from the test bed's CA and sends each request on to the API server as it
came, the client's `Authorization` header included: a token-authenticated client (the least-privilege kubeconfig
the modules use) keeps its real authentication and RBAC. Client certificates cannot pass a TLS terminator, so
a client-certificate user reaches the API server anonymous: use a token through the proxy.

Faults are rules posted to its control endpoint, answered by the proxy itself instead of the API server:

    POST   /_nodepatch/faults   {"method": "GET|PATCH", "path": "^/apis/apps/v1/.*/daemonsets/kured$",
                                 "status": 429, "count": 3, "retry_after": 1}   -> {"id": 1}
    GET    /_nodepatch/faults   {"rules": [... with "remaining"], "log": [{"method", "path", "status", "rule"}]}
    DELETE /_nodepatch/faults   every rule and the log cleared

`method` and `path` are regular expressions matched in full against the request's method and URL path (the
query left out); the next `count` matching requests get `status` with a Kubernetes Status body (and a
Retry-After header when `retry_after` is given). Rules are tried in the order they were posted. Connection
upgrades (exec, port-forward) are refused with 501: they are not what the proxy is for.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CONTROL = "/_nodepatch/faults"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
REASONS = {429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
           504: "Timeout"}


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.next_id = 1

    def add(self, rule: dict[str, Any]) -> dict[str, Any]:
        status = int(rule["status"])
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
        entry = {"id": 0, "method": str(rule.get("method", ".*")), "path": str(rule.get("path", ".*")),
                 "status": status, "remaining": int(rule.get("count", 1)),
                 "retry_after": rule.get("retry_after")}
        re.compile(entry["method"])
        re.compile(entry["path"])
        with self.lock:
            entry["id"] = self.next_id
            self.next_id += 1
            self.rules.append(entry)
        return entry

    def take(self, method: str, path: str) -> dict[str, Any] | None:
        """The rule this request meets (one of its `count` used up), or None: the request goes through."""
        with self.lock:
            for rule in self.rules:
                if rule["remaining"] > 0 and re.fullmatch(rule["method"], method) and re.fullmatch(rule["path"], path):
                    rule["remaining"] -= 1
                    self.log.append({"method": method, "path": path, "status": rule["status"], "rule": rule["id"]})
                    return rule
            self.log.append({"method": method, "path": path, "status": 0, "rule": None})
            return None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"rules": [dict(r) for r in self.rules], "log": list(self.log)}

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.log.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the control endpoint's log says what was faulted; every request would drown it

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _control(self, body: bytes) -> None:
        faults = self.server.faults
        if self.command == "POST":
            try:
                self._send_json(201, faults.add(json.loads(body or b"{}")))
            except (KeyError, ValueError, re.error) as err:
                self._send_json(400, {"error": f"bad fault rule: {err}"})
        elif self.command == "DELETE":
            faults.clear()
            self._send_json(200, {"cleared": True})
        else:
            self._send_json(200, faults.snapshot())

    def _fault(self, rule: dict[str, Any]) -> None:
        status = rule["status"]
        reason = REASONS.get(status, "InternalError")
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": reason,
                "code": status, "message": f"injected by the test bed's fault proxy (rule {rule['id']})"}
        headers = {}
        if rule.get("retry_after") is not None:
            headers["Retry-After"] = str(rule["retry_after"])
            body["details"] = {"retryAfterSeconds": int(float(rule["retry_after"]))}
        self._send_json(status, body, headers)

    def _upstream(self) -> http.client.HTTPSConnection:
        conn = getattr(self, "upstream", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.server.upstream_host, self.server.upstream_port,
                                               context=self.server.upstream_context, timeout=600)
            self.upstream = conn
        return conn

    def _forward(self, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        conn = self._upstream()
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            self.upstream = None
            self._send_json(502, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "BadGateway",
                                  "code": 502, "message": f"fault proxy: the API server did not answer: {err}"})
            return
        self.send_response(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        for key, value in resp.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        if length is not None:
            self.send_header("Content-Length", length)
            self.end_headers()
            self.wfile.write(resp.read())
            return
        # A stream (watch) or a body of unknown length: passed on chunk by chunk as it arrives.
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path == CONTROL:
            self._control(body)
            return
        if self.headers.get("Upgrade"):
            self.close_connection = True
            self._send_json(501, {"error": "the fault proxy does not carry connection upgrades (exec, port-forward)"})
            return
        rule = self.server.faults.take(self.command, path)
        if rule is not None:
            self._fault(rule)
        else:
            self._forward(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream_port: int, pki: Path) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.faults = Faults()
        self.upstream_host, self.upstream_port = "127.0.0.1", upstream_port
        self.upstream_context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serving.load_cert_chain(str(pki / "fault-proxy.crt"), str(pki / "fault-proxy.key"))
        self.socket = serving.wrap_socket(self.socket, server_side=True)


def argv(python: str, port: int, upstream_port: int, pki: Path) -> list[str]:
    return [python, str(Path(__file__).resolve()), f"--port={port}", f"--upstream-port={upstream_port}",
            f"--pki={pki}"]


def main() -> int:
    top = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", maxsplit=1)[0])
    top.add_argument("--port", type=int, required=True)
    top.add_argument("--upstream-port", type=int, required=True)
    top.add_argument("--pki", type=Path, required=True)
    args = top.parse_args()
    ProxyServer(args.port, args.upstream_port, args.pki).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
