# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os
import sys

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils import sentinel
from ansible_collections.nodepatch.kube.plugins.module_utils.sentinel import (
    SentinelError,
    detect,
    installed_kernels,
    kernel_sort_key,
    plan_detectors,
)


def newest(*releases: str) -> str:
    return max(releases, key=kernel_sort_key)


@pytest.mark.parametrize("older, newer", [
    ("5.15.0-1037-azure", "5.15.0-1039-azure"),
    ("6.1.0-9-amd64", "6.1.0-10-amd64"),
    ("6.1.0-9", "6.1.0-10"),
    ("6.1.0-rc7", "6.1.0"),
    ("6.1.0-rc2", "6.1.0-rc10"),
    ("5.15.0-1039-azure", "5.15.1-1-azure"),
    ("4.18.0-513.5.1.el8_9.x86_64", "4.18.0-513.11.1.el8_9.x86_64"),
    ("5.15.131.1-2.cm2", "5.15.138.1-1.cm2"),
    ("5.4.0", "5.10.0"),
])
def test_kernel_versions_order_by_meaning_not_by_text(older: str, newer: str) -> None:
    assert kernel_sort_key(older) < kernel_sort_key(newer)
    assert newest(newer, older) == newer


def test_equal_releases_compare_equal() -> None:
    assert kernel_sort_key("6.1.0-10-amd64") == kernel_sort_key("6.1.0-10-amd64")


def make_kernels(tmp_path, boot=(), modules=()):
    boot_dir = tmp_path / "boot"
    modules_dir = tmp_path / "lib" / "modules"
    boot_dir.mkdir(parents=True)
    modules_dir.mkdir(parents=True)
    for release in boot:
        (boot_dir / f"vmlinuz-{release}").write_text("")
    for release in modules:
        (modules_dir / release).mkdir()
    return [str(boot_dir), str(modules_dir)]


def test_installed_kernels_come_from_boot_and_modules_without_rescue_images(tmp_path) -> None:
    dirs = make_kernels(tmp_path, boot=["5.15.0-1037-azure", "0-rescue-0123abcd"], modules=["5.15.0-1039-azure"])
    (tmp_path / "boot" / "config-5.15.0-1037-azure").write_text("")
    assert installed_kernels(dirs) == ["5.15.0-1037-azure", "5.15.0-1039-azure"]


def test_missing_kernel_directories_are_skipped(tmp_path) -> None:
    assert installed_kernels([str(tmp_path / "nowhere")]) == []


def test_kernel_detector_asks_for_reboot_when_a_newer_kernel_is_installed(tmp_path) -> None:
    dirs = make_kernels(tmp_path, boot=["5.15.0-1037-azure", "5.15.0-1039-azure"])
    status = detect(["kernel"], sentinel_file=str(tmp_path / "none"), kernel_dirs=dirs,
                    running_kernel="5.15.0-1037-azure")
    assert status.reboot_required
    assert status.reasons == ["kernel: running 5.15.0-1037-azure, newer 5.15.0-1039-azure is installed"]
    assert status.latest_kernel == "5.15.0-1039-azure"


def test_kernel_detector_is_satisfied_when_running_the_newest(tmp_path) -> None:
    dirs = make_kernels(tmp_path, boot=["6.1.0-9-amd64", "6.1.0-10-amd64"])
    status = detect(["kernel"], kernel_dirs=dirs, running_kernel="6.1.0-10-amd64")
    assert not status.reboot_required
    assert status.detectors["kernel"]["installed"] == ["6.1.0-9-amd64", "6.1.0-10-amd64"]


def test_kernel_detector_named_explicitly_fails_when_no_kernel_is_installed(tmp_path) -> None:
    with pytest.raises(SentinelError, match="no installed kernel found"):
        detect(["kernel"], kernel_dirs=[str(tmp_path)], running_kernel="6.1.0")


def test_sentinel_file_asks_for_reboot_and_lists_packages_once_in_order(tmp_path) -> None:
    flag = tmp_path / "reboot-required"
    flag.write_text("*** System restart required ***\n")
    (tmp_path / "reboot-required.pkgs").write_text("linux-image-azure\nlibc6\n\nlinux-image-azure\nopenssl\n")
    status = detect(["file"], sentinel_file=str(flag))
    assert status.reboot_required
    assert status.packages == ["linux-image-azure", "libc6", "openssl"]
    assert status.reasons == [f"file: {flag} exists (packages: linux-image-azure, libc6, openssl)"]


def test_absent_sentinel_file_means_no_reboot(tmp_path) -> None:
    status = detect(["file"], sentinel_file=str(tmp_path / "reboot-required"))
    assert not status.reboot_required
    assert status.reasons == []
    assert status.packages == []


def test_sentinel_path_that_is_a_directory_is_an_error(tmp_path) -> None:
    with pytest.raises(SentinelError, match="is a directory"):
        detect(["file"], sentinel_file=str(tmp_path))


def test_unreadable_sentinel_file_is_an_error(tmp_path, monkeypatch) -> None:
    flag = tmp_path / "reboot-required"
    flag.write_text("")
    monkeypatch.setattr(sentinel.os, "access", lambda path, mode: False)
    with pytest.raises(SentinelError, match="cannot be read"):
        detect(["file"], sentinel_file=str(flag))


