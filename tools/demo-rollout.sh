#!/usr/bin/env bash
# make demo: a patch-and-reboot roll-out. Without NODEPATCH_INVENTORY (and a kubeconfig in K8S_AUTH_KUBECONFIG)
# it starts the local test bed with 5 simulated nodes, runs a small workload guarded by a PodDisruptionBudget on
# them, gives 3 nodes a kernel update, and runs playbooks/patch_and_reboot.yml with only a kubeconfig: every node
# is reached through the Kubernetes API (connection nodepatch.kube.node), patched, and those the update left
# needing a reboot are rebooted one at a time (drains evict the workload's pods, which the scheduler places
# elsewhere); prints the summary and the HTML report's path, and stops the test bed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
export PATH="$venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH
ANSIBLE_COLLECTIONS_PATH=$("$root/tools/stage-collection.sh")
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-1}
reports=${NODEPATCH_REPORT_DIR:-$root/.build/reports}
mkdir -p "$reports"

if [ -n "${NODEPATCH_INVENTORY:-}" ]; then
  echo "[demo] rolling the nodes of $NODEPATCH_INVENTORY (cluster from K8S_AUTH_KUBECONFIG or module_defaults)"
  cd "$reports"
  exec ansible-playbook -i "$NODEPATCH_INVENTORY" "$root/playbooks/patch_and_reboot.yml" "$@"
fi

testbed="$root/tests/testbed/testbed"
"$root/tests/testbed/install-deps.sh"
"$root/tests/testbed/build.sh" >/dev/null
started_here=false
if ! "$testbed" status >/dev/null 2>&1; then
  "$testbed" up --nodes 5
  started_here=true
fi
cleanup() {
  "$testbed" kubectl delete namespace demo-shop --ignore-not-found --wait=false >/dev/null 2>&1 || true
  if [ "$started_here" = true ]; then "$testbed" down; fi
}
trap cleanup EXIT

# Something for the drains to move: 10 pods, at most one of them disrupted at a time.
"$testbed" kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: demo-shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: demo-shop}
spec:
  replicas: 10
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: shop, image: registry.k8s.io/pause:3.10}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: shop, namespace: demo-shop}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: shop}}
YAML
"$testbed" kubectl -n demo-shop rollout status deployment/shop --timeout=120s

state=$("$venv/bin/python" - "$root" <<'PY'
import json, os, sys
root = sys.argv[1]
state = os.environ.get("NODEPATCH_TESTBED_DIR", os.path.join(root, ".build", "testbed"))
print(state)
PY
)
info="$state/testbed.json"
mapfile -t nodes < <("$venv/bin/python" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["nodes"]))' "$info")
# Three nodes have a newer kernel waiting; patching installs it, which is what makes them need a reboot.
for node in "${nodes[@]:0:3}"; do "$testbed" updates "$node" kernel >/dev/null; done
for node in "${nodes[@]:3}"; do "$testbed" updates "$node" none >/dev/null; done
echo "[demo] ${nodes[*]:0:3} have a kernel update waiting; ${nodes[*]:3} are up to date"

# Nothing but a kubeconfig: the nodes inventory reaches every node through the Kubernetes API (a node pod and
# pods/exec, connection nodepatch.kube.node), the least-privilege identity of deploy/rbac.yml.
export K8S_AUTH_KUBECONFIG="$state/nodepatch-kubeconfig.yaml"
cat > "$state/demo.nodes.yml" <<INV
plugin: nodepatch.kube.nodes
kubeconfig: $K8S_AUTH_KUBECONFIG
label_selector: agentpool=nodepool1
compose:
  # The simulated nodes run on this machine: their python is the venv's.
  ansible_python_interpreter: "'$venv/bin/python'"
INV
cd "$reports"
ansible-playbook -i "$state/demo.nodes.yml" "$root/playbooks/patch_and_reboot.yml" \
  -e safe_reboot_concurrency="${NODEPATCH_DEMO_CONCURRENCY:-1}" "$@"
echo "[demo] HTML report: $reports/nodepatch-reports/rollout.html"
