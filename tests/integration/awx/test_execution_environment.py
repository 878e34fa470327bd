# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment path: what ansible-builder reads from the installed collection
(meta/execution-environment.yml), that it resolves on PyPI, and that the example EE definition users copy from
docs/awx.md gives a build context without any network (no image is built here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
EXAMPLE = REPO / "docs" / "examples" / "execution-environment.yml"


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def offline(argv: list[str]) -> list[str]:
    """argv in a network namespace of its own (nothing but a down loopback) when this user may make one."""
    probe = ["unshare", "--net", "true"]
    if shutil.which("unshare") and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return ["unshare", "--net", "--", *argv]
    return argv


def requirement_lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection as ansible-builder meets it: the built tarball installed by ansible-galaxy."""
    work = tmp_path_factory.mktemp("ee")
    run(str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work), str(REPO))
    tarball = next(work.glob("nodepatch-kube-*.tar.gz"))
    run(str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(work / "collections"),
        str(tarball))
    return work / "collections"


@pytest.fixture(scope="module")
def introspected(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("introspect")
    files = {"python": out / "requirements.txt", "system": out / "bindep.txt"}
    run(*offline([str(VENV_BIN / "ansible-builder"), "introspect", "--sanitize", str(installed),
                  f"--write-pip={files['python']}", f"--write-bindep={files['system']}"]))
    return files


def test_introspection_finds_exactly_the_collections_python_and_system_requirements(introspected) -> None:
    docs = (REPO / "docs" / "awx.md").read_text()
    for kind, source in (("python", REPO / "requirements.txt"), ("system", REPO / "bindep.txt")):
        lines = introspected[kind].read_text().splitlines()
        assert lines and all(line.endswith("# from collection nodepatch.kube") for line in lines), lines
        assert requirement_lines(introspected[kind]) == requirement_lines(source), kind
        assert all(f"- '{line}'" in docs for line in lines), f"docs/awx.md must show what introspection gives: {lines}"
    names = [re.split(r"[<>=!~ \[]", line, maxsplit=1)[0] for line in requirement_lines(introspected["python"])]
    assert names == ["kubernetes", "azure-identity", "azure-mgmt-containerservice", "cryptography", "jmespath"]


def test_the_introspected_python_requirements_resolve_on_the_package_index(introspected, tmp_path) -> None:
    report = tmp_path / "pip-report.json"
    run(str(VENV_BIN / "python"), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
        "--report", str(report), "-r", str(introspected["python"]))
    chosen = {item["metadata"]["name"].lower(): item["metadata"]["version"]
              for item in json.loads(report.read_text())["install"]}
    print("resolved: " + ", ".join(f"{name}=={version}" for name, version in sorted(chosen.items())))
    assert {"kubernetes", "azure-identity", "azure-mgmt-containerservice", "cryptography", "jmespath"} <= set(chosen)


def test_the_introspected_bindep_file_parses_and_names_the_ssh_client(introspected) -> None:
    listed = run(str(VENV_BIN / "bindep"), "--file", str(introspected["system"]), "--list_all", "newline")
    assert "openssh-client" in listed.stdout.split()


def test_the_documented_ee_definition_is_the_checked_one_and_gives_a_build_context_offline(tmp_path) -> None:
    definition = EXAMPLE.read_text()
    assert definition.split("\n", 1)[1].strip() in (REPO / "docs" / "awx.md").read_text(), \
        "docs/awx.md must show docs/examples/execution-environment.yml as it is"
    parsed = yaml.safe_load(definition)
    assert parsed["version"] == 3
    assert {"name": "nodepatch.kube", "version": ">=0.1.0"} in parsed["dependencies"]["galaxy"]["collections"]
    context = tmp_path / "context"
    run(*offline([str(VENV_BIN / "ansible-builder"), "create", "--file", str(EXAMPLE), "--context", str(context),
                  "--output-filename", "Containerfile"]))
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.17,<2.20 ansible-runner>=2.4,<2.5"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    # The collection's requirements are found by the same introspection inside the build.
    assert "introspect.py introspect" in containerfile
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements == {"collections": [{"name": "nodepatch.kube", "version": ">=0.1.0"}]}


def test_the_documented_credential_type_is_the_one_the_runner_jobs_inject() -> None:
    source = REPO / "docs" / "examples" / "kubeconfig-credential-type.yml"
    assert source.read_text().split("\n", 1)[1].strip() in (REPO / "docs" / "awx.md").read_text()
    credential_type = yaml.safe_load(source.read_text())
    assert credential_type["inputs"]["fields"][0] == {**credential_type["inputs"]["fields"][0], "id": "kubeconfig",
                                                      "secret": True, "multiline": True}
    assert credential_type["injectors"]["env"] == {"K8S_AUTH_KUBECONFIG": "{{ tower.filename }}"}
