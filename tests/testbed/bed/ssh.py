# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test bed's own sshd on a loopback port: keys, configuration, command line (the SSH path of a reboot)."""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def find_binary() -> str | None:
    return next((p for p in ("/usr/sbin/sshd", shutil.which("sshd") or "") if p and os.access(p, os.X_OK)), None)


def generate(ssh_dir: Path, port: int) -> dict[str, Any]:
    """Host and client keys, authorized_keys, known_hosts and sshd_config; returns testbed.json's `ssh`."""
    ssh_dir.mkdir(parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)

    def keypair(name: str) -> str:
        key = ed25519.Ed25519PrivateKey.generate()
        path = ssh_dir / name
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        (ssh_dir / f"{name}.pub").write_text(public + "\n")
        return public

    host_public = keypair("ssh_host_ed25519_key")
    client_public = keypair("id_ed25519")
    (ssh_dir / "authorized_keys").write_text(client_public + " nodepatch-testbed\n")
    (ssh_dir / "authorized_keys").chmod(0o600)
    (ssh_dir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public}\n")
    user = getpass.getuser()
    (ssh_dir / "sshd_config").write_text(
        f"# The test bed's own sshd: loopback only, key only, nothing from /etc/ssh.\n"
        f"Port {port}\nListenAddress 127.0.0.1\n"
        f"HostKey {ssh_dir / 'ssh_host_ed25519_key'}\n"
        f"PidFile {ssh_dir / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}\n"
        f"AllowUsers {user}\n"
        "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\n"
        # The state directory sits in a checkout whose permissions sshd's StrictModes would reject.
        "StrictModes no\n"
        "Subsystem sftp internal-sftp\n"
    )
    # sshd refuses to start without its privilege-separation directory; Debian creates it only at boot.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    return {
        "host": "127.0.0.1",
        "port": port,
        "user": user,
        "private_key": str(ssh_dir / "id_ed25519"),
        "known_hosts": str(ssh_dir / "known_hosts"),
    }


def argv(binary: str, ssh_dir: Path) -> list[str]:
    return [binary, "-D", "-e", "-f", str(ssh_dir / "sshd_config")]
