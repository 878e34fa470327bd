# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator's cluster certificates: listClusterAdminCredential / listClusterUserCredential and
rotateClusterCertificates.

Each cluster gets, on first use, a real cluster CA and client certificates (generated with `cryptography`) whose
validity the seed chooses (``_certificates``: days before and after now, or absolute dates), plus static tokens.
The kubeconfigs are shaped like the ones AKS returns: base64 YAML under ``kubeconfigs[].value``, named
``clusterAdmin`` / ``clusterUser``. A cluster with Microsoft Entra integration (``aadProfile``) gets a kubelogin
``exec`` user in its user credentials, and one with ``disableLocalAccounts`` refuses admin credentials, as AKS
does. A rotation (202 + Azure-AsyncOperation + Location) shows ``RotatingClusterCertificates`` until its
operation finishes, then every certificate is new and lasts 30 years; an injected failure leaves the cluster
``Failed`` with the old certificates.
"""

from __future__ import annotations

import base64
import datetime
import secrets
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # pragma: no cover
    from .server import Emulator

ROTATED_LIFETIME = datetime.timedelta(days=30 * 365 + 7)
DEFAULT_SPEC = {"ca": (-100, 30 * 365), "client": (-100, 30 * 365)}


def _when(value: Any, now: datetime.datetime) -> datetime.datetime:
    if isinstance(value, (int, float)):
        return now + datetime.timedelta(days=value)
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def generate(name: str, spec: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """A cluster CA and two client certificates (admin, user) signed by it, with the validity ``spec`` gives."""
    from bed.pki import Authority, cert_pem, key_pem

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_from, ca_to = (_when(v, now) for v in spec["ca"])
    ca = Authority("ca", ca_from, ca_to)
    result: dict[str, Any] = {"ca_pem": cert_pem(ca.cert)}
    client_from, client_to = (_when(v, now) for v in spec["client"])
    for kind, common_name in (("admin", "masterclient"), ("user", "client")):
        cert, key = ca.issue(common_name, ["system:masters"], usage=None, not_before=client_from,
                             not_after=client_to)
        result[kind] = {"cert_pem": cert_pem(cert), "key_pem": key_pem(key, traditional=True),
                        "token": secrets.token_hex(32)}
    result["name"] = name
    return result


def cluster_pki(record: dict[str, Any], name: str) -> dict[str, Any]:
    if "_pki" not in record:
        record["_pki"] = generate(name, record.get("_certificates") or DEFAULT_SPEC)
    return record["_pki"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(record: dict[str, Any], rg: str, name: str, kind: str) -> str:
    pki = cluster_pki(record, name)
    props = record["properties"]
    user_name = f"cluster{'Admin' if kind == 'admin' else 'User'}_{rg}_{name}"
    if kind == "user" and props.get("aadProfile"):
        user: dict[str, Any] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
                                         "args": ["get-token", "--login", "devicecode", "--server-id",
                                                  "6dae42f8-4368-4678-94ff-3960e28e3630"],
                                         "provideClusterInfo": False, "interactiveMode": "IfNeeded"}}
    else:
        creds = pki[kind]
        user = {"client-certificate-data": _b64(creds["cert_pem"]), "client-key-data": _b64(creds["key_pem"]),
                "token": creds["token"]}
    context = f"{name}-admin" if kind == "admin" else name
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
        "clusters": [{"name": name, "cluster": {"certificate-authority-data": _b64(pki["ca_pem"]),
                                                "server": f"https://{props.get('fqdn')}:443"}}],
        "contexts": [{"name": context, "context": {"cluster": name, "user": user_name}}],
        "users": [{"name": user_name, "user": user}],
    }, sort_keys=False)


def secrets_of(record: dict[str, Any]) -> list[str]:
    """What must never appear in a module's output: private keys (PEM body lines and base64) and tokens."""
    found: list[str] = []
    for kind in ("admin", "user"):
        creds = (record.get("_pki") or {}).get(kind)
        if creds:
            found += [creds["token"], _b64(creds["key_pem"])]
            found += [line for line in creds["key_pem"].decode().splitlines() if not line.startswith("-----")]
    return found


def list_credentials(emulator: Emulator, rg: str, name: str, kind: str) -> dict[str, Any]:
    from .server import ArmError

    record = emulator.clusters[(rg, name)]
    if kind == "admin" and record["properties"].get("disableLocalAccounts"):
        raise ArmError(400, "BadRequest", "Getting static credential is not allowed because this cluster is set to "
                       "disable local accounts.")
    value = _b64(kubeconfig(record, rg, name, kind).encode())
    return {"kubeconfigs": [{"name": "clusterAdmin" if kind == "admin" else "clusterUser", "value": value}]}


def start_rotation(emulator: Emulator, rg: str, name: str) -> str:
    """Marks the cluster rotating and returns the operation that finishes (or fails) the rotation."""
    from .server import ArmError

    record = emulator.clusters[(rg, name)]
    props = record["properties"]
    if (props.get("powerState") or {}).get("code") == "Stopped":
        raise ArmError(400, "BadRequest", "Rotating certificates is not supported for a stopped cluster.")
    if props.get("provisioningState") not in ("Succeeded", "Failed"):
        raise ArmError(409, "OperationNotAllowed", f"Operation is not allowed because the managed cluster {name} "
                       f"is in {props.get('provisioningState')} state.")
    props["provisioningState"] = "RotatingClusterCertificates"
    failure, emulator.fail_next_rotation = emulator.fail_next_rotation, None

    def done() -> None:
        validity = (-1 / 24, ROTATED_LIFETIME.days)
        record["_pki"] = generate(name, {"ca": validity, "client": validity})
        props["provisioningState"] = "Succeeded"

    def failed() -> None:
        props["provisioningState"] = "Failed"

    op_id = emulator._new_operation("managedClusters.rotateClusterCertificates", done)
    if failure:
        emulator.operations[op_id].update(error={"code": "RotateCertificatesFailed", "message": failure},
                                          on_fail=failed)
    return op_id
