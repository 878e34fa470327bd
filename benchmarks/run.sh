#!/usr/bin/env bash
# Side-by-side benchmarks on the local test bed: drain (node_drain vs kubectl drain vs kubernetes.core.k8s_drain)
# and roll-out (patch_and_reboot.yml vs the ideal). `make bench`; `make bench-smoke` = `benchmarks/run.sh --smoke`.
# Options: benchmarks/run.sh --help. Results: benchmarks/results/latest.json (+ .md); docs/performance.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${VENV:-$here/../.venv}
python=$venv/bin/python
[ -x "$python" ] || python=python3
export VENV=$venv
exec "$python" "$here/run.py" "$@"
