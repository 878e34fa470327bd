#!/usr/bin/env bash
# make demo: a patch-and-reboot roll-out. Without NODEPATCH_INVENTORY (and a kubeconfig in K8S_AUTH_KUBECONFIG)
# it starts the local test bed with 5 simulated nodes, marks 3 as needing a reboot, rolls them one at a time with
# the test bed's simulated reboot, prints the summary and the HTML report's path, and stops the test bed.
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
cleanup() { if [ "$started_here" = true ]; then "$testbed" down; fi; }
trap cleanup EXIT

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
