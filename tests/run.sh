#!/usr/bin/env bash
# The whole test suite, as `make test` and .ci/run run it. Stages: static, sanity, units, lint, collection,
# integration, minimum (or name some: tests/run.sh units lint). Every stage runs; the script fails if any stage failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
export PATH="$venv/bin:$PATH"
cd "$root" || exit 2

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(static sanity units lint collection integration minimum)

declare -a results=()
passed=0
failed=0

banner() { printf '\n===== %s =====\n' "$*"; }

run_stage() {
  local name=$1
  shift
  banner "$name"
  local start=$SECONDS
  if "$@"; then
    results+=("PASS  $name ($((SECONDS - start)) s)")
    passed=$((passed + 1))
  else
    results+=("FAIL  $name ($((SECONDS - start)) s)")
    failed=$((failed + 1))
  fi
}

collection_root() { tools/stage-collection.sh; }

stage_static() {
  ruff check --quiet plugins tests benchmarks tools
}

stage_sanity() {
  tools/system-deps.sh shellcheck || return 1
  tools/seed-get-pip.sh "$venv" >/dev/null
  local colls
  colls=$(collection_root) || return 1
  (cd "$colls/ansible_collections/nodepatch/kube" && ansible-test sanity --python 3.11 --color no) || return 1
  if ls tests/sanity/ignore-*.txt >/dev/null 2>&1 && [ -n "$(cat tests/sanity/ignore-*.txt)" ]; then
    echo "tests/sanity/ignore-*.txt has entries: the bar is zero"
    return 1
  fi
}

stage_units() {
  local colls
  colls=$(collection_root) || return 1
  (cd "$colls/ansible_collections/nodepatch/kube" && ansible-test units --python 3.11 --color no --requirements)
}

stage_lint() {
  local colls
  colls=$(collection_root) || return 1
  (cd "$colls/ansible_collections/nodepatch/kube" && ANSIBLE_COLLECTIONS_PATH="$colls" \
    ansible-lint --offline --profile production roles playbooks)
}

# ansible-doc -t role renders the role from the installed collection, with every option of its argument spec.
role_doc_shows_spec() {
  local installed=$1 role=$2
  ANSIBLE_COLLECTIONS_PATH="$installed" ansible-doc -t role "nodepatch.kube.$role" >/dev/null || return 1
  ANSIBLE_COLLECTIONS_PATH="$installed" ansible-doc -t role --json "nodepatch.kube.$role" | python -c '
import json, sys, yaml
role = sys.argv[1]
shown = json.load(sys.stdin)[f"nodepatch.kube.{role}"]["entry_points"]
with open(f"roles/{role}/meta/argument_specs.yml") as spec_file:
    spec = yaml.safe_load(spec_file)["argument_specs"]
for entry, want in spec.items():
    got, declared = set(shown[entry].get("options", {})), set(want.get("options", {}))
    if got != declared:
        sys.exit(f"{role}/{entry}: ansible-doc shows {sorted(got)}, the spec declares {sorted(declared)}")
' "$role"
}

# The collection as users get it: built tarball, installed, every module and role documented, a module answering,
# the import checks of Galaxy / Automation Hub, the changelog fragments.
stage_collection() {
  local work
  work=$(mktemp -d)
  ansible-galaxy collection build --output-path "$work" . || return 1
  # --force: without it, the same version installed in ~/.ansible/collections (a developer's machine, or a tool that
  # installs the collection it lints) makes galaxy install nothing here.
  ansible-galaxy collection install --offline --force -p "$work/installed" "$work"/nodepatch-kube-*.tar.gz || return 1
  local modules
  modules=$(find plugins/modules -name '*.py' -printf '%f\n' | sed 's/\.py$//' | sort)
  for module in $modules; do
    ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible-doc "nodepatch.kube.$module" >/dev/null \
      || { echo "ansible-doc nodepatch.kube.$module failed"; return 1; }
  done
  echo "ansible-doc renders: $(echo "$modules" | tr '\n' ' ')"
  local role
  for role in $(find roles -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort); do
    role_doc_shows_spec "$work/installed" "$role" || { echo "ansible-doc -t role nodepatch.kube.$role failed"; return 1; }
  done
  echo "ansible-doc -t role renders every option of: $(find roles -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' ')"
  tools/galaxy-import.sh "$work"/nodepatch-kube-*.tar.gz || return 1
  antsibull-changelog lint || { echo "antsibull-changelog lint found problems"; return 1; }
  touch "$work/sentinel"
  ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible localhost -e ansible_python_interpreter="$venv/bin/python" \
    -m nodepatch.kube.reboot_required -a "sentinel_file=$work/sentinel" | tee "$work/answer"
  grep -q '"reboot_required": true' "$work/answer" || { echo "reboot_required did not see $work/sentinel"; return 1; }
  ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible localhost -e ansible_python_interpreter="$venv/bin/python" \
    -m nodepatch.kube.reboot_required -a "sentinel_file=$work/absent" | grep -q '"reboot_required": false' \
    || { echo "reboot_required saw a reboot where no sentinel exists"; return 1; }
  rm -rf "$work"
}

