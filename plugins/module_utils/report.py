# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roll-out report: per-node durations from the records safe_reboot keeps, a text table, JSON, and a
self-contained HTML page with a timeline per node (inline CSS and SVG, nothing fetched, no script)."""

from __future__ import annotations

import datetime
import html
import json
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.text_table import text_table

COLUMNS = [["node", "NODE"], ["needed", "NEEDED"], ["why", "WHY"], ["pods_evicted", "PODS EVICTED"],
           ["lock_wait", "LOCK WAIT"], ["drain", "DRAIN"], ["down", "DOWN TIME"], ["kernels", "KERNEL BEFORE -> AFTER"],
           ["result", "RESULT"]]
# Timeline segments: (name, from, to, colour)
SEGMENTS = [
    ("lock wait", "lock_requested", "lock_acquired", "#c9a227"),
    ("drain", "drain_started", "drain_finished", "#2f7ed8"),
    ("reboot", "reboot_started", "node_ready", "#d9534f"),
    ("uncordon and release", "node_ready", "lock_released", "#5cb85c"),
]
RESULT_COLOURS = {"rebooted": "#2e7d32", "failed": "#c62828", "blocked": "#ef6c00", "not-needed": "#757575",
                  "skipped": "#757575"}


def span(timeline: t.Mapping[str, t.Any], start: str, end: str) -> float | None:
    if timeline.get(start) is None or timeline.get(end) is None:
        return None
    return max(0.0, float(timeline[end]) - float(timeline[start]))


def seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def node_row(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    timeline = record.get("timeline") or {}
    reasons = list(record.get("blocked_reasons") or []) if record.get("blocked") else list(record.get("reasons") or [])
    if record.get("error"):
        reasons.append(str(record["error"]))
    return {
        "node": record.get("node"),
        "needed": bool(record.get("needed")),
        "why": reasons,
        "pods_evicted": int(record.get("pods_evicted") or 0),
        "lock_wait_seconds": span(timeline, "lock_requested", "lock_acquired"),
        "drain_seconds": span(timeline, "drain_started", "drain_finished"),
        "down_seconds": span(timeline, "reboot_started", "node_ready"),
        "total_seconds": span(timeline, "started", "finished") or span(timeline, "started", "lock_released"),
        "kernel_before": record.get("kernel_before"),
        "kernel_after": record.get("kernel_after"),
        "result": record.get("result") or "skipped",
        "error": record.get("error"),
        "blocked_reasons": list(record.get("blocked_reasons") or []),
        "timeline": {key: float(value) for key, value in timeline.items() if value is not None},
    }


def max_concurrent_reboots(rows: t.Sequence[t.Mapping[str, t.Any]]) -> int:
    """Most nodes between drain start and node Ready at the same instant."""
    events = []
    for row in rows:
        timeline = row["timeline"]
        start = timeline.get("drain_started", timeline.get("reboot_started"))
        end = timeline.get("node_ready", timeline.get("finished"))
        if start is not None and (timeline.get("reboot_started") is not None or timeline.get("drain_started")):
            events.append((start, 1))
            events.append((end if end is not None else float("inf"), -1))
    current = peak = 0
    for _moment, delta in sorted(events, key=lambda event: (event[0], event[1])):
        current += delta
        peak = max(peak, current)
    return peak


def summarise(rows: t.Sequence[t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    counts = {result: sum(1 for row in rows if row["result"] == result)
              for result in ("rebooted", "failed", "blocked", "not-needed", "skipped")}
    moments = [value for row in rows for value in row["timeline"].values()]
    return {"nodes": len(rows), **{key.replace("-", "_"): value for key, value in counts.items()},
            "wall_seconds": round(max(moments) - min(moments), 3) if moments else 0.0,
            "max_concurrent_reboots": max_concurrent_reboots(rows),
            "pods_evicted": sum(row["pods_evicted"] for row in rows)}


def table_rows(rows: t.Sequence[t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    return [{"node": row["node"], "needed": row["needed"], "why": row["why"], "pods_evicted": row["pods_evicted"],
             "lock_wait": seconds_text(row["lock_wait_seconds"]), "drain": seconds_text(row["drain_seconds"]),
             "down": seconds_text(row["down_seconds"]),
             "kernels": f"{row['kernel_before'] or '?'} -> {row['kernel_after'] or '-'}", "result": row["result"]}
            for row in rows]


def render_table(rows: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    return text_table(table_rows(rows), COLUMNS)


def render_json(title: str, rows: t.Sequence[t.Mapping[str, t.Any]], summary: t.Mapping[str, t.Any]) -> str:
    return json.dumps({"title": title, "summary": summary, "nodes": list(rows)}, indent=2, sort_keys=True) + "\n"


def utc_text(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).strftime("%H:%M:%S")


def render_timeline(rows: t.Sequence[t.Mapping[str, t.Any]], width: int = 1100) -> str:
    label_width, bar_height, gap, axis = 260, 18, 10, 28
    moments = [value for row in rows for value in row["timeline"].values()]
    if not moments:
        return "<p>No timeline recorded.</p>"
    begin, finish = min(moments), max(moments)
    scale = (width - label_width - 20) / max(finish - begin, 1.0)
    height = axis + len(rows) * (bar_height + gap) + 10
    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="Roll-out timeline">']
    ticks = 6
    for index in range(ticks + 1):
        moment = begin + (finish - begin) * index / ticks
        x = label_width + (moment - begin) * scale
        parts.append(f'<line x1="{x:.1f}" y1="{axis - 6}" x2="{x:.1f}" y2="{height}" class="tick"/>'
                     f'<text x="{x:.1f}" y="{axis - 10}" class="tick-label">{utc_text(moment)}</text>')
    for index, row in enumerate(rows):
        y = axis + index * (bar_height + gap)
        colour = RESULT_COLOURS.get(row["result"], "#757575")
        parts.append(f'<g class="node-bar" data-node="{html.escape(str(row["node"]))}" '
                     f'data-result="{html.escape(row["result"])}">')
        parts.append(f'<text x="0" y="{y + bar_height - 4}" class="node-label">{html.escape(str(row["node"]))}</text>'
                     f'<text x="{label_width - 8}" y="{y + bar_height - 4}" class="result-label" '
                     f'fill="{colour}" text-anchor="end">{html.escape(row["result"])}</text>')
        timeline = row["timeline"]
        first, last = timeline.get("started", begin), timeline.get("finished", max(timeline.values(), default=begin))
        parts.append(f'<rect x="{label_width + (first - begin) * scale:.1f}" y="{y + bar_height / 2 - 1}" '
                     f'width="{max((last - first) * scale, 1):.1f}" height="2" fill="#bbb"/>')
        for name, start, end, segment_colour in SEGMENTS:
            if timeline.get(start) is None or timeline.get(end) is None:
                continue
            x = label_width + (timeline[start] - begin) * scale
            length = max((timeline[end] - timeline[start]) * scale, 2)
            parts.append(f'<rect class="segment" x="{x:.1f}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                         f'fill="{segment_colour}"><title>{html.escape(str(row["node"]))}: {name} '
                         f'{timeline[end] - timeline[start]:.1f} s</title></rect>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin: 0 0 4px; }
.sub { color: #666; margin-bottom: 16px; }
.cards { display: flex; gap: 12px; margin-bottom: 18px; flex-wrap: wrap; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 22px; }
.legend span { display: inline-block; margin-right: 16px; }
.legend i { display: inline-block; width: 14px; height: 14px; margin-right: 5px; vertical-align: -2px; }
svg text { font-size: 12px; font-family: inherit; }
.tick { stroke: #eee; } .tick-label { fill: #888; text-anchor: middle; font-size: 11px; }
table { border-collapse: collapse; margin-top: 18px; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; }
td.result { font-weight: 600; }
"""


