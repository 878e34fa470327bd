# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nodepatch.kube.rollout_report writes an HTML report that a real headless Chromium (Debian's chromium) renders:
one timeline bar per node, the legend, the table, nothing fetched; the screenshot shows the phase colours.

Set NODEPATCH_REPORT_SCREENSHOT=<path> to keep the screenshot (docs/images/rollout-report.png comes from here).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from report_records import rollout_records

REPO = Path(__file__).resolve().parents[3]
NODES = ["aks-nodepool1-0", "aks-nodepool1-1", "aks-nodepool1-2", "aks-nodepool1-3", "aks-nodepool1-4"]
PHASE_COLOURS = {"lock wait": (0xE0, 0xA5, 0x26), "cordon + drain": (0x3B, 0x7D, 0xD8),
                 "reboot (node down)": (0x7B, 0x4F, 0xC9), "ready → uncordon → release lock": (0x2E, 0xA8, 0x6B)}


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed when missing (CI has no other way to get it)."""
    proc = subprocess.run([str(REPO / "tools" / "system-deps.sh"), "chromium"], capture_output=True, text=True,
                          check=False, timeout=1800)
    binary = shutil.which("chromium")
    if proc.returncode != 0 or not binary:
        pytest.fail(f"chromium is needed and could not be installed: {proc.stdout}{proc.stderr}")
    return binary


def browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=180)


@pytest.fixture
def report(run_module: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    html_path, json_path = tmp_path / "out" / "rollout.html", tmp_path / "out" / "rollout.json"
    args = {"records": rollout_records(), "title": "Nightly patching <prod-westeurope>", "html_path": str(html_path),
            "json_path": str(json_path)}
    result = run_module("rollout_report", args)
    assert result["rc"] == 0 and not result.get("failed"), result
    yield {"args": args, "result": result, "html": html_path, "json": json_path}


# ------------------------------------------------------------------------------------------------ the module


def test_the_module_reports_three_rebooted_one_blocked_one_not_needed(report: dict[str, Any]) -> None:
    result = report["result"]
    assert result["changed"] is True
    summary = result["summary"]
    assert (summary["nodes"], summary["rebooted"], summary["blocked"], summary["not_needed"], summary["failed"]) == (
        5, 3, 1, 1, 0)
    assert summary["max_concurrent_reboots"] == 1 and summary["max_concurrent_lock_holders"] == 1
    assert summary["pods_evicted"] == 27 and summary["blocked_nodes"] == ["aks-nodepool1-3"]
    assert [row["node"] for row in result["nodes"]] == NODES
    assert result["nodes"][0]["drain_seconds"] == 21.5 and result["nodes"][0]["down_seconds"] == 48.0
    assert result["lines"][0].startswith("NODE") and result["lines"][-1].startswith("5 nodes: 3 rebooted")
    assert json.loads(report["json"].read_text())["summary"] == summary


def test_same_records_again_change_nothing_and_check_mode_writes_nothing(
        report: dict[str, Any], run_module: Any, tmp_path: Path) -> None:
    stamp = report["html"].stat().st_mtime_ns
    again = run_module("rollout_report", report["args"], diff=True)
    assert again["changed"] is False and again.get("diff", {}).get("after") == {}
    assert report["html"].stat().st_mtime_ns == stamp

    elsewhere = {**report["args"], "html_path": str(tmp_path / "check" / "r.html"),
                 "json_path": str(tmp_path / "check" / "r.json")}
    checked = run_module("rollout_report", elsewhere, check=True, diff=True)
    assert checked["changed"] is True
    assert not (tmp_path / "check").exists()
    assert checked["diff"]["before"][elsewhere["html_path"]] == "(absent)"
    assert checked["diff"]["after"][elsewhere["html_path"]].startswith("sha256:")

    changed_records = {**report["args"], "title": "Another title"}
    rewritten = run_module("rollout_report", changed_records, diff=True)
    assert rewritten["changed"] is True
    assert list(rewritten["diff"]["after"]) == [str(report["html"]), str(report["json"])]


# ------------------------------------------------------------------------------------------------ in Chromium


class Dom(HTMLParser):
    """What the test needs from the DOM Chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[dict[str, str]] = []
        self.segments: list[str] = []
        self.legend: list[str] = []
        self.rows: list[str] = []
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self._in_legend = 0
        self._texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        self.tags.add(tag)
        classes = values.get("class", "").split()
        if tag == "g" and "node-bar" in classes:
            self.bars.append(values)
        if tag == "rect" and "segment" in classes:
            self.segments.append(values.get("data-phase", ""))
        if tag == "tr" and "data-node" in values:
            self.rows.append(values["data-node"])
        if tag == "div" and "legend" in classes:
            self._in_legend = 1
        for key in ("src", "href", "xlink:href", "action", "poster", "srcset", "data"):
            if key in values and not values[key].startswith("#"):
                self.urls.append(values[key])

    def handle_endtag(self, tag: str) -> None:
        if self._in_legend and tag == "div":
            self._in_legend = 0
            self.legend = [text for text in self._texts if text.strip()]

    def handle_data(self, data: str) -> None:
        if self._in_legend:
            self._texts.append(data.strip())