# The integration tests run in two shards at once, each on a test bed of its own: much of a test's time is waiting
# (simulated reboots, lock turns, kured's period), which two beds on two cores overlap. Each shard takes the next
# group from one queue, longest first (seconds from the last measured run), so the shards end close together.
# The kured peers reboot any node whose sentinel is on, so every test that uses them stays in one group.
# "minimum" is the minimum stage's slice, queued here when both stages run (see minimum_in_queue).
INTEGRATION_GROUPS=(
  "tests/integration/rollout/test_rollout.py"
  "tests/integration/reliability/test_interruptions.py"
  "tests/integration/kube tests/integration/kured"
  "tests/integration/reliability_control_plane"
  "minimum"
  "tests/integration/rollout/test_lock_paced.py tests/integration/rollout/test_scale_down_disabled.py"
  "tests/integration/node_access"
  "tests/integration/aks"
  "tests/integration/reliability/test_misbehaving_nodes.py tests/integration/reliability/test_bad_input.py"
  "tests/integration/reliability/test_rbac_rules.py tests/integration/reliability/test_secrets.py"
  "tests/integration/bench"
  "tests/integration/awx"
  "tests/integration/kured_role"
  "tests/integration/testbed"
  "tests/integration/report"
)
INTEGRATION_SHARDS=${NODEPATCH_SHARDS:-2}

integration_next_group() {
  # shellcheck disable=SC2016 # $0 is the inner shell's: the queue file
  flock "$1.lock" bash -c 'head -n 1 "$0"; sed -i 1d "$0"' "$1"
}

integration_shard() {
  local shard=$1 queue=$2 group start status rc=0
  export NODEPATCH_TESTBED_DIR=$root/.build/testbed-shard$shard NODEPATCH_TESTBED_KEEP=1
  while group=$(integration_next_group "$queue") && [ -n "$group" ]; do
    start=$SECONDS
    if [ "$group" = minimum ]; then
      # Its result is the minimum stage's, not this stage's (stage_minimum reports it).
      minimum_tests 2>&1 | tee "$root/.build/minimum.log" | sed -u "s|^|[$shard] |"
      status=${PIPESTATUS[0]}
      echo "$status" >"$root/.build/minimum.status"
    else
      # shellcheck disable=SC2086 # a group is a list of paths
      NODEPATCH_SKIP_STAGE=1 python -m pytest $group -p no:cacheprovider -v --timeout 900 -rfE --durations=10 \
        2>&1 | sed -u "s|^|[$shard] |" | tee -a "$root/.build/integration-shard$shard.log"
      status=${PIPESTATUS[0]}
      [ "$status" -eq 0 ] || rc=1
    fi
    echo "$shard $status $((SECONDS - start)) $group" >>"$queue.done"
  done
  tests/testbed/testbed down >/dev/null 2>&1
  return $rc
}

