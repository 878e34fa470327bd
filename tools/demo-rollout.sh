#!/usr/bin/env bash
# make demo: a patch-and-reboot roll-out. Without NODEPATCH_INVENTORY (and a kubeconfig in K8S_AUTH_KUBECONFIG)
# it starts the local test bed with 5 simulated nodes, runs a small workload guarded by a PodDisruptionBudget on
# them, marks 3 nodes as needing a reboot, rolls them one at a time with the test bed's simulated reboot (drains
# evict the workload's pods, which the scheduler places elsewhere), prints the summary and the HTML report's path,
# and stops the test bed.
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
for node in "${nodes[@]:0:3}"; do
  "$testbed" sentinel "$node" on
done
echo "[demo] ${nodes[*]:0:3} need a reboot; ${nodes[*]:3} do not"

export K8S_AUTH_KUBECONFIG="$state/nodepatch-kubeconfig.yaml"
cd "$reports"
ansible-playbook -i "$state/inventory.yml" "$root/playbooks/patch_and_reboot.yml" \
  -e patch_and_reboot_hosts=testbed_nodes -e patch_and_reboot_patch=false \
  -e safe_reboot_method=command -e '{"safe_reboot_command": "{{ nodepatch_testbed_reboot_command | split }}"}' \
  -e safe_reboot_concurrency="${NODEPATCH_DEMO_CONCURRENCY:-1}" "$@"
echo "[demo] HTML report: $reports/nodepatch-reports/rollout.html"
