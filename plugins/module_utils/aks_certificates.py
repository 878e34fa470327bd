# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AKS cluster certificates: what the credentials AKS hands out say about expiry, and whether to rotate.

Pure: the kubeconfig documents returned by ``listClusterUserCredential`` / ``listClusterAdminCredential`` go in,
certificate facts and a rotation decision come out; time is an argument. Only the public parts of a kubeconfig
(certificate data) are parsed into facts. Keys and tokens are only ever collected by ``kubeconfig_secrets``, so
the module can tell Ansible to mask them; they never reach a fact or a message.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import typing as t
from dataclasses import dataclass, field

from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

try:
    import yaml
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtensionOID
except ImportError as _import_error:  # pragma: no cover - reported by the module before any use
    CERTIFICATES_IMPORT_ERROR: Exception | None = _import_error
else:
    CERTIFICATES_IMPORT_ERROR = None

UTC = datetime.timezone.utc
# The provisioning state AKS shows while rotateClusterCertificates runs.
ROTATING_STATE = "RotatingClusterCertificates"
# Microsoft's certificate-rotation page: clusters created before this got certificates that expire after two years
# (older revisions of the page say March 2019, newer ones May 2019; the later date covers both).
TWO_YEAR_ERA_END = datetime.datetime(2019, 5, 1, tzinfo=UTC)
# RBAC-enabled clusters created after March 2022 rotate their non-CA certificates automatically (TLS bootstrapping).
AUTO_ROTATION_FROM = datetime.datetime(2022, 3, 1, tzinfo=UTC)
DOWNTIME_WARNING = ("rotating the cluster certificates recreates the agent nodes and can mean up to 30 minutes of "
                    "API server downtime; every kubeconfig of the cluster must be fetched again afterwards "
                    "(az aks get-credentials --overwrite-existing)")
_SECRET_USER_FIELDS = ("client-key-data", "token", "password")
_DAY = 86400.0


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(moment: datetime.datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: t.Any) -> datetime.datetime | None:
    """An ARM timestamp (``2019-01-15T10:00:00.1234567Z``, 7 fraction digits) as an aware datetime, or None."""
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    head, sep, rest = text.partition(".")
    if sep:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        return _utc(datetime.datetime.fromisoformat(text))
    except ValueError:
        return None


