#!/usr/bin/python
# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: aks_certificates
short_description: Report when an AKS cluster's certificates expire, and rotate them within a threshold
version_added: 0.1.0
description:
  - Reads the credentials AKS hands out for the cluster (C(listClusterUserCredential) or
    C(listClusterAdminCredential)) and reports, for the cluster CA and the client certificate of each kubeconfig,
    subject, issuer, serial number, SHA-256 fingerprint, validity and days left; together with the cluster's
    provisioning state and the creation-era facts that explain the lifetime (clusters created before spring 2019
    got certificates that expire after two years, later ones a 30-year cluster CA).
  - Private keys, tokens and passwords of the credentials are never returned and are masked in every output.
  - With O(state=rotated) the module starts C(rotateClusterCertificates) when a certificate expires within
    O(rotate_within_days) days, or always with O(force=true). It refuses, before writing anything, while the
    cluster is not V(Succeeded) (already rotating, updating, failed) or is stopped.
  - A rotation recreates the agent nodes and can mean up to 30 minutes of API server downtime, and every kubeconfig
    of the cluster must be fetched again afterwards; the module warns about both. Hold the cluster's reboot lock
    meanwhile (the C(nodepatch.kube.aks_certificates) role does) so that no node reboot adds to it.
author:
  - nodepatch maintainers (@nodepatch)
requirements:
  - cryptography >= 42.0.0 (Python library, on the controller; installed with azure-identity)
extends_documentation_fragment:
  - nodepatch.kube.azure
  - nodepatch.kube.azure.cluster
  - nodepatch.kube.attributes
options:
  state:
    description:
      - V(inspected) only reports. V(rotated) rotates the certificates when the threshold (or O(force)) says so.
    type: str
    choices: [inspected, rotated]
    default: inspected
  credentials:
    description:
      - Which credentials to read. V(user) needs the least privilege and works on Microsoft Entra clusters, whose
        user kubeconfig has only the cluster CA. V(admin) also reports the admin client certificate; AKS refuses it
        on clusters with local accounts disabled.
    type: str
    choices: [user, admin]
    default: user
  rotate_within_days:
    description:
      - A certificate that expires within this many days (or has expired) makes the rotation due. V(0) rotates only
        expired certificates.
    type: int
    default: 30
  force:
    description: Rotate with O(state=rotated) whatever the expiry dates.
    type: bool
    default: false
  wait:
    description: Follow the rotation (a long-running operation) until it finishes, then read the new certificates.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the rotation when O(wait=true).
    type: int
    default: 3600
  kubeconfig_path:
    description:
      - After a rotation the module followed, write the cluster's new credentials (O(credentials)) to this file,
        as C(az aks get-credentials --file) would - replaced atomically, mode C(0600). Old kubeconfigs stop working
        with the rotation; this keeps one that a later task (such as the release of the reboot lock) can use.
      - Nothing is written when no rotation ran, in check mode, or with O(wait=false).
    type: path
attributes:
  check_mode:
    support: full
    details: Reads the credentials and reports whether a rotation would start and why (RV(action=would_rotate)).
  diff_mode:
    support: full
    details: The expiry of each certificate before and after (after is only known with O(wait=true)).
  idempotent:
    support: full
    details: Rotated certificates are far from the threshold, so a second run starts nothing.
seealso:
  - module: nodepatch.kube.aks_upgrade_info
  - name: Certificate rotation in Azure Kubernetes Service
    description: Which certificates AKS keeps, their lifetimes, and what a rotation does.
    link: https://learn.microsoft.com/azure/aks/certificate-rotation
"""

EXAMPLES = r"""
- name: When do the certificates of aks-prod expire?
  nodepatch.kube.aks_certificates:
    resource_group: rg-prod
    cluster_name: aks-prod
  register: certs

- name: Rotate them when one expires within 45 days, and wait for the rotation
  nodepatch.kube.aks_certificates:
    resource_group: rg-prod
    cluster_name: aks-prod
    state: rotated
    rotate_within_days: 45
    credentials: admin