stage_integration() {
  tests/testbed/install-deps.sh || return 1
  tests/testbed/build.sh >/dev/null || return 1
  # kured for the live kured tests (exit 3: none given; those tests then skip, or fail under CI=true).
  tests/testbed/build.sh kured >/dev/null || [ $? -eq 3 ] || return 1
  collection_root >/dev/null || return 1
  local queue=$root/.build/integration-queue shard dir rc=0
  local file
  for file in tests/integration/*/test_*.py; do
    dir=${file%/*}
    [[ " ${INTEGRATION_GROUPS[*]} " == *" $dir "* || " ${INTEGRATION_GROUPS[*]} " == *" $file "* ]] \
      || { echo "$file is in no INTEGRATION_GROUPS entry of tests/run.sh (neither it nor its directory)"; return 1; }
  done
  rm -f "$root/.build/minimum.status"
  printf '%s\n' "${INTEGRATION_GROUPS[@]}" | { if minimum_in_queue; then cat; else grep -vx minimum; fi; } >"$queue"
  local groups
  groups=$(wc -l <"$queue")
  : >"$queue.done"
  rm -f "$root"/.build/integration-shard*.log
  local -a shards=()
  for shard in $(seq 1 "$INTEGRATION_SHARDS"); do
    integration_shard "$shard" "$queue" &
    shards+=($!)
  done
  for shard in "${shards[@]}"; do wait "$shard" || rc=1; done
  echo "integration groups (shard, pytest exit status, seconds, paths):"
  sort -k3 -n -r "$queue.done" | sed 's/^/  /'
  # The stage's output is long and a CI log keeps its end: what the failed tests asserted (the first lines of it)
  # and their ids go here too, under the table.
  grep -h -E '^\[[0-9]+\] E  ' "$root"/.build/integration-shard*.log 2>/dev/null | cut -c1-240 | head -n 40
  grep -h -E '^\[[0-9]+\] (FAILED|ERROR) ' "$root"/.build/integration-shard*.log 2>/dev/null | sed 's/^/  /'
  awk '$2 != 0 && $4 != "minimum" { bad = 1 } END { exit bad }' "$queue.done" || rc=1
  [ "$(wc -l <"$queue.done")" -eq "$groups" ] || { echo "not every group ran"; rc=1; }
  return $rc
}

# The oldest versions the collection declares (tools/min-venv.sh: requirements.txt's lower bounds, ansible-core's
# floor from meta/runtime.yml): the unit tests, and against the test bed and the ARM emulator the paths where the
# libraries' behaviour matters: kured's lock format and the Lease backend, a 403's message, evictions and watches,
# exec into a node pod (and its refusal), one whole roll-out through the API, and one AKS module.
MINIMUM_SLICE=(
  tests/integration/kube/test_node_lock.py::test_our_single_lock_is_kureds_json_byte_for_byte
  tests/integration/kube/test_node_lock.py::test_a_multi_lock_written_by_kured_parses_and_is_honoured
  tests/integration/kube/test_node_lock.py::test_lease_backend_slots_limit_holders
  tests/integration/kube/test_node_lock.py::test_forbidden_names_the_missing_permission
  tests/integration/kube/test_node_drain.py::test_a_satisfiable_budget_lets_the_drain_finish_without_going_below_it
  tests/integration/kube/test_node_drain.py::test_a_statefulset_pod_recreated_under_the_same_name_counts_as_gone
  tests/integration/kube/test_node_drain.py::test_cordon_and_uncordon_are_idempotent_and_show_the_diff
  tests/integration/node_access/test_node_access.py::test_modules_run_unchanged_on_the_nodes_host_and_exit_codes_come_back
  tests/integration/node_access/test_node_access.py::test_without_pods_exec_the_error_names_it_and_nothing_is_cordoned_or_locked
  tests/integration/node_access/test_node_access.py::test_the_whole_rollout_patches_and_reboots_through_the_api_only
  tests/integration/kube/test_in_process.py
  tests/integration/aks/test_aks_upgrade_channel.py
)
# With the integration stage in the same run, the slice is one more group of its queue, on a shard's test bed
# between the others, rather than a test bed and a wait of its own after them.
minimum_in_queue() { [[ " ${stages[*]} " == *" integration "* && " ${stages[*]} " == *" minimum "* ]]; }

stage_minimum() {
  if minimum_in_queue; then
    [ -f "$root/.build/minimum.status" ] || { echo "the integration stage's queue did not run the minimum group"; return 1; }
    echo "ran in the integration stage's queue (its output is there, prefixed with the shard); the end of it:"
    grep -E '^(FAILED|ERROR) ' "$root/.build/minimum.log"
    tail -n 3 "$root/.build/minimum.log"
    return "$(cat "$root/.build/minimum.status")"
  fi
  minimum_tests
}

minimum_tests() {
  local min_venv=$root/.build/venv-min colls=$root/.build
  tools/min-venv.sh "$min_venv" || return 1
  "$min_venv/bin/ansible" --version | head -1
  "$min_venv/bin/python" -c 'import kubernetes, azure.mgmt.containerservice as cs; print("kubernetes", kubernetes.__version__, "azure-mgmt-containerservice", cs.VERSION)'
  # In the queue the integration stage has staged the collection; staging again would swap it under the other shard.
  minimum_in_queue || colls=$(collection_root) || return 1
  (cd "$colls/ansible_collections/nodepatch/kube" \
    && PATH="$min_venv/bin:$PATH" ansible-test units --python 3.11 --color no --requirements) || return 1
  tests/testbed/install-deps.sh >/dev/null || return 1
  tests/testbed/build.sh >/dev/null || return 1
  NODEPATCH_SKIP_STAGE=1 PATH="$min_venv/bin:$PATH" "$min_venv/bin/python" -m pytest "${MINIMUM_SLICE[@]}" \
    -p no:cacheprovider -v --timeout 900 -rfE --durations=20
}

for stage in "${stages[@]}"; do
  case "$stage" in
    static|sanity|units|lint|collection|integration|minimum) run_stage "$stage" "stage_$stage" ;;
    *) echo "unknown stage $stage (static, sanity, units, lint, collection, integration, minimum)"; exit 2 ;;
  esac
done

banner summary
printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
