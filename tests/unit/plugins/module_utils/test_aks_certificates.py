# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import base64
import datetime
import typing as t

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.nodepatch.kube.plugins.module_utils.aks_certificates import (
    ROTATING_STATE,
    CertificateFacts,
    decide_rotation,
    format_time,
    kubeconfig_secrets,
    lifetime_facts,
    merge_certificates,
    parse_kubeconfig,
    parse_time,
)
from ansible_collections.nodepatch.kube.plugins.module_utils.errors import NodepatchError

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def make_cert(cn: str, not_before: datetime.datetime, not_after: datetime.datetime, issuer: t.Any = None,
              ca: bool = False, rsa_key: bool = False) -> tuple[x509.Certificate, t.Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key else ec.generate_private_key(
        ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer_key, hashes.SHA256()), key


def pem(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


def key_data(key: t.Any) -> str:
    return base64.b64encode(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())).decode()


@pytest.fixture(scope="module")
def pki() -> dict[str, t.Any]:
    ca, ca_key = make_cert("ca", NOW - 710 * DAY, NOW + 20 * DAY, ca=True, rsa_key=True)
    client, client_key = make_cert("masterclient", NOW - 700 * DAY, NOW + 30 * DAY + datetime.timedelta(hours=1),
                                   issuer=(ca, ca_key))
    return {"ca": ca, "client": client, "client_key": client_key}


def kubeconfig(pki: dict[str, t.Any], token: str = "0123456789abcdef0123456789abcdef") -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "aks-2019", "cluster": {"certificate-authority-data": pem(pki["ca"]),
                                                      "server": "https://aks-2019.hcp.example:443"}}],
        "users": [{"name": "clusterAdmin_rg_aks-2019", "user": {
            "client-certificate-data": pem(pki["client"]), "client-key-data": key_data(pki["client_key"]),
            "token": token}}],
        "contexts": [{"name": "aks-2019-admin", "context": {"cluster": "aks-2019", "user": "clusterAdmin_rg_aks-2019"}}],
    })


def facts(name: str, days_left: float, role: str = "client") -> CertificateFacts:
    return CertificateFacts(name=name, role=role, kubeconfig="clusterUser", subject="CN=x", issuer="CN=ca",
                            serial_number="1", fingerprint_sha256=name, not_before=NOW - 700 * DAY,
                            not_after=NOW + days_left * DAY, is_ca=role == "cluster_ca")


# ------------------------------------------------------------------------------------------------- parsing


def test_kubeconfig_yields_the_ca_and_the_client_certificate_with_expiry(pki: dict[str, t.Any]) -> None:
    certs = parse_kubeconfig("clusterAdmin", kubeconfig(pki))
    assert [c.name for c in certs] == ["cluster_ca", "client/clusterAdmin_rg_aks-2019"]
    ca, client = (c.as_dict(NOW) for c in certs)
    assert ca["role"] == "cluster_ca" and ca["is_ca"] is True and ca["subject"] == "CN=ca"
    assert ca["days_left"] == 20 and ca["lifetime_days"] == 730 and ca["expired"] is False
    assert ca["not_after"] == format_time(NOW + 20 * DAY) == "2026-12-21T12:00:00Z"
    assert client["issuer"] == "CN=ca" and client["is_ca"] is False and client["days_left"] == 30
    assert client["kubeconfig"] == "clusterAdmin"
    assert len(ca["fingerprint_sha256"].split(":")) == 32


def test_facts_carry_no_secret(pki: dict[str, t.Any]) -> None:
    text = kubeconfig(pki)
    rendered = repr([c.as_dict(NOW) for c in parse_kubeconfig("clusterAdmin", text)])
    for secret in kubeconfig_secrets(text):
        assert secret not in rendered


def test_secrets_are_the_key_its_decoded_lines_and_the_token(pki: dict[str, t.Any]) -> None:
    found = kubeconfig_secrets(kubeconfig(pki, token="tok-" + "z" * 40))
    assert key_data(pki["client_key"]) in found and "tok-" + "z" * 40 in found
    body_line = base64.b64decode(key_data(pki["client_key"])).decode().splitlines()[1]
    assert body_line in found
    assert not any(line.startswith("-----") for line in found)
    assert kubeconfig_secrets("::: not yaml [") == []


def test_a_user_with_only_an_exec_plugin_gives_just_the_ca(pki: dict[str, t.Any]) -> None:
    text = yaml.safe_dump({"clusters": [{"name": "c", "cluster": {"certificate-authority-data": pem(pki["ca"])}}],
                           "users": [{"name": "clusterUser_rg_c", "user": {"exec": {"command": "kubelogin"}}}]})
    assert [c.role for c in parse_kubeconfig("clusterUser", text)] == ["cluster_ca"]