@dataclass(frozen=True)
class CertificateFacts:
    """The public facts of one certificate found in a kubeconfig."""

    name: str  # cluster_ca, or client/<user entry>
    role: str  # cluster_ca or client
    kubeconfig: str  # the credential AKS named it: clusterUser, clusterAdmin
    subject: str
    issuer: str
    serial_number: str
    fingerprint_sha256: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    is_ca: bool

    def days_left(self, now: datetime.datetime) -> float:
        return (self.not_after - _utc(now)).total_seconds() / _DAY

    @property
    def lifetime_days(self) -> int:
        return round((self.not_after - self.not_before).total_seconds() / _DAY)

    def as_dict(self, now: datetime.datetime) -> dict[str, t.Any]:
        left = self.days_left(now)
        return {"name": self.name, "role": self.role, "kubeconfig": self.kubeconfig, "subject": self.subject,
                "issuer": self.issuer, "serial_number": self.serial_number,
                "fingerprint_sha256": self.fingerprint_sha256, "not_before": format_time(self.not_before),
                "not_after": format_time(self.not_after), "days_left": int(left // 1), "expired": left <= 0,
                "lifetime_days": self.lifetime_days, "is_ca": self.is_ca}


def _decode_data(value: t.Any, what: str, target: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise NodepatchError(f"the {what} is not valid base64", target=target,
                             hint="the credentials AKS returned are damaged; fetch them again") from None


def _load_pem(data: bytes, what: str, target: str) -> list[t.Any]:
    try:
        return list(x509.load_pem_x509_certificates(data))
    except ValueError as error:
        raise NodepatchError(f"the {what} is not a PEM certificate: {error}", target=target) from None


def _facts(cert: t.Any, name: str, role: str, kubeconfig: str) -> CertificateFacts:
    try:
        is_ca = bool(cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateFacts(
        name=name, role=role, kubeconfig=kubeconfig, subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(), serial_number=f"{cert.serial_number:x}",
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(":"),
        not_before=_utc(cert.not_valid_before_utc), not_after=_utc(cert.not_valid_after_utc), is_ca=is_ca)


def _load_kubeconfig(text: str | bytes, target: str) -> dict[str, t.Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        # The parser's message quotes the document, which can hold keys: say only that it failed.
        raise NodepatchError("the kubeconfig AKS returned is not valid YAML", target=target) from None
    if not isinstance(document, dict):
        raise NodepatchError("the kubeconfig AKS returned is not a mapping", target=target)
    return document


def kubeconfig_secrets(text: str | bytes) -> list[str]:
    """Every secret value of a kubeconfig (keys base64 and decoded, tokens, passwords), to be masked."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    if not isinstance(document, dict):
        return []
    found: list[str] = []
    for user in document.get("users") or []:
        body = (user or {}).get("user") or {}
        for key in _SECRET_USER_FIELDS:
            value = body.get(key)
            if value:
                found.append(str(value))
                if key == "client-key-data":
                    try:
                        found.extend(line for line in base64.b64decode(str(value)).decode().splitlines()
                                     if line and not line.startswith("-----"))
                    except (binascii.Error, ValueError):
                        pass
        for value in ((body.get("auth-provider") or {}).get("config") or {}).values():
            if value and len(str(value)) >= 16:
                found.append(str(value))
    return found


def parse_kubeconfig(kubeconfig: str, text: str | bytes, target: str = "credentials") -> list[CertificateFacts]:
    """The cluster CA(s) and client certificates of one kubeconfig AKS returned (named ``kubeconfig``)."""
    where = f"{target} ({kubeconfig})"
    document = _load_kubeconfig(text, where)
    found: list[CertificateFacts] = []
    for entry in document.get("clusters") or []:
        data = ((entry or {}).get("cluster") or {}).get("certificate-authority-data")
        if not data:
            continue
        certs = _load_pem(_decode_data(data, "certificate-authority-data", where), "cluster CA", where)
        for index, cert in enumerate(certs):
            found.append(_facts(cert, "cluster_ca" if index == 0 else f"cluster_ca/{index}", "cluster_ca", kubeconfig))
    for entry in document.get("users") or []:
        data = ((entry or {}).get("user") or {}).get("client-certificate-data")
        if not data:
            continue
        certs = _load_pem(_decode_data(data, "client-certificate-data", where), "client certificate", where)
        found.extend(_facts(cert, f"client/{entry.get('name')}", "client", kubeconfig) for cert in certs[:1])
    return found


def merge_certificates(groups: t.Iterable[list[CertificateFacts]]) -> list[CertificateFacts]:
    """All kubeconfigs' certificates with each certificate once (the cluster CA is in every kubeconfig)."""
    seen: set[tuple[str, str]] = set()
    merged: list[CertificateFacts] = []
    for group in groups:
        for cert in group:
            key = (cert.role, cert.fingerprint_sha256)
            if key not in seen:
                seen.add(key)
                merged.append(cert)
    return merged


def lifetime_facts(created_at: t.Any, certificates: t.Sequence[CertificateFacts], rbac: bool | None) -> dict[str, t.Any]:
    """Why the certificates last as long as they do, from the cluster's creation date (ARM systemData)."""
    created = parse_time(created_at)
    ca = next((c for c in certificates if c.role == "cluster_ca"), None)
    facts: dict[str, t.Any] = {
        "created_at": format_time(created) if created else None,
        "two_year_certificates": None if created is None else created < TWO_YEAR_ERA_END,
        "auto_rotation": None if created is None else bool(rbac) and created >= AUTO_ROTATION_FROM,
        "cluster_ca_lifetime_days": ca.lifetime_days if ca else None,
    }
    if created is None:
        note = "the cluster's creation date is unknown (no systemData.createdAt)"
    elif created < TWO_YEAR_ERA_END:
        note = (f"created {created.date().isoformat()}, before May 2019: AKS issued this cluster certificates that "
                "expire after two years; a rotation replaces them with 30-year ones")
    else:
        note = f"created {created.date().isoformat()}, after May 2019: the cluster CA lasts 30 years"
        if facts["auto_rotation"]:
            note += "; as an RBAC-enabled cluster created after March 2022 its non-CA certificates rotate automatically"
    if ca is not None:
        note += f"; the cluster CA found lasts {ca.lifetime_days} days in all"
    facts["explanation"] = note
    return facts


# --------------------------------------------------------------------------------------------------- decision


@dataclass
class RotationDecision:
    rotate: bool
    due: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    refused: str | None = None  # why a rotation that is wanted cannot start now
    hint: str | None = None


def _expiry_phrase(cert: CertificateFacts, now: datetime.datetime) -> str:
    left = cert.days_left(now)
    when = format_time(cert.not_after)
    if left <= 0:
        return f"{cert.name} expired {int(-left // 1)} day(s) ago ({when})"
    return f"{cert.name} expires in {int(left // 1)} day(s) ({when})"


def decide_rotation(certificates: t.Sequence[CertificateFacts], now: datetime.datetime, within_days: int,
                    force: bool, provisioning_state: str | None, power_state: str | None) -> RotationDecision:
    """Rotate when a certificate expires within ``within_days`` (or ``force``), and only from a quiet cluster.

    A wanted rotation on a cluster that is not ``Succeeded`` (already rotating, updating, failed) or is stopped is
    ``refused``: the caller reports it without writing anything.
    """
    if within_days < 0:
        raise NodepatchError(f"rotate_within_days={within_days} is negative", target="rotate_within_days",
                             hint="use 0 (only expired certificates) or more days")
    ordered = sorted(certificates, key=lambda c: c.not_after)
    due = [c for c in ordered if c.days_left(now) <= within_days]
    decision = RotationDecision(rotate=bool(due) or force, due=[c.name for c in due])
    if due:
        decision.reasons = [f"{_expiry_phrase(c, now)}, within rotate_within_days={within_days}" for c in due]
    elif ordered:
        decision.reasons = [f"no certificate expires within rotate_within_days={within_days}; the first to expire: "
                            f"{_expiry_phrase(ordered[0], now)}"]
    else:
        decision.reasons = ["the credentials hold no certificate to check"]
    if force:
        decision.reasons.append("force=true: rotate whatever the expiry")
    if not decision.rotate:
        return decision
    if provisioning_state == ROTATING_STATE:
        decision.refused = "a certificate rotation is already running on the cluster"
        decision.hint = "wait for it to finish (provisioningState back to Succeeded), then run the task again"
    elif str(power_state or "").lower() == "stopped":
        decision.refused = "the cluster is stopped, and AKS cannot rotate the certificates of a stopped cluster"
        decision.hint = "start it (az aks start) first"
    elif provisioning_state != "Succeeded":
        decision.refused = f"the cluster's provisioningState is {provisioning_state}, not Succeeded"
        decision.hint = ("wait until the running operation has finished; a cluster left Failed by an earlier rotation "
                         "must be reconciled (az aks update) before it is rotated again")
    return decision
