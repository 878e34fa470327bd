# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Jobs run the way AWX / Automation Controller runs them: ansible-runner with a private data dir
(env/extravars, env/envvars, env/settings, inventory/, project/), the credentials as environment variables the
way AWX's credential injectors set them, `suppress_env_files` as AWX sets it, and everything read back from
runner's status, rc, events and artifacts.

`job(playbook, extravars, envvars, inventory=...)` lays out the private data dir and returns a `Job`; `job.run()`
or `job.start()` (asynchronous, for cancelling) hands it to `ansible_runner`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "testbed"))


REPO = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
# Every process of a job inherits this variable: how the test finds what a cancelled job left running.
JOB_MARKER = "NODEPATCH_AWX_TEST_JOB"


@dataclass
class Job:
    private_data_dir: Path
    playbook: str
    marker: str
    runner: Any = None
    thread: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    def _args(self, **overrides: Any) -> dict[str, Any]:
        return {"private_data_dir": str(self.private_data_dir), "playbook": self.playbook, "quiet": True,
                "suppress_env_files": True, **self.options, **overrides}

    def run(self, **overrides: Any) -> Any:
        import ansible_runner

        self.runner = ansible_runner.run(**self._args(**overrides))
        return self.runner

    def start(self, cancel_callback: Callable[[], bool]) -> Any:
        import ansible_runner

        self.thread, self.runner = ansible_runner.run_async(**self._args(cancel_callback=cancel_callback))
        return self.runner

    # ---------------------------------------------------------------------------------------- reading back

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.runner.events)

    def stats_artifact(self) -> dict[str, Any]:
        """What AWX hands to the next workflow node: the set_stats data on the playbook_on_stats event."""
        stats = [event for event in self.events if event.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, [event.get("event") for event in self.events][-10:]
        return dict(stats[0]["event_data"].get("artifact_data") or {})

    def task_results(self, task: str) -> list[dict[str, Any]]:
        return [event["event_data"]["res"] for event in self.events
                if event.get("event") == "runner_on_ok" and event["event_data"].get("task") == task]

    def stdout(self) -> str:
        return self.runner.stdout.read()

    def output_texts(self) -> dict[str, str]:
        """What AWX shows and keeps of a job: its stdout and its job events (artifacts/<id>/job_events/*.json).

        Not runner's `command` artifact: it holds the job's whole environment, so the credentials AWX injects as
        environment variables (see docs/awx.md); AWX never keeps it, a CI job that archives artifacts/ would.
        """
        root = Path(self.runner.config.artifact_dir)
        files = [root / "stdout", *sorted((root / "job_events").glob("*.json"))]
        return {str(path.relative_to(root)): path.read_text(errors="replace") for path in files}

    def assert_no_secret(self, *secrets: str) -> None:
        texts = self.output_texts()
        assert len(texts) > 10, sorted(texts)
        for secret in secrets:
            assert secret, "an empty secret proves nothing"
            leaks = [name for name, text in texts.items() if secret in text]
            assert leaks == [], f"a secret appears in the job's artifacts: {leaks}"

    def leftover_pids(self) -> list[int]:
        """Processes of this job still running (found by the marker in their environment)."""
        needle = f"{JOB_MARKER}={self.marker}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def end_leftovers(self) -> list[int]:
        """SIGKILLs what is left of the job, as the end of AWX's execution environment container would."""
        pids = self.leftover_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids


JobFactory = Callable[..., Job]


@pytest.fixture
def inject_credential(tmp_path: Path) -> Callable[[str, Mapping[str, str]], dict[str, str]]:
    """inject_credential(type_file, inputs) -> environment, as AWX applies a credential type's injectors: the
    `file` template rendered with the inputs into a private file, then `env` rendered with tower.filename."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    def inject(type_file: str, inputs: Mapping[str, str]) -> dict[str, str]:
        credential_type = yaml.safe_load((REPO / "docs" / "examples" / type_file).read_text())
        required = credential_type["inputs"].get("required", [])
        assert all(inputs.get(name) for name in required), f"{type_file} needs {required}"
        jinja = SandboxedEnvironment(undefined=StrictUndefined)
        namespace: dict[str, Any] = dict(inputs)
        injectors = credential_type["injectors"]
        if "file" in injectors:
            private = tmp_path / f"credential-{uuid.uuid4().hex[:8]}"
            private.write_text(jinja.from_string(injectors["file"]["template"]).render(namespace))
            private.chmod(0o600)
            namespace["tower"] = {"filename": str(private)}
        return {name: jinja.from_string(value).render(namespace) for name, value in injectors.get("env", {}).items()}

    return inject


@pytest.fixture
def survey_answers() -> Callable[..., dict[str, Any]]:
    """survey_answers(playbook, **answers) -> extra vars, as AWX builds them from the survey."""
    return answers_from_survey


def answers_from_survey(playbook: str, **answers: Any) -> dict[str, Any]:
    """The extra vars AWX builds from playbooks/awx/<playbook>.survey.json: every default, `answers` instead where
    given; a multiselect answer arrives as a list, a multiple choice (our yes/no questions) as a string."""
    survey = json.loads((REPO / "playbooks" / "awx" / f"{playbook}.survey.json").read_text())
    values: dict[str, Any] = {}
    for item in survey["spec"]:
        value = answers.pop(item["variable"], item["default"])
        if item["type"] == "multiselect" and isinstance(value, str):
            value = value.splitlines()
        assert item["type"] != "integer" or item["min"] <= value <= item["max"], (item["variable"], value)
        values[item["variable"]] = value
    assert not answers, f"not questions of the {playbook} survey: {sorted(answers)}"
    return values


@pytest.fixture
def job(collections_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobFactory]:
    """job(playbook, extravars, envvars=None, inventory=None, host_vars=None, **runner_options) -> Job.

    `playbook` is a path in playbooks/, copied into project/ like an SCM project; `inventory` maps file names to
    content (a dict is written as YAML) under inventory/; `host_vars` maps host names to their variables.
    """
    jobs: list[Job] = []
    # runner looks ansible-playbook up on its own PATH
    monkeypatch.setenv("PATH", f"{VENV_BIN}:{os.environ.get('PATH', '')}")

    def make(playbook: str, extravars: Mapping[str, Any], envvars: Mapping[str, str] | None = None,
             inventory: Mapping[str, Any] | None = None, host_vars: Mapping[str, Mapping[str, Any]] | None = None,
             **runner_options: Any) -> Job:
        marker = uuid.uuid4().hex[:12]
        pdd = tmp_path / f"job-{marker}"
        for sub in ("env", "inventory", "project"):
            (pdd / sub).mkdir(parents=True)
        shutil.copy(REPO / "playbooks" / playbook, pdd / "project" / playbook)
        (pdd / "env" / "extravars").write_text(json.dumps(dict(extravars)))
        (pdd / "env" / "envvars").write_text(json.dumps({
            "ANSIBLE_COLLECTIONS_PATH": str(collections_root),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_LOCAL_TEMP": str(pdd / "tmp" / "local"),
            "ANSIBLE_REMOTE_TEMP": str(pdd / "tmp" / "remote"),
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            JOB_MARKER: marker,
            **(envvars or {}),
        }))
        # AWX's job settings: no idle timeout, events for every task, no per-event stdout limit.
        (pdd / "env" / "settings").write_text(yaml.safe_dump({"idle_timeout": 0, "job_timeout": 600,
                                                              "pexpect_timeout": 1}))
        for name, content in (inventory or {"hosts": "localhost ansible_connection=local\n"}).items():
            text = content if isinstance(content, str) else yaml.safe_dump(content)
            (pdd / "inventory" / name).write_text(text)
        if host_vars:
            (pdd / "inventory" / "host_vars").mkdir()
            for host, variables in host_vars.items():
                (pdd / "inventory" / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(dict(variables)))
        made = Job(pdd, playbook, marker, options=dict(runner_options))
        jobs.append(made)
        return made

    yield make
    for made in jobs:
        made.end_leftovers()
