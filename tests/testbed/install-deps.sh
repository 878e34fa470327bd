#!/usr/bin/env bash
# Installs the Debian packages the test bed runs besides its Go binaries: prometheus (alert blocker),
# openssh-server (SSH reboot path), dpkg-dev and python3-apt (real apt on a simulated node). Idempotent: only
# what is missing is installed. Needs root (or sudo).
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need+=(prometheus)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
# Real apt on a simulated node (testbed updates NODE apt): a local repository built with dpkg-deb and
# dpkg-scanpackages; python3-apt for ansible.builtin.apt in the node's environment.
command -v dpkg-scanpackages >/dev/null 2>&1 || need+=(dpkg-dev)
/usr/bin/python3 -c 'import apt' >/dev/null 2>&1 || need+=(python3-apt)
if [ ${#need[@]} -eq 0 ]; then
  echo "test bed packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# --no-install-recommends: prometheus recommends node-exporter and friends we do not run.
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages' own services must not run: the test bed starts its own instances on free loopback ports.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now prometheus ssh >/dev/null 2>&1 || true
fi
echo "installed: ${need[*]}"
