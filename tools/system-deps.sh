#!/usr/bin/env bash
# Installs Debian packages the test suite needs, when missing: tools/system-deps.sh PACKAGE...
# Needs root (or passwordless sudo); says what to install by hand otherwise.
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
echo "[system-deps] installing ${missing[*]}"
if ! $sudo true 2>/dev/null; then
  echo "[system-deps] need root to install: apt-get install ${missing[*]}" >&2
  exit 1
fi
stamp=/var/lib/apt/periodic/nodepatch-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720)" ]; then
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq && $sudo mkdir -p "$(dirname "$stamp")" && $sudo touch "$stamp"
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