def test_broken_certificate_data_is_an_error_naming_the_credential() -> None:
    text = yaml.safe_dump({"clusters": [{"name": "c", "cluster": {"certificate-authority-data": "not base64!"}}]})
    with pytest.raises(NodepatchError) as err:
        parse_kubeconfig("clusterUser", text, target="managedCluster rg/c")
    assert "certificate-authority-data is not valid base64" in str(err.value) and "clusterUser" in str(err.value)
    junk = base64.b64encode(b"hello").decode()
    with pytest.raises(NodepatchError, match="not a PEM certificate"):
        parse_kubeconfig("clusterUser", yaml.safe_dump({"clusters": [{"cluster": {"certificate-authority-data": junk}}]}))


def test_yaml_errors_do_not_quote_the_document() -> None:
    with pytest.raises(NodepatchError) as err:
        parse_kubeconfig("clusterAdmin", "token: s3cr3t-value\n  bad: [")
    assert "s3cr3t" not in str(err.value)


def test_the_ca_shared_by_two_kubeconfigs_is_listed_once(pki: dict[str, t.Any]) -> None:
    text = kubeconfig(pki)
    merged = merge_certificates([parse_kubeconfig("clusterAdmin", text), parse_kubeconfig("clusterUser", text)])
    assert [c.name for c in merged] == ["cluster_ca", "client/clusterAdmin_rg_aks-2019"]


def test_arm_timestamps_with_seven_fraction_digits_parse() -> None:
    expected = datetime.datetime(2019, 1, 15, 10, 20, 30, 123456, tzinfo=datetime.timezone.utc)
    assert parse_time("2019-01-15T10:20:30.1234567Z") == expected
    assert parse_time("2024-03-01T00:00:00+00:00") is not None
    assert parse_time(None) is None and parse_time("yesterday") is None


def test_lifetime_explains_the_era() -> None:
    old = lifetime_facts("2019-01-15T10:00:00Z", [facts("cluster_ca", 20, role="cluster_ca")], rbac=True)
    assert old["two_year_certificates"] is True and old["auto_rotation"] is False
    assert "two years" in old["explanation"] and old["cluster_ca_lifetime_days"] == 720
    recent = lifetime_facts("2024-03-01T00:00:00Z", [], rbac=True)
    assert recent["two_year_certificates"] is False and recent["auto_rotation"] is True
    assert "rotate automatically" in recent["explanation"]
    assert lifetime_facts("2024-03-01T00:00:00Z", [], rbac=False)["auto_rotation"] is False
    assert lifetime_facts(None, [], rbac=None)["two_year_certificates"] is None


# ------------------------------------------------------------------------------------------------- decision


def test_rotate_when_a_certificate_is_within_the_threshold() -> None:
    decision = decide_rotation([facts("client/a", 400), facts("cluster_ca", 20, "cluster_ca")], NOW, 30, False,
                               "Succeeded", "Running")
    assert decision.rotate is True and decision.refused is None
    assert decision.due == ["cluster_ca"]
    assert decision.reasons == ["cluster_ca expires in 20 day(s) (2026-12-21T12:00:00Z), within rotate_within_days=30"]


def test_no_rotation_names_the_first_certificate_to_expire() -> None:
    decision = decide_rotation([facts("client/a", 10950), facts("cluster_ca", 10949, "cluster_ca")], NOW, 30, False,
                               "Updating", "Running")
    assert decision.rotate is False and decision.due == [] and decision.refused is None
    assert "the first to expire: cluster_ca expires in 10949 day(s)" in decision.reasons[0]


def test_the_threshold_day_itself_is_due_and_expired_certificates_say_so() -> None:
    assert decide_rotation([facts("c", 30)], NOW, 30, False, "Succeeded", None).due == ["c"]
    expired = decide_rotation([facts("c", -3.5)], NOW, 0, False, "Succeeded", None)
    assert expired.due == ["c"] and "c expired 3 day(s) ago" in expired.reasons[0]


def test_force_rotates_fresh_certificates() -> None:
    decision = decide_rotation([facts("c", 9000)], NOW, 30, True, "Succeeded", "Running")
    assert decision.rotate is True and decision.due == [] and "force=true" in decision.reasons[-1]


@pytest.mark.parametrize(("state", "power", "expected"), [
    (ROTATING_STATE, "Running", "already running"),
    ("Succeeded", "Stopped", "stopped"),
    ("Updating", "Running", "provisioningState is Updating, not Succeeded"),
    ("Failed", "Running", "provisioningState is Failed"),
])
def test_a_busy_or_stopped_cluster_refuses_the_rotation(state: str, power: str, expected: str) -> None:
    decision = decide_rotation([facts("c", 5)], NOW, 30, False, state, power)
    assert decision.rotate is True and expected in str(decision.refused) and decision.hint


def test_negative_threshold_is_refused_naming_the_option() -> None:
    with pytest.raises(NodepatchError, match="rotate_within_days=-1"):
        decide_rotation([], NOW, -1, False, "Succeeded", None)