def script(tmp_path, body: str) -> list[str]:
    path = tmp_path / "probe.py"
    path.write_text(body)
    return [sys.executable, str(path)]


def test_sentinel_command_exit_0_means_reboot_required(tmp_path) -> None:
    status = detect(["command"], sentinel_command=script(tmp_path, "raise SystemExit(0)"))
    assert status.reboot_required
    assert status.reasons[0].startswith("command: ")


def test_sentinel_command_exit_1_means_not_required(tmp_path) -> None:
    status = detect(["command"], sentinel_command=script(tmp_path, "raise SystemExit(1)"))
    assert not status.reboot_required
    assert status.detectors["command"]["rc"] == 1


def test_sentinel_command_other_exit_code_is_an_error_with_command_code_and_stderr(tmp_path) -> None:
    argv = script(tmp_path, "import sys\nsys.stderr.write('repo metadata is locked')\nraise SystemExit(3)")
    with pytest.raises(SentinelError) as caught:
        detect(["command"], sentinel_command=argv)
    message = str(caught.value)
    assert "probe.py" in message and "exited 3" in message and "repo metadata is locked" in message


def test_sentinel_command_that_cannot_be_executed_is_an_error_not_a_reboot(tmp_path) -> None:
    with pytest.raises(SentinelError, match="cannot execute"):
        detect(["command"], sentinel_command=[str(tmp_path / "missing-binary")])


def test_sentinel_command_timeout_is_an_error(tmp_path) -> None:
    with pytest.raises(SentinelError, match="did not finish within 0.2 s"):
        detect(["command"], sentinel_command=script(tmp_path, "import time\ntime.sleep(5)"), command_timeout=0.2)


@pytest.mark.parametrize("command", [[], [""]])
def test_empty_sentinel_command_is_rejected(command) -> None:
    with pytest.raises(SentinelError, match="non-empty list"):
        detect(["auto"], sentinel_command=command)


def test_command_detector_without_a_command_is_rejected() -> None:
    with pytest.raises(SentinelError, match="sentinel_command is not set"):
        detect(["command"])


def test_auto_cannot_be_mixed_with_named_detectors() -> None:
    with pytest.raises(SentinelError, match="cannot be combined"):
        detect(["auto", "file"])


def fake_needs_restarting(tmp_path, monkeypatch, exit_code: int) -> None:
    path = tmp_path / "needs-restarting"
    path.write_text(f"#!{sys.executable}\nimport sys\nassert sys.argv[1:] == ['-r']\nraise SystemExit({exit_code})\n")
    path.chmod(0o755)
    monkeypatch.setattr(sentinel, "find_needs_restarting", lambda: str(path))


def test_needs_restarting_exit_1_means_reboot_required(tmp_path, monkeypatch) -> None:
    fake_needs_restarting(tmp_path, monkeypatch, 1)
    status = detect(["needs_restarting"])
    assert status.reboot_required
    assert "needs_restarting" in status.reasons[0]


def test_needs_restarting_exit_0_means_not_required(tmp_path, monkeypatch) -> None:
    fake_needs_restarting(tmp_path, monkeypatch, 0)
    assert not detect(["needs_restarting"]).reboot_required


def test_needs_restarting_failure_is_an_error(tmp_path, monkeypatch) -> None:
    fake_needs_restarting(tmp_path, monkeypatch, 2)
    with pytest.raises(SentinelError, match="exited 2"):
        detect(["needs_restarting"])


def test_needs_restarting_named_but_not_installed_is_an_error(monkeypatch) -> None:
    monkeypatch.setattr(sentinel, "find_needs_restarting", lambda: None)
    with pytest.raises(SentinelError, match="not installed"):
        detect(["needs_restarting"])


@pytest.mark.parametrize("command, needs_restarting, debian, present, expected", [
    (None, None, True, False, ["file"]),
    (["x"], None, True, False, ["file", "command"]),
    (None, "/usr/bin/needs-restarting", False, False, ["file", "needs_restarting"]),
    (None, None, False, False, ["file", "kernel"]),
    (None, None, False, True, ["file"]),
])
def test_auto_picks_the_detectors_that_apply(command, needs_restarting, debian, present, expected) -> None:
    assert plan_detectors(["auto"], command, needs_restarting, debian, present) == expected


def test_named_detectors_run_once_each_in_order() -> None:
    assert plan_detectors(["kernel", "file", "kernel"], None, None, True, False) == ["kernel", "file"]


def test_any_detector_asking_is_enough_and_reasons_name_each(tmp_path) -> None:
    flag = tmp_path / "reboot-required"
    flag.write_text("")
    dirs = make_kernels(tmp_path, boot=["6.1.0-9", "6.1.0-10"])
    status = detect(["file", "kernel"], sentinel_file=str(flag), kernel_dirs=dirs, running_kernel="6.1.0-9")
    assert status.reboot_required
    assert [reason.split(":")[0] for reason in status.reasons] == ["file", "kernel"]
    assert set(status.detectors) == {"file", "kernel"}


def test_boot_id_and_uptime_are_read_from_proc() -> None:
    if not os.path.exists("/proc/uptime"):
        pytest.fail("these tests run on Linux")
    assert sentinel.boot_id()
    assert sentinel.uptime_seconds() > 0
