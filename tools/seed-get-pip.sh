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
[ -f "$cache" ] && grep -q nodepatch-standin-3 "$cache" && exit 0
mkdir -p "$(dirname "$cache")"
# A registry behind a TLS-inspecting proxy needs the configured CA; ansible-test does not pass pip's settings on.
cert=${PIP_CERT:-$("$venv/bin/python" -m pip config get global.cert 2>/dev/null || true)}
cat > "$cache" <<PY
CERT = "${cert}"
PY
cat >> "$cache" <<'PY'
# nodepatch-standin-3: offline replacement for get-pip.py (pip from ensurepip, packages from the configured index).
import ensurepip
import subprocess
import sys

# get-pip.py's own flags; pip install does not know them.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=True, default_pip=True)
arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY]
if CERT:
    arguments = ["--cert", CERT] + arguments
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + arguments))
PY
echo "[seed-get-pip] wrote $cache"
