#!/usr/bin/env bash
# Creates the project's virtualenv and installs what `make demo` and `make test` need.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$venv/bin/python" ]; then
  echo "[venv] creating $venv with $($python --version 2>&1)"
  "$python" -m venv "$venv"
fi
echo "[venv] installing requirements-dev.txt"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$root/requirements-dev.txt"
