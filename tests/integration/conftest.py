# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared plumbing for the integration suites (testbed/, kube/, rollout/, aks/).

- `testbed` (session): the local test bed, reused when one is running, else started here and stopped at the
  end of the session. Lazy: only tests that request it start it, so the AKS suites never do. Tests that use
  it are marked `testbed` automatically (`pytest -m "not testbed"` skips them).
- `run_module`: runs one of this collection's modules directly, as Ansible would, and returns its JSON.
- `run_playbook`: runs ansible-playbook from the venv against the staged collection.
- `audit_log`: the write requests the test bed's API server received between two points (audit_log.py).

- `kured_peers`: real kured processes on some nodes (kured_peers.py); tests mark the groups they use with
  `@pytest.mark.kured("single", ...)`. They start with the session's first test-bed test (kured's first lock check
  comes 30-90 s after a start) and stop after the last marked test. Without a kured binary they skip, and fail
  under CI=true.

Point NODEPATCH_TESTBED_JSON at a hand-written testbed.json to run against another cluster (kind, AKS); see
docs/testbed.md. Set NODEPATCH_TESTBED_KEEP=1 to leave a test bed started here running after the session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from audit_log import AuditLog
from kured_peers import KuredPeers, require_kured
from secrets_scan import SESSION, kubeconfig_secrets, url_secrets

