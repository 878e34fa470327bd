# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drain benchmark: one node carrying P pods (Deployments of 10 replicas, each with a PDB maxUnavailable 25%),
drained by nodepatch.kube.node_drain, `kubectl drain` and kubernetes.core.k8s_drain in turn, fresh pods before
every run. Wall time per drain, and API requests from the API server's apiserver_request_total."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from common import VENV_BIN, RequestMeter, Testbed, ansible_env, kubernetes_core_path, kubernetes_core_version, log, median, table

REPLICAS = 10
NAMESPACE_PREFIX = "bench-drain"
TOOLS = ("nodepatch.kube.node_drain", "kubectl drain", "kubernetes.core.k8s_drain")
TIMEOUT = 600


class DrainBench:
    def __init__(self, testbed: Testbed, collections_root: Path, workdir: Path) -> None:
        self.testbed = testbed
        self.collections_root = collections_root
        self.workdir = workdir
        self.meter = RequestMeter(testbed)
        self.api = testbed.client()
        from kubernetes import client

        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.policy = client.PolicyV1Api(self.api)
        self.target = testbed.info["nodes"][0]
        self.others = testbed.info["nodes"][1:]
        self.serial = 0
        self.kcore = kubernetes_core_path()

    # ------------------------------------------------------------------------------------------ fixtures

    def set_unschedulable(self, nodes: list[str], value: bool) -> None:
        for node in nodes:
            self.core.patch_node(node, {"spec": {"unschedulable": True if value else None}})

    def raise_capacity(self, pods: int) -> None:
        """The simulated node reports 110 pods of capacity like a kubelet's default; room for the benchmark."""
        wanted = str(max(110, pods + 20))
        body = {"status": {"capacity": {"pods": wanted}, "allocatable": {"pods": wanted}}}
        self.core.patch_node_status(self.target, body)

    def delete_namespaces(self) -> None:
        from kubernetes.client.exceptions import ApiException

        for ns in self.core.list_namespace().items:
            if ns.metadata.name.startswith(NAMESPACE_PREFIX):
                try:
                    self.core.delete_namespace(ns.metadata.name)
                except ApiException as err:
                    if err.status != 404:
                        raise
        deadline = time.monotonic() + 300
        while any(ns.metadata.name.startswith(NAMESPACE_PREFIX) for ns in self.core.list_namespace().items):
            if time.monotonic() > deadline:
                raise RuntimeError("benchmark namespaces were not deleted within 300 s")
            time.sleep(0.5)

    def fresh_pods(self, pods: int) -> str:
        """Removes the previous run's namespace, then puts `pods` new pods on the target node (the others
        cordoned meanwhile) and waits until every PDB allows its disruptions. Returns the namespace."""
        from kubernetes import client

        self.delete_namespaces()
        self.serial += 1
        namespace = f"{NAMESPACE_PREFIX}-{self.serial}"
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        deadline = time.monotonic() + 60
        while not self.core.list_namespaced_service_account(namespace).items:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no default ServiceAccount in {namespace}")
            time.sleep(0.2)
        self.set_unschedulable([self.target], False)
        self.set_unschedulable(self.others, True)
        deployments = max(1, pods // REPLICAS)
        for index in range(deployments):
            name = f"app-{index:02d}"
            labels = {"app": name}
            replicas = REPLICAS if index < deployments - 1 else pods - REPLICAS * (deployments - 1)
            self.apps.create_namespaced_deployment(namespace, {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": {
                        "terminationGracePeriodSeconds": 30,
                        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
                        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}},
                },
            })
            self.policy.create_namespaced_pod_disruption_budget(namespace, {
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": f"{name}-pdb"},
                "spec": {"maxUnavailable": "25%", "selector": {"matchLabels": labels}},
            })
        deadline = time.monotonic() + 300
        while True:
            running = [pod for pod in self.core.list_namespaced_pod(namespace).items
                       if pod.spec.node_name == self.target and pod.status.phase == "Running"
                       and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])]
            budgets = self.policy.list_namespaced_pod_disruption_budget(namespace).items
            settled = (len(budgets) == deployments
                       and all(b.status and b.status.observed_generation == b.metadata.generation
                               and (b.status.disruptions_allowed or 0) > 0 for b in budgets))
            if len(running) == pods and settled:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(running)}/{pods} pods Running on {self.target} after 300 s")
            time.sleep(0.5)
        self.set_unschedulable(self.others, False)
        time.sleep(2)  # let the controllers' reactions to the set-up die down before the counter is read
        return namespace

    # ------------------------------------------------------------------------------------------ tools

    def playbook(self, task: dict[str, Any], collections: list[Path]) -> tuple[int, str]:
        play = [{"name": "Benchmark drain", "hosts": "localhost", "gather_facts": False, "tasks": [task]}]
        path = self.workdir / "drain-playbook.yml"
        path.write_text(json.dumps(play))
        return _run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)],
                    env=ansible_env(collections, self.workdir), cwd=self.workdir)

    def run_tool(self, tool: str) -> tuple[int, str]:
        kubeconfig = self.testbed.info["admin_kubeconfig"]
        if tool == "kubectl drain":
            return _run([self.testbed.kubectl_path(), f"--kubeconfig={kubeconfig}", "drain", self.target,
                         "--ignore-daemonsets", f"--timeout={TIMEOUT}s"], cwd=self.workdir)
        if tool == "nodepatch.kube.node_drain":
            return self.playbook({"nodepatch.kube.node_drain": {
                "name": self.target, "state": "drained", "kubeconfig": kubeconfig, "timeout": TIMEOUT}},
                [self.collections_root])
        if tool == "kubernetes.core.k8s_drain":
            return self.playbook({"kubernetes.core.k8s_drain": {
                "name": self.target, "state": "drain", "kubeconfig": kubeconfig,
                "delete_options": {"ignore_daemonsets": True, "wait_timeout": TIMEOUT}}},
                [self.kcore, self.collections_root])
        if tool == "ansible-playbook (no-op task)":
            return self.playbook({"ansible.builtin.meta": "noop"}, [self.collections_root])
        raise ValueError(tool)

    def pods_left(self, namespace: str) -> int:
        return sum(1 for pod in self.core.list_namespaced_pod(namespace).items if pod.spec.node_name == self.target)

    def one(self, tool: str, pods: int) -> dict[str, Any]:
        namespace = self.fresh_pods(pods)
        self.meter.start()
        started = time.monotonic()
        rc, output = self.run_tool(tool)
        wall = time.monotonic() - started
        requests = self.meter.stop()
        left = self.pods_left(namespace)
        ok = rc == 0 and left == 0
        self.set_unschedulable([self.target], False)
        log(f"  {tool}: {pods} pods, {wall:.1f} s, {requests['client']} requests by the tool "
            f"({requests['net']} cluster-wide), rc {rc}, "
            f"{left} pods left{'' if ok else ' — FAILED: ' + _last_line(output)}")
        return {"tool": tool, "pods": pods, "wall_s": round(wall, 3), "load_average_1m": round(os.getloadavg()[0], 2), "rc": rc, "ok": ok, "pods_left": left,
                "requests": requests, "error": None if ok else _last_line(output)}

    def run(self, pod_counts: list[int], runs: list[int], save: Any = None) -> dict[str, Any]:
        log(f"drain benchmark on {self.target}: pods {pod_counts}, {runs} runs per tool")
        self.raise_capacity(max(pod_counts))
        self.meter.calibrate()
        for _warm_up in range(2):  # warm caches (Python bytecode, collection loader) before timing anything
            self.run_tool("ansible-playbook (no-op task)")
        started = time.monotonic()
        self.run_tool("ansible-playbook (no-op task)")
        ansible_noop = time.monotonic() - started
        samples: list[dict[str, Any]] = []
        for pods, count in zip(pod_counts, runs):
            for index in range(count):
                order = TOOLS[index % len(TOOLS):] + TOOLS[:index % len(TOOLS)]  # alternate who goes first
                for tool in order:
                    samples.append(self.one(tool, pods) | {"run": index + 1})
                if save:
                    save(self.result(pod_counts, runs, ansible_noop, samples))
        self.delete_namespaces()
        return self.result(pod_counts, runs, ansible_noop, samples)

    def result(self, pod_counts: list[int], runs: list[int], ansible_noop: float,
               samples: list[dict[str, Any]]) -> dict[str, Any]:
        return {"target_node": self.target, "nodes": len(self.testbed.info["nodes"]), "runs": runs,
                "pod_counts": pod_counts, "replicas_per_deployment": REPLICAS, "pdb": "maxUnavailable 25%",
                "idle_requests_per_s": round(self.meter.idle_rate, 2), "ansible_noop_s": round(ansible_noop, 2),
                "kubernetes_core_version": kubernetes_core_version(), "samples": samples,
                "summary": summarize(samples, pod_counts)}


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = subprocess.run(argv, cwd=cwd, env=env, text=True, capture_output=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _last_line(output: str) -> str:
    for line in reversed(output.strip().splitlines()):
        if "msg" in line or "error" in line.lower() or "fatal" in line.lower():
            return line.strip()[:400]
    return output.strip().splitlines()[-1][:400] if output.strip() else ""


def summarize(samples: list[dict[str, Any]], pod_counts: list[int]) -> list[dict[str, Any]]:
    rows = []
    for pods in pod_counts:
        kubectl = median([s["wall_s"] for s in samples if s["pods"] == pods and s["tool"] == "kubectl drain"
                          and s["ok"]])
        for tool in TOOLS:
            mine = [s for s in samples if s["pods"] == pods and s["tool"] == tool]
            good = [s for s in mine if s["ok"]]
            wall = median([s["wall_s"] for s in good])
            rows.append({
                "pods": pods, "tool": tool, "runs": len(mine), "ok": len(good),
                "median_wall_s": wall,
                "ratio_to_kubectl": round(wall / kubectl, 2) if wall and kubectl else None,
                "median_requests_client": median([s["requests"]["client"] for s in good]),
                "median_requests_net": median([s["requests"]["net"] for s in good]),
                "median_requests_total": median([s["requests"]["total"] for s in good]),
                "first_error": next((s["error"] for s in mine if not s["ok"]), None),
            })
    return rows


def render(result: dict[str, Any]) -> str:
    rows = []
    for row in result["summary"]:
        rows.append([row["pods"], row["tool"], f"{row['ok']}/{row['runs']}", row["median_wall_s"],
                     row["ratio_to_kubectl"], row["median_requests_client"], row["median_requests_net"]])
    text = table(["pods", "tool", "ok runs", "median wall s", "ratio to kubectl", "API requests by the tool",
                  "API requests, whole cluster"], rows)
    text += (f"\n\nansible-playbook start-up alone (one no-op task): {result['ansible_noop_s']} s. "
             f"kubernetes.core {result['kubernetes_core_version']}. Whole-cluster requests are net of the idle "
             f"background ({result['idle_requests_per_s']}/s) and include the control plane's reactions.")
    errors = [f"- {row['tool']} ({row['pods']} pods): {row['first_error']}" for row in result["summary"]
              if row["first_error"]]
    if errors:
        text += "\n\nFailed runs (first error per tool):\n" + "\n".join(errors)
    return text