def test_chromium_renders_one_bar_per_node_the_legend_and_the_table(report: dict[str, Any], chromium: str,
                                                                    tmp_path: Path) -> None:
    proc = browse(chromium, tmp_path / "profile", "--dump-dom", report["html"].as_uri())
    assert proc.returncode == 0, proc.stderr
    dom_text = proc.stdout
    dom = Dom()
    dom.feed(dom_text)
    assert [node_bar["data-node"] for node_bar in dom.bars] == NODES
    assert {node_bar["data-node"]: node_bar["data-result"] for node_bar in dom.bars} == {
        "aks-nodepool1-0": "rebooted", "aks-nodepool1-1": "rebooted", "aks-nodepool1-2": "rebooted",
        "aks-nodepool1-3": "blocked", "aks-nodepool1-4": "not-needed"}
    assert sorted(dom.segments) == sorted(["lock_wait", "drain", "down", "back"] * 3)
    assert dom.legend == [*PHASE_COLOURS, "did not finish (failed)"]
    assert dom.rows == NODES
    # the blocked node is marked with its reason, escaped text and all
    assert "blocked, not rebooted: Prometheus alert firing: KubePodCrashLooping &lt;prod&gt; &amp; \"payments\"" in dom_text
    assert "Nightly patching &lt;prod-westeurope&gt;" in dom_text
    # self-contained: nothing to fetch, no script
    assert dom.urls == []
    assert not dom.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert "url(http" not in dom_text and "@import" not in dom_text
    assert "00:00:00" in dom_text and "time (UTC)" in dom_text


def test_chromium_screenshot_shows_the_timeline_colours(report: dict[str, Any], chromium: str, tmp_path: Path) -> None:
    png = tmp_path / "rollout.png"
    proc = browse(chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1400,900",
                  report["html"].as_uri())
    assert proc.returncode == 0 and png.exists(), proc.stderr
    assert png.stat().st_size > 40_000  # a blank page is a few KB
    width, height, pixels = decode_png(png.read_bytes())
    assert (width, height) == (1400, 900)
    counts = colour_counts(pixels, PHASE_COLOURS)
    for phase, count in counts.items():
        assert count > 500, f"{phase} is hardly visible in the screenshot: {counts}"
    keep = os.environ.get("NODEPATCH_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(png, keep)


# ------------------------------------------------------------------------------------------------ a tiny PNG reader


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows (RGB or RGBA, 8 bits) of a non-interlaced PNG; stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat = 8, b""
    width = height = channels = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type, _compression, _filter, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for index in range(channels, stride):
                line[index] = (line[index] + line[index - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind == 3:
            for index in range(stride):
                left = line[index - channels] if index >= channels else 0
                line[index] = (line[index] + ((left + previous[index]) >> 1)) & 0xFF
        elif kind == 4:
            for index in range(stride):
                left = line[index - channels] if index >= channels else 0
                up = previous[index]
                up_left = previous[index - channels] if index >= channels else 0
                estimate = left + up - up_left
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
                predictor = left if distances[0] <= distances[1] and distances[0] <= distances[2] else (
                    up if distances[1] <= distances[2] else up_left)
                line[index] = (line[index] + predictor) & 0xFF
        rows.append(bytes(line) if channels == 3 else bytes(value for index, value in enumerate(line) if index % 4 != 3))
        previous = line
    return width, height, rows


def colour_counts(rows: list[bytes], colours: dict[str, tuple[int, int, int]], tolerance: int = 14) -> dict[str, int]:
    counts = dict.fromkeys(colours, 0)
    for line in rows:
        for index in range(0, len(line), 3):
            pixel = line[index:index + 3]
            for name, (red, green, blue) in colours.items():
                if abs(pixel[0] - red) <= tolerance and abs(pixel[1] - green) <= tolerance and abs(
                        pixel[2] - blue) <= tolerance:
                    counts[name] += 1
                    break
    return counts