REPO = Path(__file__).resolve().parents[2]
TESTBED_CLI = REPO / "tests" / "testbed" / "testbed"
STATE_DIR = Path(os.environ.get("NODEPATCH_TESTBED_DIR") or REPO / ".build" / "testbed").resolve()
COLLECTIONS_ROOT = REPO / ".build"
VENV_BIN = Path(sys.executable).parent
DEFAULT_NODES = int(os.environ.get("NODEPATCH_TESTBED_NODES", "5"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "testbed: needs the local test bed (started on demand by the fixture)")
    config.addinivalue_line("markers", "kured(*groups): runs beside real kured peers of these groups (kured_peers.py)")


# (nodeid, kured groups) of every test marked `kured`, in run order.
KURED_PLAN = pytest.StashKey[list[tuple[str, tuple[str, ...]]]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "testbed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.testbed)
    plan = [(item.nodeid, tuple(marker.args)) for item in items if (marker := item.get_closest_marker("kured"))]
    if plan:
        # The peers start with the first test that brings the test bed up, so their start-up wait overlaps tests.
        first = next((item for item in items if "testbed" in getattr(item, "fixturenames", ())), None)
        if first is not None:
            first.fixturenames.append("kured_session")  # type: ignore[attr-defined]
        config.stash[KURED_PLAN] = plan


class SecretsScan(pytest.Item):
    """The session's last test: no secret it handed out is in anything its runs printed or wrote (SessionScan)."""

    def runtest(self) -> None:
        assert SESSION.secrets, ("the session used the test bed, the webhook receiver or the ARM emulator, yet no "
                                 "secret of theirs was registered: the scan would check nothing")
        leaks, summary = SESSION.scan()
        self.config.stash[SECRETS_SUMMARY] = summary
        assert not leaks, summary + ":\n" + "\n".join(leaks)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "the secrets scan of the session's outputs"


SECRETS_SUMMARY = pytest.StashKey[str]()
SECRET_FIXTURES = {"testbed", "receiver", "emulator_session"}


def pytest_collection_finish(session: pytest.Session) -> None:
    # After -k and -m have deselected: only a session whose tests use what hands out secrets gets the scan (a
    # test bed's kubeconfigs, webhook URLs, the ARM emulator's client secret); fixturenames is each test's closure.
    if any(SECRET_FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items):
        session.items.append(SecretsScan.from_parent(session, name="test_no_secret_in_any_output_of_the_session"))


@pytest.fixture(scope="session", autouse=True)
def secrets_scan_temp(tmp_path_factory: pytest.TempPathFactory) -> None:
    SESSION.root = tmp_path_factory.getbasetemp()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    summary = config.stash.get(SECRETS_SUMMARY, None)
    if summary:
        terminalreporter.write_line(f"secrets scan: {summary}")


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    plan = item.config.stash.get(KURED_PLAN, [])
    done = next((index for index, (nodeid, _groups) in enumerate(plan) if nodeid == item.nodeid), None)
    if done is None or not _KURED or _KURED[0].error is not None:
        return
    rest = [groups for _nodeid, groups in plan[done + 1:]]
    if rest:
        _KURED[0].prepare(rest)  # a peer changing groups restarts now, not when the next test needs it
    else:
        # A peer reboots its node whenever that node's sentinel is on: no other suite may run beside the peers.
        _KURED[0].stop()


# --------------------------------------------------------------------------------------------------- test bed


@dataclass
class Testbed:
    """A running test bed (or another cluster described the same way), as testbed.json describes it."""

    info: dict[str, Any]
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Its credentials are secrets no output of the session may show (SecretsScan).
        for key in ("kubeconfig", "admin_kubeconfig"):
            if self.info.get(key) and Path(self.info[key]).is_file():
                SESSION.add_secrets(kubeconfig_secrets(self.info[key]))

    @property
    def state_dir(self) -> Path:
        return Path(self.info["state_dir"])

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def admin_kubeconfig(self) -> str:
        return str(self.info["admin_kubeconfig"])

    @property
    def kubeconfig(self) -> str:
        """The least-privilege kubeconfig (ServiceAccount bound only to deploy/rbac.yml): what tests should use."""
        return str(self.info["kubeconfig"])

    @property
    def nodes(self) -> list[str]:
        return list(self.info["nodes"])

    @property
    def inventory(self) -> str:
        return str(self.info["inventory"])

    @property
    def prometheus_url(self) -> str:
        return str(self.info.get("prometheus_url", ""))

    @property
    def ssh(self) -> dict[str, Any]:
        return dict(self.info.get("ssh", {}))

    @property
    def simulated(self) -> bool:
        """True for the local test bed; False for a real cluster, where reboots and sentinels are not ours."""
        return bool(self.info.get("simulated", False))

    def require_simulated(self, why: str) -> None:
        """Tests that reboot nodes run only on the simulated bed: skipped on a real cluster, failed under CI=true,
        where every case must run."""
        if self.simulated:
            return
        message = f"{why}: only on the simulated test bed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    @property
    def reboot_command(self) -> str:
        """`<path>/testbed reboot`; append the node name (and --delay S) to use it as a role's reboot command."""
        return str(self.info.get("reboot_command", ""))

    def sentinel_path(self, node: str) -> Path:
        return Path(self.info["sentinels"][node])

    # ------------------------------------------------------------------------------------------ commands

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.require_simulated("the test bed's own commands (reboots, sentinels, alerts are not ours on a real cluster)")
        return subprocess.run([str(TESTBED_CLI), *args], check=True, text=True, capture_output=True,
                              env={**os.environ, "NODEPATCH_TESTBED_DIR": str(self.state_dir)})

    def kubectl(self, *args: str, check: bool = True, kubeconfig: str | None = None) -> subprocess.CompletedProcess[str]:
        """kubectl with the admin kubeconfig (or the one given); output captured as text."""
        kubectl = Path(self.info.get("bin_dir", "")) / "kubectl"
        binary = str(kubectl) if kubectl.exists() else "kubectl"
        return subprocess.run([binary, f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args],
                              check=check, text=True, capture_output=True)

    def component(self, action: str, name: str, *flags: str, required: bool = True) -> None:
        """`testbed stop|start|restart NAME [--kill]`: a component of the test bed (the names of `testbed status`);
        with ``required=False`` a refusal (starting one that runs) is ignored."""
        self.require_simulated("the test bed's components are not ours on a real cluster")
        proc = subprocess.run([str(TESTBED_CLI), action, name, *flags], text=True, capture_output=True, check=False,
                              env={**os.environ, "NODEPATCH_TESTBED_DIR": str(self.state_dir)})
        assert proc.returncode == 0 or not required, f"testbed {action} {name}: {proc.stderr}"

    def reboot(self, node: str, delay: float = 3.0, wait: bool = False) -> None:
        """Simulated reboot: NotReady now, new boot id and Ready after `delay` seconds (in the background)."""
        self._cli("reboot", node, "--delay", str(delay), *(["--wait"] if wait else []))

    def sentinel(self, node: str, on: bool = True) -> Path:
        """Marks (or unmarks) the node as needing a reboot; returns the sentinel file's path."""
        return Path(self._cli("sentinel", node, "on" if on else "off").stdout.strip())

    def alert(self, on: bool = True, name: str | None = None) -> None:
        """Switches the Prometheus test alert firing or inactive; returns once Prometheus reports it so."""
        self._cli("alert", "on" if on else "off", *(["--name", name] if name else []))

    # ------------------------------------------------------------------------------------------ clients

    def api_client(self, admin: bool = True) -> Any:
        """A kubernetes.client.ApiClient for the admin (default) or the least-privilege kubeconfig."""
        key = "admin" if admin else "least"
        if key not in self._clients:
            from kubernetes import config

            self._clients[key] = config.new_client_from_config(
                config_file=self.admin_kubeconfig if admin else self.kubeconfig)
        return self._clients[key]

    def core_v1(self, admin: bool = True) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client(admin))

    def apps_v1(self, admin: bool = True) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api_client(admin))

    def policy_v1(self, admin: bool = True) -> Any:
        from kubernetes import client

        return client.PolicyV1Api(self.api_client(admin))

    def coordination_v1(self, admin: bool = True) -> Any:
        from kubernetes import client

        return client.CoordinationV1Api(self.api_client(admin))

    # ------------------------------------------------------------------------------------------ helpers

    def lock_holders(self, namespace: str = "kube-system", daemonset: str = "kured",
                     annotation: str = "weave.works/kured-node-lock") -> list[str]:
        """The node IDs in kured's lock annotation, single or multi form, as the API server has it now."""
        return [entry["nodeID"] for entry in self.lock_entries(namespace, daemonset, annotation)]

    def lock_entries(self, namespace: str = "kube-system", daemonset: str = "kured",
                     annotation: str = "weave.works/kured-node-lock") -> list[dict[str, Any]]:
        """The entries of kured's lock annotation (nodeID, metadata, created, TTL), single or multi form."""
        raw = (self.apps_v1().read_namespaced_daemon_set(daemonset, namespace).metadata.annotations or {}).get(annotation)
        if not raw:
            return []
        value = json.loads(raw)
        if "locks" in value:
            return list(value["locks"] or [])
        return [value] if value.get("nodeID") else []

    def create_namespace(self, prefix: str = "np-test") -> str:
        """A fresh namespace, returned once its `default` ServiceAccount exists (pods are refused before)."""
        from kubernetes import client

        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        core = self.core_v1()
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        wait_until(lambda: bool(core.list_namespaced_service_account(name).items), 30,
                   f"ServiceAccount default in namespace {name}")
        return name

    def delete_namespace(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core_v1().delete_namespace(name)
        except ApiException as err:
            if err.status != 404:
                raise

    def delete_nodes(self, names: list[str]) -> None:
        """Removes Node objects a test created; one already gone is fine."""
        from kubernetes.client.exceptions import ApiException

        for name in names:
            try:
                self.core_v1().delete_node(name)
            except ApiException as err:
                if err.status != 404:
                    raise

    def node(self, name: str) -> Any:
        return self.core_v1().read_node(name)

    def node_ready(self, name: str) -> bool:
        conditions = self.node(name).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    def boot_id(self, name: str) -> str:
        return str(self.node(name).status.node_info.boot_id)

    @staticmethod
    def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
        """Polls check() until true; fails the test with `what` after `timeout` seconds."""
        wait_until(check, timeout, what, interval)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Polls check() until true; fails the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _api_answers(info: dict[str, Any]) -> bool:
    # The admin kubeconfig is the one thing every testbed.json has, local or not.
    kubectl = Path(info.get("bin_dir", "")) / "kubectl"
    binary = str(kubectl) if kubectl.exists() else "kubectl"
    try:
        proc = subprocess.run([binary, f"--kubeconfig={info['admin_kubeconfig']}", "get", "--raw=/readyz"],
                              capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired, KeyError):
        return False
    return proc.returncode == 0


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    external = os.environ.get("NODEPATCH_TESTBED_JSON")
    if external:
        info = _load(Path(external))
        if info is None or not _api_answers(info):
            pytest.fail(f"NODEPATCH_TESTBED_JSON={external}: unreadable, or its cluster's API does not answer")
        yield Testbed(info)
        return

    info_path = STATE_DIR / "testbed.json"
    info = _load(info_path)
    if info is not None and _api_answers(info):
        yield Testbed(info)  # someone else's test bed (make cluster-up): reuse it, leave it running
        return

    env = {**os.environ, "NODEPATCH_TESTBED_DIR": str(STATE_DIR)}
    proc = subprocess.run([str(TESTBED_CLI), "up", "--nodes", str(DEFAULT_NODES)], env=env, text=True,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"tests/testbed/testbed up failed:\n{proc.stderr}\n{proc.stdout}")
    sys.stderr.write(proc.stderr)
    info = _load(info_path)
    assert info is not None, f"testbed up succeeded but wrote no {info_path}"
    try:
        yield Testbed(info)
    finally:
        if os.environ.get("NODEPATCH_TESTBED_KEEP") != "1":
            subprocess.run([str(TESTBED_CLI), "down"], env=env, capture_output=True, check=False)


@pytest.fixture(scope="session")
def audit_log(testbed: Testbed) -> AuditLog:
    """The API server's write requests (audit_log.py): `mark()` before, `writes(mark, user=...)` after."""
    return AuditLog.of(testbed)


# --------------------------------------------------------------------------------------------------- kured peers

_KURED: list[KuredPeers] = []


@pytest.fixture(scope="session")
def kured_session(testbed: Testbed, request: pytest.FixtureRequest) -> Iterator[KuredPeers]:
    """The session's kured peers; starts at once the group each node serves first. Never skips by itself."""
    peers = KuredPeers(testbed.state_dir, testbed.nodes)
    _KURED.append(peers)
    if testbed.simulated:
        peers.prepare([groups for _nodeid, groups in request.config.stash.get(KURED_PLAN, [])])
    else:
        peers.error = "kured peers need the simulated test bed (they reboot nodes with its reboot command)"
    try:
        yield peers
    finally:
        peers.stop()
        _KURED.remove(peers)


@pytest.fixture
def kured_peers(kured_session: KuredPeers, request: pytest.FixtureRequest) -> KuredPeers:
    """The kured peers of the groups in the test's `kured` marker, each past kured's start-up loop."""
    marker = request.node.get_closest_marker("kured")
    peers = require_kured(kured_session, tuple(marker.args) if marker else ())
    assert peers is not None
    return peers


# --------------------------------------------------------------------------------------------------- modules, playbooks


@pytest.fixture
def namespace(testbed: Testbed, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted after it; named after the test module's NAMESPACE_PREFIX."""
    name = testbed.create_namespace(getattr(request.module, "NAMESPACE_PREFIX", "np-test"))
    yield name
    testbed.delete_namespace(name)


@pytest.fixture(scope="session")
def collections_root() -> Path:
    """The staged collection (tools/stage-collection.sh), so tests run the working tree's code.

    NODEPATCH_SKIP_STAGE=1 reuses what is already staged (tests/run.sh stages once for all suites).
    """
    if os.environ.get("NODEPATCH_SKIP_STAGE") != "1" or not (COLLECTIONS_ROOT / "ansible_collections").exists():
        subprocess.run([str(REPO / "tools" / "stage-collection.sh")], check=True, capture_output=True)
    return COLLECTIONS_ROOT


ModuleRunner = Callable[..., dict[str, Any]]


@pytest.fixture
def run_module(collections_root: Path, tmp_path: Path) -> ModuleRunner:
    """run_module(name, args, check=False, diff=False, env=None) -> the module's result dict (module_runner)."""
    return module_runner(collections_root, tmp_path)


def module_runner(collections_root: Path, tmp_path: Path) -> ModuleRunner:
    """run_module(name, args, check=False, diff=False, env=None) -> the module's result dict.

    Runs `python -m ansible_collections.nodepatch.kube.plugins.modules.<name> <args.json>` the way Ansible's
    AnsiballZ wrapper would hand over arguments. A failed module returns its dict (failed: true, msg);
    output that is not JSON (a traceback) fails the test with stdout and stderr.
    """
    counter = iter(range(1_000_000))

    def run(name: str, args: Mapping[str, Any], check: bool = False, diff: bool = False,
            env: Mapping[str, str] | None = None) -> dict[str, Any]:
        args_file = tmp_path / f"{name}-{next(counter)}.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
            **args, "_ansible_check_mode": check, "_ansible_diff": diff,
            "_ansible_module_name": f"nodepatch.kube.{name}"}}))
        proc_env = {**os.environ, "PYTHONPATH": str(collections_root), **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", f"ansible_collections.nodepatch.kube.plugins.modules.{name}", str(args_file)],
            capture_output=True, text=True, env=proc_env, cwd=tmp_path, check=False)
        SESSION.add_output(f"module {name}", proc.stdout + proc.stderr)
        result = _last_json_object(proc.stdout)
        if result is None:
            pytest.fail(f"module {name} printed no JSON (exit {proc.returncode})\n--- stdout ---\n{proc.stdout}"
                        f"\n--- stderr ---\n{proc.stderr}")
        result.setdefault("rc", proc.returncode)
        return result

    return run


