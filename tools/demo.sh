#!/usr/bin/env bash
# The main job on a fresh machine. With a test bed available it starts a local cluster, marks nodes as needing a
# reboot and runs the roll-out; until then (or with NODEPATCH_DEMO=status) it runs the reboot status report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
export PATH="$venv/bin:$PATH"
colls=$("$root/tools/stage-collection.sh")
export ANSIBLE_COLLECTIONS_PATH="$colls"
export ANSIBLE_PYTHON_INTERPRETER="$venv/bin/python"
mode=${NODEPATCH_DEMO:-rollout}
[ -x "$root/tests/testbed/testbed" ] && [ -f "$root/playbooks/patch_and_reboot.yml" ] || mode=status

if [ "$mode" = status ]; then
  work=$(mktemp -d)
  touch "$work/needs-reboot"
  printf 'linux-image-azure\n' > "$work/needs-reboot.pkgs"
  cat > "$work/inventory.yml" <<INV
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: $venv/bin/python
  hosts:
    localhost: {}
    demo-node-needs-reboot: {nodepatch_sentinel_file: $work/needs-reboot}
    demo-node-up-to-date: {nodepatch_sentinel_file: $work/absent}
INV
  ansible-playbook -i "$work/inventory.yml" "$root/playbooks/reboot_status.yml" \
    -e reboot_status_json_path="$work/reboot-status.json"
  echo "JSON report: $work/reboot-status.json"
  exit 0
fi
exec "$root/tools/demo-rollout.sh"
