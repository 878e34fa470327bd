# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import re
import typing as t

import pytest

from ansible_collections.nodepatch.kube.plugins.module_utils import report

T0 = 1732320000.0  # 2024-11-23 00:00:00 UTC


def rebooted(node: str, start: float, **overrides: t.Any) -> dict[str, t.Any]:
    """A rebooted node: 2 s to ask, 3 s lock wait, 10 s drain, 40 s down, 1 s to uncordon, 4 s release delay."""
    record = {
        "node": node, "host": node, "needed": True, "reasons": ["sentinel file exists"], "blocked": False,
        "blocked_reasons": [], "result": "rebooted", "error": None, "pods_evicted": 4,
        "kernel_before": "5.15.0-1", "kernel_after": "5.15.0-2", "boot_id_before": "a", "boot_id_after": "b",
        "was_unschedulable": False,
        "timeline": {"started": start, "lock_requested": start + 2, "lock_acquired": start + 5,
                     "drain_started": start + 6, "drain_finished": start + 16, "reboot_started": start + 17,
                     "node_ready": start + 57, "uncordoned": start + 58, "lock_released": start + 62,
                     "finished": start + 63},
    }
    record.update(overrides)
    return record


def not_needed(node: str, start: float) -> dict[str, t.Any]:
    return {"node": node, "host": node, "needed": False, "reasons": [], "blocked": False, "blocked_reasons": [],
            "result": "not-needed", "error": None, "pods_evicted": 0, "kernel_before": "5.15.0-2",
            "kernel_after": None, "timeline": {"started": start, "finished": start + 1.5}}


def test_durations_are_the_differences_between_the_phase_moments() -> None:
    row = report.node_row(rebooted("n1", T0))
    assert row["lock_wait_seconds"] == 3.0
    assert row["drain_seconds"] == 10.0
    assert row["down_seconds"] == 40.0
    assert row["total_seconds"] == 63.0
    assert row["failed_during"] is None


def test_missing_timeline_keys_give_none_durations_not_errors() -> None:
    row = report.node_row(not_needed("n2", T0))
    assert (row["lock_wait_seconds"], row["drain_seconds"], row["down_seconds"]) == (None, None, None)
    assert row["total_seconds"] == 1.5
    bare = report.node_row({"node": "n3"})
    assert bare["timeline"] == {} and bare["total_seconds"] is None and bare["result"] == "skipped"
    table = report.render_table([bare])
    assert table.splitlines()[2].split()[:2] == ["n3", "no"]


def test_timeline_values_may_be_numeric_strings_or_iso_timestamps_and_junk_is_named() -> None:
    row = report.node_row({"node": "n1", "timeline": {"started": str(T0), "finished": "2024-11-23T00:01:00Z",
                                                      "node_ready": "soon", "uncordoned": None}})
    assert row["timeline"] == {"started": T0, "finished": T0 + 60}
    assert row["total_seconds"] == 60.0
    assert row["ignored_timeline_keys"] == ["node_ready"]


def test_a_failed_node_stops_where_it_failed_and_says_where() -> None:
    record = rebooted("n1", T0, result="failed", error="PDB shop/web allows 0 disruptions")
    for key in ("drain_finished", "reboot_started", "node_ready", "uncordoned", "lock_released"):
        del record["timeline"][key]
    record["timeline"]["finished"] = T0 + 30
    row = report.node_row(record)
    assert row["drain_seconds"] is None
    assert row["failed_during"] == "cordon + drain"
    assert report.why(row)[0] == "error: PDB shop/web allows 0 disruptions"
    svg = report.render_timeline([row])
    assert 'fill="url(#failed-hatch)"' in svg
    assert "failed during cordon + drain: PDB shop/web allows 0 disruptions" in svg


def test_totals_count_results_wall_time_and_pods() -> None:
    records = [rebooted("n1", T0), rebooted("n2", T0 + 100), not_needed("n3", T0 + 1),
               {"node": "n4", "needed": True, "blocked": True, "blocked_reasons": ["window closed"],
                "result": "blocked", "timeline": {"started": T0 + 2, "finished": T0 + 3}},
               rebooted("n5", T0 + 200, result="failed", error="node did not come back")]
    rows, summary = report.build(records)
    assert summary["nodes"] == 5
    assert (summary["rebooted"], summary["failed"], summary["blocked"], summary["not_needed"]) == (2, 1, 1, 1)
    assert summary["needed"] == 4
    assert summary["wall_seconds"] == 263.0
    assert summary["pods_evicted"] == 12
    assert summary["failed_nodes"] == ["n5"] and summary["blocked_nodes"] == ["n4"]
    assert [row["node"] for row in rows] == ["n1", "n3", "n4", "n2", "n5"]  # in the order they started


def test_one_at_a_time_counts_one_even_when_reboots_touch() -> None:
    first = rebooted("n1", T0)
    second = rebooted("n2", T0)
    # n2 asked for the lock at once and got it exactly when n1 released it
    second["timeline"].update({key: value + 60 for key, value in first["timeline"].items()
                               if key not in ("started", "lock_requested")})
    _rows, summary = report.build([first, second])
    assert summary["max_concurrent_reboots"] == 1
    assert summary["max_concurrent_lock_holders"] == 1
    assert summary["max_concurrent_disrupted"] == 1


def test_overlapping_reboots_are_counted() -> None:
    records = [rebooted("n1", T0), rebooted("n2", T0 + 20), rebooted("n3", T0 + 30), rebooted("n4", T0 + 500)]
    _rows, summary = report.build(records)
    assert summary["max_concurrent_reboots"] == 3
    assert summary["max_concurrent_lock_holders"] == 3


