# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The action plugins of the collection's controller-side modules: a task that runs on the controller with the
controller's own Python runs its module inside the task's worker process, anywhere else as any module does.

Why: a module task costs Ansible a new Python process, its AnsiballZ payload and the import of
ansible.module_utils.basic, the kubernetes client and ours: about 0.5 s of CPU each, before the module's first
request (docs/performance.md). A roll-out runs eight of them per rebooted node. The strategy loads each action
plugin in the controller's main process, so importing the module here there makes every forked worker start with
it imported; the module then runs as a function call on the arguments Ansible would have sent it.

The module runs exactly as it would in its own process: same arguments (module_defaults, check mode, diff mode,
no_log and the other internal arguments), same serialization of its result both ways, the task's environment.
Only what would make it run elsewhere sends it the usual way: another connection than local, become, async, an
ansible_python_interpreter that is not the controller's, or nodepatch_kube_in_process=false.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import os
import sys
import time
import traceback
import typing as t

from ansible import constants as C
from ansible.module_utils import basic
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

display = Display()

# What AnsiballZ uses for a module that declares no profile of its own: ours declare none.
SERIALIZATION_PROFILE = "legacy"

try:  # ansible-core 2.19 and later: serialization profiles
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # 2.17 and 2.18 encode a module's arguments with this, vaulted values as their plain text
    from ansible.module_utils.common.json import AnsibleJSONEncoder

    def encoded_module_args(module_args: dict[str, t.Any]) -> bytes:
        return json.dumps({"ANSIBLE_MODULE_ARGS": module_args}, cls=AnsibleJSONEncoder, vault_to_text=True).encode()

    def parsed_result(action: ActionBase, returned: dict[str, t.Any]) -> dict[str, t.Any]:
        return action._parse_returned_data(returned)  # pylint: disable=no-value-for-parameter
else:
    def encoded_module_args(module_args: dict[str, t.Any]) -> bytes:
        encoder = get_module_encoder(SERIALIZATION_PROFILE, Direction.CONTROLLER_TO_MODULE)
        return json.dumps({"ANSIBLE_MODULE_ARGS": module_args}, cls=encoder).encode()

    def parsed_result(action: ActionBase, returned: dict[str, t.Any]) -> dict[str, t.Any]:
        return action._parse_returned_data(returned, SERIALIZATION_PROFILE)


OPT_OUT_VARIABLE = "nodepatch_kube_in_process"
COLLECTION_PREFIX = "nodepatch.kube."


class InProcessModuleAction(ActionBase):
    """Base of the action plugins named after the collection's controller-side modules."""

    _supports_check_mode = True
    _supports_async = True
    module_name: t.ClassVar[str]
    module_code: t.ClassVar[t.Any]

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        reason = self._why_not_in_process(task_vars)
        if reason:
            display.vvv(f"{self.module_name}: runs as its own process ({reason})")
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        started = time.monotonic()
        result.update(self._run_in_worker(task_vars))
        display.vvv(f"{self.module_name}: ran in the task's worker, with the controller's Python, in "
                    f"{time.monotonic() - started:.2f} s")
        return result

    def _why_not_in_process(self, task_vars: dict[str, t.Any]) -> str:
        """Empty when the module may run here; otherwise what sends it to a process of its own."""
        target_vars = task_vars
        if self._task.delegate_to:
            target_vars = task_vars.get("ansible_delegated_vars", {}).get(self._task.delegate_to, task_vars)
        if not boolean(self._templar.template(target_vars.get(OPT_OUT_VARIABLE, True)), strict=False):
            return f"{OPT_OUT_VARIABLE} is false"
        if getattr(self._connection, "transport", None) != "local":
            return f"connection {getattr(self._connection, 'transport', '?')}, not local"
        if self._task.async_val:
            return "async"
        if self._play_context.become:
            return "become"
        # Interpreter discovery (auto, the default) would pick some Python on the controller; this one has
        # ansible-core, and so the collection's requirements wherever Ansible itself was installed with them.
        interpreter = str(self._templar.template(target_vars.get(
            "ansible_python_interpreter", C.config.get_config_value("INTERPRETER_PYTHON", variables=target_vars))))
        if not interpreter.startswith("auto") and not same_python(interpreter, sys.executable):
            return f"the interpreter {interpreter} is not the controller's {sys.executable}"
        return ""

    def _run_in_worker(self, task_vars: dict[str, t.Any]) -> dict[str, t.Any]:
        module_args = dict(self._task.args)
        self._update_module_args(COLLECTION_PREFIX + self.module_name, module_args, task_vars)
        environment: dict[str, t.Any] = {}
        self._compute_environment_string(environment)
        stdout, rc = run_module_main(self.module_code.main, module_args, environment)
        data = parsed_result(self, {"stdout": stdout, "stderr": "", "rc": rc})
        remove_internal_keys(data)
        return data


def same_python(interpreter: str, executable: str) -> bool:
    """Whether an interpreter path names the Python that runs Ansible: the same file, in the same directory (a
    virtualenv's python is a link to the base interpreter, which lacks the virtualenv's packages)."""
    first, second = os.path.abspath(interpreter), os.path.abspath(executable)
    if os.path.dirname(first) != os.path.dirname(second):
        return False
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def run_module_main(main: t.Callable[[], t.Any], module_args: dict[str, t.Any],
                    environment: dict[str, t.Any]) -> tuple[str, int]:
    """Run a module's main() on the given arguments; return what it would have printed and its exit code. Meant
    for a process that ends after it (a task's worker): the environment is set for good."""
    os.environ.update({key: str(value) for key, value in environment.items()})
    basic._ANSIBLE_ARGS = encoded_module_args(module_args)
    basic._ANSIBLE_PROFILE = SERIALIZATION_PROFILE  # read by 2.19 and later, unused before
    printed = io.StringIO()
    rc = 0
    try:
        with contextlib.redirect_stdout(printed):
            main()
    except SystemExit as ended:
        rc = ended.code if isinstance(ended.code, int) else (0 if ended.code is None else 1)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # What AnsiballZ would report for a module that raised: a failure with the traceback, not a dead worker.
        failure = {"failed": True, "msg": f"{type(error).__name__}: {error}", "exception": traceback.format_exc()}
        return printed.getvalue() + "\n" + json.dumps(failure), 1
    finally:
        basic._ANSIBLE_ARGS = None
        basic._ANSIBLE_PROFILE = None
    return printed.getvalue(), rc


def action_for(module_name: str) -> type[InProcessModuleAction]:
    """The action plugin of one of the collection's modules; importing the module here, in the controller's main
    process, is what lets every worker start with it imported."""
    code = importlib.import_module(f"ansible_collections.nodepatch.kube.plugins.modules.{module_name}")
    if KUBE_CLIENT in sys.modules:
        import_kube_models()
    return type("ActionModule", (InProcessModuleAction,), {"module_name": module_name, "module_code": code})


KUBE_CLIENT = "ansible_collections.nodepatch.kube.plugins.module_utils.kube"


@functools.cache
def import_kube_models() -> None:
    """The client library's models of every kind our client reads, and of their lists. kubernetes 37 imports a
    model on its first use, and building its pydantic classes costs 0.2-0.5 s of a module run that reads a Node
    (cProfile in the worker, load 7): done once here, before the workers fork, instead of in each of them."""
    kube = sys.modules[KUBE_CLIENT]
    try:
        models = importlib.import_module("kubernetes.client.models")
    except ImportError:
        return  # the module's own run reports the missing library
    for resource in vars(kube).values():
        if isinstance(resource, kube.Resource):
            for name in (resource.model, resource.model + "List"):
                getattr(models, name, None)
