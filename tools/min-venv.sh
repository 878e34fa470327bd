#!/usr/bin/env bash
# A second virtualenv holding the oldest versions the collection declares: every `>=` bound of requirements.txt
# pinned to its lower bound, and ansible-core at the floor of meta/runtime.yml's requires_ansible. The `minimum`
# test stage runs in it, so a bound we publish is one we have run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
venv=${1:-$root/.build/venv-min}
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
sed -n 's/^\([A-Za-z0-9_.-]*\)>=\([0-9][0-9.]*\).*/\1==\2/p' "$root/requirements.txt" >"$pins"
core=$(sed -n 's/^requires_ansible: *"*>=\([0-9.]*\)"*/\1/p' "$root/meta/runtime.yml")
[ -n "$core" ] || { echo "[venv-min] no '>=' floor in meta/runtime.yml requires_ansible" >&2; exit 1; }
echo "ansible-core==$core" >>"$pins"
grep -E '^(pytest|pytest-timeout)([=<>]|$)' "$root/requirements-dev.txt" >>"$pins"
if [ -f "$venv/.pins" ] && cmp -s "$pins" "$venv/.pins"; then
  echo "[venv-min] $venv is up to date"
  exit 0
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
echo "[venv-min] installing the declared minimums: $(tr '\n' ' ' <"$pins")"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$pins"
cp "$pins" "$venv/.pins"