def test_a_node_that_never_came_back_counts_as_down_until_the_end() -> None:
    stuck = rebooted("n1", T0, result="failed", error="not Ready after 600 s")
    for key in ("node_ready", "uncordoned", "lock_released", "finished"):
        del stuck["timeline"][key]
    later = rebooted("n2", T0 + 30)
    _rows, summary = report.build([stuck, later])
    assert summary["max_concurrent_reboots"] == 2


def test_html_escapes_every_string_from_the_records() -> None:
    evil = "<img src=x onerror=alert(1)>"
    record = rebooted(f'n1"{evil}', T0, reasons=[f"reason {evil}"], result="failed", error=f"error & {evil}",
                      kernel_before=evil)
    blocked = {"node": "n2<b>", "result": "blocked", "blocked": True, "blocked_reasons": [f"alert {evil}"],
               "timeline": {"started": T0, "finished": T0 + 1}}
    rows, summary = report.build([record, blocked])
    page = report.render_html(f"title {evil}", rows, summary)
    assert "<img" not in page and "n2<b>" not in page
    assert "n2&lt;b&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'data-node="n1&quot;&lt;img' in page
    assert "onerror=alert(1)>" not in page


def test_html_is_self_contained_with_one_bar_per_node_a_legend_and_the_table() -> None:
    rows, summary = report.build([rebooted("n1", T0), rebooted("n2", T0 + 70), not_needed("n3", T0)])
    page = report.render_html("Nightly", rows, summary)
    assert page.count('class="node-bar') == 3
    for phase in report.PHASES:
        assert f"{phase.label}</span>" in page.replace("→", "→")
    assert page.count("<tr class=\"result-") == 3
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<script" not in page and "@import" not in page and "url(http" not in page
    assert "00:00:00" in page  # tick labels in UTC


def test_tick_labels_are_utc_and_on_round_steps() -> None:
    rows, _summary = report.build([rebooted("n1", T0 + 7), rebooted("n2", T0 + 300)])
    labels = re.findall(r'class="tick-label"[^>]*>([0-9:]+)<', report.render_timeline(rows))
    assert labels[0] == "00:01:00" and labels[1] == "00:02:00"


def test_same_records_give_identical_output() -> None:
    records = [rebooted("n1", T0), not_needed("n2", T0)]
    first = report.build(records)
    second = report.build(list(reversed(records)))
    assert report.render_html("x", *first) == report.render_html("x", *second)
    assert report.render_json("x", *first) == report.render_json("x", *second)
    data = json.loads(report.render_json("x", *first))
    assert data["summary"]["rebooted"] == 1 and data["nodes"][0]["lock_wait_seconds"] == 3.0


def test_table_has_the_columns_users_read() -> None:
    rows, summary = report.build([rebooted("n1", T0), not_needed("n2", T0 + 1)])
    lines = report.render_table(rows).splitlines()
    assert lines[0].split("  ")[0] == "NODE"
    for header in ("NEEDED", "WHY", "PODS EVICTED", "LOCK WAIT", "DRAIN", "DOWN TIME", "KERNEL BEFORE → AFTER",
                   "RESULT"):
        assert header in lines[0]
    assert "3.0s" in lines[2] and "10.0s" in lines[2] and "40.0s" in lines[2] and "5.15.0-1 → 5.15.0-2" in lines[2]
    assert lines[3].rstrip().endswith("not-needed")
    assert report.summary_line(summary).startswith("2 nodes: 1 rebooted, 0 blocked, 0 failed, 1 not needed")


@pytest.mark.parametrize(("seconds", "text"), [(None, "-"), (0.04, "0.0s"), (59.9, "59.9s"), (65, "1m 05s"),
                                               (3725, "1h 02m")])
def test_durations_read_compactly(seconds: float | None, text: str) -> None:
    assert report.duration_text(seconds) == text


def test_a_record_that_is_not_a_dictionary_is_refused() -> None:
    with pytest.raises(TypeError, match="must be a dictionary"):
        report.node_row(["n1"])  # type: ignore[arg-type]


def test_a_node_left_by_an_interrupted_run_is_named_as_resumed() -> None:
    rows, summary = report.build([rebooted("n1", T0, resumed=True), not_needed("n2", T0 + 1)])
    assert summary["resumed_nodes"] == ["n1"]
    assert report.summary_line(summary).endswith(
        "an earlier run was interrupted (cancelled or killed) while rebooting n1: finished here")
    assert "interrupted (cancelled or killed) while rebooting n1" in report.render_html("x", rows, summary)
    _rows, plain = report.build([rebooted("n1", T0)])
    assert plain["resumed_nodes"] == [] and "interrupted" not in report.summary_line(plain)


def test_the_node_that_stopped_the_rollout_is_named_in_the_rows_the_summary_and_the_status() -> None:
    left_out = {**not_needed("n3", T0 + 3), "needed": True, "result": "skipped", "stopped_by": "n2",
                "error": "not rebooted: the roll-out was stopped by n2"}
    failed = rebooted("n2", T0 + 2, result="failed", error="drain timed out")
    rows, summary = report.build([rebooted("n1", T0), failed, rebooted("n4", T0 + 1, result="failed"), left_out])
    assert {row["node"]: row["stopped_by"] for row in rows} == {"n1": None, "n2": None, "n3": "n2", "n4": None}
    assert summary["stopped_by"] == "n2", "the node the stop names, not the failed node that started first"
    assert report.summary_line(summary).endswith("; stopped by n2")
    assert "Roll-out stopped by n2: 2 nodes failed" in report.render_html("x", rows, summary)
    _rows, batches = report.build([rebooted("n1", T0), rebooted("n2", T0 + 2, result="failed")])
    assert batches["stopped_by"] == "n2"
    _rows, fine = report.build([rebooted("n1", T0)])
    assert fine["stopped_by"] is None and "stopped by" not in report.summary_line(fine)
