# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificate authorities and the certificates they issue: the test bed's, and the Azure emulator's.

EC P-256 keys: generating them takes milliseconds, which keeps a warm start fast. `cryptography` is imported
here only, and only `up` (and the emulator) import this module.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The names a server certificate of the API server answers to, in-cluster and from this machine.
KUBERNETES_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local")


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: Any, traditional: bool = False) -> bytes:
    """PKCS#8, or with `traditional` the `BEGIN EC PRIVATE KEY` form that AKS' kubeconfigs carry."""
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return bytes(key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def public_pem(key: Any) -> bytes:
    return bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))


class Authority:
    """A self-signed CA (with key identifiers: strict verifiers such as Python 3.13's want them)."""

    def __init__(self, common_name: str, not_before: datetime.datetime, not_after: datetime.datetime) -> None:
        self.key = new_key()
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.not_before, self.not_after = not_before, not_after
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, common_name: str, orgs: Iterable[str] = (), server_names: Iterable[str] = (),
              ips: Iterable[str] = (), usage: str | None = "client",
              not_before: datetime.datetime | None = None,
              not_after: datetime.datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A certificate for a client (`usage="client"`), a server (`"server"`, with its names and addresses) or
        either (None: no extended key usage)."""
        key = new_key()
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(self.name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before or self.not_before).not_valid_after(not_after or self.not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(dns) for dns in server_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if usage is not None:
            oid = ExtendedKeyUsageOID.SERVER_AUTH if usage == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
            builder = builder.add_extension(x509.ExtendedKeyUsage([oid]), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


def write_pair(directory: Path, name: str, cert: x509.Certificate, key: Any) -> None:
    """<name>.crt and <name>.key (mode 600)."""
    (directory / f"{name}.crt").write_bytes(cert_pem(cert))
    path = directory / f"{name}.key"
    path.write_bytes(key_pem(key))
    path.chmod(0o600)


def generate_testbed_pki(pki: Path) -> None:
    """CA, API server serving cert, one client cert per component, service-account signing key."""
    pki.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca = Authority("nodepatch-testbed-ca", now, now + datetime.timedelta(days=365))
    write_pair(pki, "ca", ca.cert, ca.key)

    def issue(name: str, common_name: str, orgs: Iterable[str] = (), server: bool = False,
              ips: Iterable[str] = ("127.0.0.1", "10.96.0.1")) -> None:
        if server:
            cert, key = ca.issue(common_name, orgs, KUBERNETES_NAMES, ips, usage="server")
        else:
            cert, key = ca.issue(common_name, orgs)
        write_pair(pki, name, cert, key)

    issue("apiserver", "kube-apiserver", server=True)
    issue("admin", "nodepatch-testbed-admin", orgs=["system:masters"])
    issue("kube-controller-manager", "system:kube-controller-manager")
    issue("kube-scheduler", "system:kube-scheduler")
    # kwok acts for every kubelet and writes node and pod status for all of them; the Node authorizer would
    # want one identity per node, so kwok gets cluster-admin like in kwokctl's own clusters.
    issue("kwok", "kwok-controller", orgs=["system:masters"])
    # kwok's server is every node's kubelet endpoint: the API server verifies it against the CA, at the nodes'
    # address, and presents its kubelet client certificate (kwok does not check it).
    issue("kwok-serving", "kwok", server=True, ips=["127.0.0.1"])
    issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", orgs=["system:masters"])
    # The fault proxy (bed/fault_proxy.py) answers on loopback in front of the API server.
    issue("fault-proxy", "nodepatch-fault-proxy", server=True, ips=["127.0.0.1"])

    sa_key = new_key()
    (pki / "sa.key").write_bytes(key_pem(sa_key))
    (pki / "sa.key").chmod(0o600)
    (pki / "sa.pub").write_bytes(public_pem(sa_key))


def kubeconfig_yaml(api_url: str, ca_file: Path, user: dict[str, str], context: str) -> str:
    ca_data = base64.b64encode(ca_file.read_bytes()).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "nodepatch-testbed", "cluster": {"server": api_url, "certificate-authority-data": ca_data}}],
        "users": [{"name": context, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "nodepatch-testbed", "user": context}}],
        "current-context": context,
    }
    return json.dumps(doc, indent=2) + "\n"  # JSON is YAML; no dumper quirks


def client_cert_user(pki: Path, name: str) -> dict[str, str]:
    return {
        "client-certificate-data": base64.b64encode((pki / f"{name}.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((pki / f"{name}.key").read_bytes()).decode(),
    }
