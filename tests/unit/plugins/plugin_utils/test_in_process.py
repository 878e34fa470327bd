# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's main() run in the calling process: the arguments it reads, what it prints, its exit code."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodepatch.kube.plugins.plugin_utils.in_process import run_module_main, same_python


def echo_main() -> None:
    module = AnsibleModule(argument_spec={"word": {"type": "str", "required": True},
                                          "token": {"type": "str", "no_log": True}},
                           supports_check_mode=True)
    if module.params["word"] == "fail":
        module.fail_json(msg=f"refused, token {module.params['token']}")
    module.exit_json(changed=not module.check_mode, word=module.params["word"],
                     seen=os.environ.get("NODEPATCH_IN_PROCESS_TEST"), token=module.params["token"])


def printed(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_the_result_is_printed_as_the_module_would_print_it_with_exit_code_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODEPATCH_IN_PROCESS_TEST", raising=False)
    stdout, rc = run_module_main(echo_main, {"word": "hello", "token": "s3cret", "_ansible_check_mode": False},
                                 {"NODEPATCH_IN_PROCESS_TEST": "set"})
    result = printed(stdout)
    assert rc == 0
    assert result["word"] == "hello" and result["changed"] is True and result["seen"] == "set"
    assert "s3cret" not in stdout, "a no_log value is hidden in the result, as in a module's own process"


def test_check_mode_reaches_the_module() -> None:
    stdout, rc = run_module_main(echo_main, {"word": "hello", "_ansible_check_mode": True}, {})
    assert rc == 0 and printed(stdout)["changed"] is False


def test_a_failure_exits_1_with_its_message_and_hides_no_log_values() -> None:
    stdout, rc = run_module_main(echo_main, {"word": "fail", "token": "s3cret"}, {})
    result = printed(stdout)
    assert rc == 1 and result["failed"] is True
    assert result["msg"] == "refused, token ********"


def test_an_exception_becomes_a_failure_with_its_traceback() -> None:
    def broken_main() -> None:
        raise RuntimeError("boom")

    stdout, rc = run_module_main(broken_main, {}, {})
    result = printed(stdout)
    assert rc == 1 and result["failed"] is True and result["msg"] == "RuntimeError: boom"
    assert "broken_main" in result["exception"]


def test_bad_arguments_fail_as_in_a_process_of_their_own() -> None:
    stdout, rc = run_module_main(echo_main, {"nonsense": 1}, {})
    result = printed(stdout)
    assert rc == 1 and "word" in result["msg"]


def test_the_controllers_python_is_recognised_only_by_its_own_path(tmp_path: Path) -> None:
    assert same_python(sys.executable, sys.executable)
    elsewhere = tmp_path / "python3"
    elsewhere.symlink_to(sys.executable)
    # A virtualenv's python links to a base interpreter that lacks the virtualenv's packages.
    assert not same_python(str(elsewhere), sys.executable)
    assert not same_python(str(Path(sys.executable).parent / "no-such-python"), sys.executable)