"""

RETURN = r"""
cluster:
  description: The cluster and the facts that explain its certificates' lifetime.
  returned: always
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
    resource_group:
      description: Resource group.
      type: str
    id:
      description: ARM resource ID.
      type: str
    provisioning_state:
      description: Provisioning state (after the rotation when one was followed); V(RotatingClusterCertificates) while rotating.
      type: str
    power_state:
      description: V(Running) or V(Stopped).
      type: str
    kubernetes_version:
      description: The cluster's current Kubernetes version.
      type: str
    created_at:
      description: When the cluster was created (ARM C(systemData.createdAt)), or null when unknown.
      type: str
    two_year_certificates:
      description: Whether the cluster is from before May 2019, when AKS issued certificates that last two years.
      type: bool
    auto_rotation:
      description: Whether AKS rotates the non-CA certificates by itself (RBAC-enabled, created after March 2022).
      type: bool
    cluster_ca_lifetime_days:
      description: Total validity of the cluster CA, in days.
      type: int
    explanation:
      description: The lifetime facts in a sentence.
      type: str
credentials:
  description: Which credentials were read (V(user) or V(admin)).
  returned: always
  type: str
certificates:
  description: Each certificate found, once (the cluster CA is in every kubeconfig).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: V(cluster_ca), or C(client/) and the kubeconfig's user entry.
      type: str
    role:
      description: V(cluster_ca) or V(client).
      type: str
    kubeconfig:
      description: The credential it came from, V(clusterUser) or V(clusterAdmin).
      type: str
    subject:
      description: Subject (RFC 4514).
      type: str
    issuer:
      description: Issuer (RFC 4514).
      type: str
    serial_number:
      description: Serial number, hexadecimal.
      type: str
    fingerprint_sha256:
      description: SHA-256 fingerprint, colon separated.
      type: str
    not_before:
      description: Start of validity, UTC.
      type: str
    not_after:
      description: End of validity, UTC.
      type: str
    days_left:
      description: Whole days until RV(certificates[].not_after); negative once expired.
      type: int
    expired:
      description: Whether it has expired.
      type: bool
    lifetime_days:
      description: Total validity in days.
      type: int
    is_ca:
      description: Whether it is a CA certificate.
      type: bool
  sample:
    - name: cluster_ca
      role: cluster_ca
      kubeconfig: clusterUser
      subject: CN=ca
      issuer: CN=ca
      serial_number: 5e0c1f
      fingerprint_sha256: "3a:1f:...:9c"
      not_before: "2019-01-15T09:30:12Z"
      not_after: "2021-01-14T09:30:12Z"
      days_left: 20
      expired: false
      lifetime_days: 730
      is_ca: true
earliest_expiry:
  description: When the first certificate expires, UTC.
  returned: always
  type: str
  sample: "2026-12-21T09:30:12Z"
days_left:
  description: Whole days until the first certificate expires.
  returned: always
  type: int
  sample: 20
due:
  description: Names of the certificates within O(rotate_within_days).
  returned: always
  type: list
  elements: str
  sample: [cluster_ca, client/clusterUser_rg-prod_aks-prod]
rotation_due:
  description: Whether a rotation is due (a certificate within the threshold, or O(force)).
  returned: always
  type: bool
refused:
  description: Why a due rotation cannot start now (busy or stopped cluster), or null.
  returned: always
  type: str
reasons:
  description: Why the rotation is due or not, one sentence per certificate that counts.
  returned: always
  type: list
  elements: str
  sample: ["cluster_ca expires in 20 day(s) (2026-12-21T09:30:12Z), within rotate_within_days=30"]
action:
  description:
    - V(none) (nothing due), V(rotation_due) (O(state=inspected) and a rotation is due), V(would_rotate) (check
      mode), V(rotation_started) (O(wait=false)) or V(rotated).
  returned: always
  type: str
  sample: rotated