def render_html(title: str, rows: t.Sequence[t.Mapping[str, t.Any]], summary: t.Mapping[str, t.Any]) -> str:
    cards = [("nodes", summary["nodes"]), ("rebooted", summary["rebooted"]), ("blocked", summary["blocked"]),
             ("failed", summary["failed"]), ("not needed", summary["not_needed"]),
             ("wall time", f"{summary['wall_seconds']:.0f} s"),
             ("max rebooting at once", summary["max_concurrent_reboots"])]
    legend = "".join(f'<span><i style="background:{colour}"></i>{name}</span>' for name, _s, _e, colour in SEGMENTS)
    header = "".join(f"<th>{html.escape(label)}</th>" for _key, label in COLUMNS)
    body = []
    for row, cells in zip(rows, table_rows(rows)):
        colour = RESULT_COLOURS.get(row["result"], "#757575")
        values = []
        for key, _label in COLUMNS:
            value = cells[key]
            text = "; ".join(str(item) for item in value) if isinstance(value, list) else str(value)
            if isinstance(value, bool):
                text = "yes" if value else "no"
            style = f' class="result" style="color:{colour}"' if key == "result" else ""
            values.append(f"<td{style}>{html.escape(text or '-')}</td>")
        body.append(f'<tr data-node="{html.escape(str(row["node"]))}">{"".join(values)}</tr>')
    moments = [value for row in rows for value in row["timeline"].values()]
    when = (datetime.datetime.fromtimestamp(min(moments), tz=datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            if moments else "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class=\"sub\">nodepatch.kube roll-out, started {when}</div>"
        "<div class=\"cards\">" + "".join(f"<div class=\"card\"><b>{html.escape(str(value))}</b>{html.escape(name)}</div>"
                                          for name, value in cards) + "</div>"
        f"<div class=\"legend\">{legend}</div>{render_timeline(rows)}"
        f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "</body></html>\n"
    )
