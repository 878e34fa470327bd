# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nodepatch test bed: a real Kubernetes control plane with kwok-simulated nodes, Prometheus and sshd.

Subcommands: up, down, status, stop/start/restart COMPONENT, reboot, sentinel, updates, alert, env, kubectl,
kured (kured.py). Everything lives
in one state directory (NODEPATCH_TESTBED_DIR, default <repo>/.build/testbed); `testbed.json` there describes a
running test bed for tests and tools. The parts are in bed/ (see bed/__init__.py); each command imports only the
parts it needs, so that `reboot` and `sentinel` start fast enough to serve as a role's reboot command.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from bed.state import PATHS, TestbedError, load_info, log


def cmd_up(args: argparse.Namespace) -> int:
    from bed import up

    return up.up(args.nodes)


def cmd_down(args: argparse.Namespace) -> int:
    from bed import up

    return up.down()


def cmd_status(args: argparse.Namespace) -> int:
    from bed.api import api_from_info, healthy, node_condition
    from bed.procs import pid_alive

    try:
        info = load_info()
    except TestbedError as err:
        log(str(err))
        return 1
    ok = True
    up_now = healthy(info)
    print(f"state dir   {info['state_dir']}")
    print(f"API         {info['api_url']}  ({'ready' if up_now else 'NOT ANSWERING'})")
    print(f"kubeconfig  admin: {info['admin_kubeconfig']}\n            least privilege: {info['kubeconfig']}")
    print(f"inventory   {info['inventory']}")
    print(f"prometheus  {info['prometheus_url']}")
    print(f"ssh         {info['ssh']['user']}@127.0.0.1 -p {info['ssh']['port']} -i {info['ssh']['private_key']}")
    print("\ncomponent                pid     state")
    for name, pid in info["pids"].items():
        alive = pid_alive(pid)
        ok = ok and alive
        print(f"{name:24} {pid:<7} {'running' if alive else 'DEAD (see ' + str(PATHS.component_log(name)) + ')'}")
    if not up_now:
        return 1
    print("\nnode                                 ready  sched  sentinel  boot id")
    for node in api_from_info(info).get("/api/v1/nodes")["items"]:
        name = node["metadata"]["name"]
        sentinel = "yes" if PATHS.sentinel(name).exists() else "no"
        sched = "no" if node["spec"].get("unschedulable") else "yes"
        print(f"{name:36} {node_condition(node, 'Ready') or '?':6} {sched:6} {sentinel:9} "
              f"{node['status'].get('nodeInfo', {}).get('bootID', '')}")
    return 0 if ok else 1


def cmd_reboot(args: argparse.Namespace) -> int:
    from bed.api import api_from_info
    from bed.reboot import go_down

    info = load_info()
    go_down(api_from_info(info), info["nodes"], args.node, args.delay, args.wait)
    return 0


def cmd_come_back(args: argparse.Namespace) -> int:
    import time

    from bed.api import api_from_info
    from bed.reboot import come_back

    time.sleep(args.delay)
    come_back(api_from_info(load_info()), args.node)
    (PATHS.reboots / f"{args.node}.pid").unlink(missing_ok=True)
    return 0


def cmd_component(args: argparse.Namespace) -> int:
    """stop / start / restart one component of the running test bed, with the flags and port it had."""
    import time

    from bed import components

    load_info()
    started = time.monotonic()
    if args.action in ("stop", "restart"):
        was = components.stop(args.component, kill=args.kill)
        log(f"{args.component}: {'stopped' if was else 'was not running'}"
            f"{' (SIGKILL)' if args.kill and was else ''}")
    if args.action in ("start", "restart"):
        pid = components.start_again(args.component)
        log(f"{args.component}: running (pid {pid}) and healthy, {time.monotonic() - started:.1f} s after the command")
    return 0


def known_node(node: str) -> Any:
    """The simulated state (NodeState) of a node of the running test bed; an unknown name is refused."""
    from node_state import NodeState

    nodes = load_info()["nodes"]
    if node not in nodes:
        raise TestbedError(f"no node {node}; nodes: {', '.join(nodes)}")
    return NodeState(PATHS.root, node)


def cmd_sentinel(args: argparse.Namespace) -> int:
    state = known_node(args.node)
    if args.state == "on":
        state.write_sentinel()
    else:
        state.clear_sentinel()
    print(state.sentinel)
    return 0