rotated:
  description: The certificates replaced by the rotation, with their expiry before and (when waited) after.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Certificate name.
      type: str
    not_after_before:
      description: Expiry before the rotation.
      type: str
    not_after_after:
      description: Expiry of its replacement.
      type: str
      returned: when RV(action=rotated)
certificates_after:
  description: The certificates read after the rotation, shaped like RV(certificates).
  returned: when RV(action=rotated)
  type: list
  elements: dict
kubeconfig_saved:
  description: Whether the new credentials were written to O(kubeconfig_path).
  returned: when RV(action=rotated)
  type: bool
progress:
  description: The statuses the rotation's operation went through, with seconds since it started.
  returned: when RV(action=rotated)
  type: list
  elements: dict
  sample: [{status: InProgress, after_seconds: 0.0}, {status: Succeeded, after_seconds: 1312.4}]
msg:
  description: What happened, in a sentence.
  returned: always
  type: str
"""

import os
import tempfile

from ansible_collections.nodepatch.kube.plugins.module_utils.aks_api import manage_certificates
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_certificates import CERTIFICATES_IMPORT_ERROR
from ansible_collections.nodepatch.kube.plugins.module_utils.aks_module import AzureModule
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError
from ansible_collections.nodepatch.kube.plugins.module_utils.files import check_writable_directory

MESSAGES = {
    "none": "no certificate expires within {days} days; nothing to rotate",
    "rotation_due": "a certificate rotation is due: {due}",
    "would_rotate": "would rotate the cluster certificates: {due}",
    "rotation_started": "certificate rotation started; fetch every kubeconfig again once it has finished",
    "rotated": "certificates rotated; fetch every kubeconfig of the cluster again (az aks get-credentials)",
}


def save_kubeconfig(path: str, content: bytes) -> None:
    """Atomically, never readable by others for a moment: it holds keys and tokens."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)  # created 0600
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        raise NodepatchError(f"the certificates were rotated, but the new credentials cannot be written to {path}: "
                             f"{error.strerror}", target="kubeconfig_path",
                             hint="fetch them with az aks get-credentials --overwrite-existing") from None


def main() -> None:
    module = AzureModule(
        argument_spec={
            "state": {"type": "str", "choices": ["inspected", "rotated"], "default": "inspected"},
            "credentials": {"type": "str", "choices": ["user", "admin"], "default": "user"},
            "rotate_within_days": {"type": "int", "default": 30},
            "force": {"type": "bool", "default": False},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 3600},
            "kubeconfig_path": {"type": "path"},
        },
        supports_check_mode=True,
    )
    if CERTIFICATES_IMPORT_ERROR is not None:
        module.fail_json(msg="the cryptography and PyYAML Python libraries are required on the controller",
                         exception=str(CERTIFICATES_IMPORT_ERROR))
    module.require_at_least(wait_timeout=0)
    p = module.params
    if p["kubeconfig_path"]:
        try:
            check_writable_directory("kubeconfig_path", p["kubeconfig_path"])
        except ValueError as error:
            module.fail_json(msg=str(error))
    try:
        result = manage_certificates(module.api, p["resource_group"], p["cluster_name"], p["credentials"], p["state"],
                                     p["rotate_within_days"], p["force"], module.check_mode, p["wait"],
                                     p["wait_timeout"], module.module.no_log_values.update,
                                     (lambda content: save_kubeconfig(p["kubeconfig_path"], content))
                                     if p["kubeconfig_path"] else None)
    except NodepatchError as error:
        module.fail_from(error)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    due = ", ".join(result["due"]) or ("forced" if p["force"] else "none")
    result["msg"] = MESSAGES[result["action"]].format(days=p["rotate_within_days"], due=due)
    if module.diff_mode:
        before = {c["name"]: c["not_after"] for c in result["certificates"]}
        after = dict(before)
        for entry in result["rotated"]:
            after[entry["name"]] = entry.get("not_after_after") or "(replaced by the rotation)"
        result["diff"] = {"before": before, "after": after}
    module.exit_json(changed=result["action"] in ("would_rotate", "rotation_started", "rotated"), **result)


if __name__ == "__main__":
    main()