def _last_json_object(text: str) -> dict[str, Any] | None:
    # Modules print one JSON document; anything before it (a stray print) is tolerated like Ansible does.
    start = text.find("{")
    while start != -1:
        try:
            value = json.loads(text[start:])
        except ValueError:
            start = text.find("{", start + 1)
            continue
        return value if isinstance(value, dict) else None
    return None


PlaybookRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def make_runners(collections_root: Path) -> Callable[[Path], tuple[ModuleRunner, PlaybookRunner]]:
    """For fixtures wider than one test (package scope, threads): run_module and run_playbook writing under a
    directory of their own."""
    return lambda tmp: (module_runner(collections_root, tmp), playbook_runner(collections_root, tmp))


@pytest.fixture
def run_playbook(collections_root: Path, tmp_path: Path) -> PlaybookRunner:
    """run_playbook(path, extra_vars=None, inventory=None, env=None, args=()) -> CompletedProcess (playbook_runner)."""
    return playbook_runner(collections_root, tmp_path)


def playbook_runner(collections_root: Path, tmp_path: Path) -> PlaybookRunner:
    """run_playbook(path, extra_vars=None, inventory=None, env=None, args=(), output=None) -> CompletedProcess (text).

    ansible-playbook from the venv, with ANSIBLE_COLLECTIONS_PATH at the staged collection. `path` may be
    relative to the repository. extra_vars go through a JSON file, so types survive. With `output` (a file), its
    standard output is written there as it runs, so another thread can follow the play.
    """

    def run(path: str | Path, extra_vars: Mapping[str, Any] | None = None, inventory: str | Path | None = None,
            env: Mapping[str, str] | None = None, args: tuple[str, ...] = (),
            output: Path | None = None) -> subprocess.CompletedProcess[str]:
        playbook = Path(path)
        if not playbook.is_absolute():
            playbook = REPO / playbook
        argv = [str(VENV_BIN / "ansible-playbook"), str(playbook)]
        argv += ["-i", str(inventory) if inventory else "localhost,"]
        if extra_vars:
            vars_file = tmp_path / f"extra-vars-{uuid.uuid4().hex[:8]}.json"
            vars_file.write_text(json.dumps(dict(extra_vars)))
            argv += ["-e", f"@{vars_file}"]
        argv += list(args)
        proc_env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(collections_root),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            **(env or {}),
        }
        if output is None:
            done = subprocess.run(argv, capture_output=True, text=True, env=proc_env, cwd=REPO, check=False)
        else:
            with output.open("w") as stdout:
                proc = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True, env=proc_env,
                                      cwd=REPO, check=False)
            done = subprocess.CompletedProcess(argv, proc.returncode, output.read_text(), proc.stderr)
        SESSION.add_output(f"ansible-playbook {playbook.name} {' '.join(args)}", done.stdout + done.stderr)
        return done

    return run


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """Answers 200 on /hooks/..., 202 on /teams/..., the status in the path on /status/<code>/..."""

    port: int
    requests: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.port}{path}"
        SESSION.add_secrets(url_secrets(f"webhook {path}", url))
        return url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            state.requests.append(Received(self.path, {key.lower(): value for key, value in self.headers.items()},
                                           body))
            status = 200
            if self.path.startswith("/status/"):
                status = int(self.path.split("/")[2])
            elif self.path.startswith("/teams/"):
                status = 202
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 400 else b"nope")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------------- ARM emulator


@pytest.fixture(scope="session")
def emulator_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The local HTTPS emulator of the Azure endpoints, one per session for the AKS and AWX suites alike."""
    sys.path.insert(0, str(REPO / "tests" / "testbed"))
    from azure_emulator import Emulator

    emulator = Emulator(workdir=tmp_path_factory.mktemp("azure-emulator")).start()
    SESSION.add_secrets({"the ARM emulator's client secret": emulator.client_secret})
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def emulator(emulator_session: Any) -> Any:
    """The emulator with its seeded clusters as at start, and an empty request log."""
    emulator_session.reset()
    return emulator_session