def cmd_updates(args: argparse.Namespace) -> int:
    state = known_node(args.node)
    import apt_repo

    if args.update == "apt":
        print(apt_repo.setup(state))
        return 0
    apt_repo.teardown(state)
    if args.update == "kernel":
        print(state.offer_kernel())
    else:
        state.withdraw_kernel()
    return 0


def cmd_alert(args: argparse.Namespace) -> int:
    from bed.prometheus import ALERT_DEFAULT, switch_alert

    name = args.name or ALERT_DEFAULT
    switch_alert(load_info()["prometheus_url"], name, args.state == "on")
    log(f"alert {name}: {'firing' if args.state == 'on' else 'inactive'}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    info = load_info()
    print(f"export KUBECONFIG={info['admin_kubeconfig']}")
    print(f"export NODEPATCH_TESTBED_KUBECONFIG={info['kubeconfig']}")
    print(f"export PATH={info['bin_dir']}:$PATH")
    return 0


def cmd_kubectl(args: argparse.Namespace) -> int:
    info = load_info()
    argv = [f"{info['bin_dir']}/kubectl", f"--kubeconfig={info['admin_kubeconfig']}", *args.args]
    os.execv(argv[0], argv)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="testbed", description=(__doc__ or "").split("\n\n", maxsplit=1)[0])
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the test bed (etcd, API server, controllers, kwok, Prometheus, sshd)")
    up.add_argument("--nodes", type=int, default=int(os.environ.get("NODES", "5")))
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop everything `up` started; idempotent").set_defaults(func=cmd_down)
    sub.add_parser("status", help="components, ports, nodes").set_defaults(func=cmd_status)
    reboot = sub.add_parser("reboot", help="simulated reboot: NotReady, new boot id, sentinel cleared, Ready")
    reboot.add_argument("node")
    reboot.add_argument("--delay", type=float, default=3.0, help="seconds the node stays down (default 3)")
    reboot.add_argument("--wait", action="store_true", help="return only when the node is back")
    reboot.set_defaults(func=cmd_reboot)
    for action, text in (("stop", "stop a component (SIGTERM, SIGKILL after 10 s) and keep it down"),
                         ("start", "start a stopped component again; returns once it is healthy"),
                         ("restart", "stop and start a component; returns once it is healthy")):
        command = sub.add_parser(action, help=f"{text} (etcd, kube-apiserver, kube-controller-manager, "
                                              "kube-scheduler, kwok, ...: the names of `status`)")
        command.add_argument("component")
        if action != "start":
            command.add_argument("--kill", action="store_true", help="SIGKILL at once, as a crash would")
        command.set_defaults(func=cmd_component, action=action, kill=False)
    back = sub.add_parser("_come-back", help=argparse.SUPPRESS)
    back.add_argument("node")
    back.add_argument("--delay", type=float, default=3.0)
    back.set_defaults(func=cmd_come_back)
    sentinel = sub.add_parser("sentinel", help="mark (on) or unmark (off) a node as needing a reboot")
    sentinel.add_argument("node")
    sentinel.add_argument("state", choices=("on", "off"))
    sentinel.set_defaults(func=cmd_sentinel)
    updates = sub.add_parser("updates", help="what a node's package managers can install: the next kernel "
                                             "(apt: as a real package for real apt), or none")
    updates.add_argument("node")
    updates.add_argument("update", choices=("kernel", "apt", "none"))
    updates.set_defaults(func=cmd_updates)
    alert = sub.add_parser("alert", help="switch a Prometheus test alert firing (on) or inactive (off)")
    alert.add_argument("state", choices=("on", "off"))
    alert.add_argument("--name", help="the alert (default: the test bed's NodepatchTestAlert)")
    alert.set_defaults(func=cmd_alert)
    sub.add_parser("env", help="shell exports for kubectl against the test bed").set_defaults(func=cmd_env)
    kubectl = sub.add_parser("kubectl", help="kubectl with the admin kubeconfig")
    kubectl.add_argument("args", nargs=argparse.REMAINDER)
    kubectl.set_defaults(func=cmd_kubectl)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kured"]:  # kured peers (tests/testbed/kured.py), imported only here
        from kured import main as kured_main

        return kured_main(argv[1:])
    if argv[:1] == ["kubectl"]:
        # Everything after `kubectl` is kubectl's, flags first included (argparse would claim `-n`).
        args = argparse.Namespace(func=cmd_kubectl, args=argv[1:])
    else:
        args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TestbedError as err:
        log(str(err))
        return 1


if __name__ == "__main__":
    sys.exit(main())
