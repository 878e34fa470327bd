#!/usr/bin/env bash
# ansible-test bootstraps pip in its sanity venvs with a get-pip script downloaded from ci-files.testing.ansible.com,
# which a machine that only reaches package registries cannot fetch. This writes a stand-in into ansible-test's cache:
# it bootstraps pip from the interpreter's own ensurepip, then installs the packages ansible-test asked for from PyPI.
set -euo pipefail
venv=${1:-${VENV:-.venv}}
version=$("$venv/bin/python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version='3.11'))['pip'])
PY
)
cache=~/.ansible/test/cache/get_pip_${version//./_}.py
[ -f "$cache" ] && grep -q nodepatch-standin "$cache" && exit 0
if [ -f "$cache" ]; then exit 0; fi
mkdir -p "$(dirname "$cache")"
cat > "$cache" <<'PY'
# nodepatch-standin: offline replacement for get-pip.py (pip from ensurepip, packages from the configured index).
import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True, default_pip=True)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + sys.argv[1:]))
PY
echo "[seed-get-pip] wrote $cache"
