# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roll-out report: per-node durations from the records safe_reboot keeps, roll-out totals, a text table, JSON,
and a self-contained HTML page with a timeline per node (inline CSS and SVG; nothing fetched, no script).

Everything here is a pure function of the records, so the same records always give byte-identical output: the
module writes a file only when its content changed.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.text_table import text_table

RESULTS = ("rebooted", "failed", "blocked", "not-needed", "skipped")
TIMELINE_KEYS = ("started", "lock_requested", "lock_acquired", "drain_started", "drain_finished", "reboot_started",
                 "node_ready", "uncordoned", "lock_released", "finished")
COLUMNS = [["node", "NODE"], ["needed", "NEEDED"], ["why", "WHY"], ["pods_evicted", "PODS EVICTED"],
           ["lock_wait", "LOCK WAIT"], ["drain", "DRAIN"], ["down", "DOWN TIME"], ["kernels", "KERNEL BEFORE → AFTER"],
           ["result", "RESULT"]]


class Phase(t.NamedTuple):
    key: str
    label: str
    start: str
    ends: tuple[str, ...]  # the first of these present ends the phase
    colour: str


# The coloured segments of a timeline bar, in the order they happen.
PHASES = (
    Phase("lock_wait", "lock wait", "lock_requested", ("lock_acquired",), "#e0a526"),
    Phase("drain", "cordon + drain", "drain_started", ("drain_finished",), "#3b7dd8"),
    Phase("down", "reboot (node down)", "reboot_started", ("node_ready",), "#7b4fc9"),
    Phase("back", "ready → uncordon → release lock", "node_ready", ("lock_released", "uncordoned"), "#2ea86b"),
)
RESULT_COLOURS = {"rebooted": "#1e7e34", "failed": "#c62828", "blocked": "#d35400", "not-needed": "#6c757d",
                  "skipped": "#6c757d"}
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


# ------------------------------------------------------------------------------------------------ numbers


def epoch(value: t.Any) -> float | None:
    """Epoch seconds from a number, a numeric string or an ISO 8601 timestamp (naive means UTC); None if neither."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    text = str(value).strip()
    try:
        number = float(text)
        return number if math.isfinite(number) else None
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def span(timeline: t.Mapping[str, float], start: str, end: str) -> float | None:
    if start not in timeline or end not in timeline:
        return None
    return round(max(0.0, timeline[end] - timeline[start]), 3)


def duration_text(seconds: float | None) -> str:
    """``-`` when the phase did not happen, else compact: 8.2s, 4m 05s, 1h 02m."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def utc_text(moment: float, with_date: bool = False) -> str:
    stamp = datetime.datetime.fromtimestamp(moment, tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S")


# ------------------------------------------------------------------------------------------------ rows and totals


def clean_timeline(raw: t.Any) -> tuple[dict[str, float], list[str]]:
    """The timeline with every value as epoch seconds; values that are not times are dropped and named."""
    timeline: dict[str, float] = {}
    dropped: list[str] = []
    if not isinstance(raw, t.Mapping):
        return timeline, ([] if raw is None else ["timeline"])
    for key, value in raw.items():
        if value is None:
            continue
        moment = epoch(value)
        if moment is None:
            dropped.append(str(key))
        else:
            timeline[str(key)] = moment
    return timeline, dropped


def text_list(value: t.Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if item is not None and str(item) != ""]
    return [str(value)] if str(value) else []


def node_row(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """One row of the report: the record's facts, its timeline as floats and the phase durations in seconds."""
    if not isinstance(record, t.Mapping):
        raise TypeError(f"a record must be a dictionary, not {type(record).__name__}")
    timeline, dropped = clean_timeline(record.get("timeline"))
    result = str(record.get("result") or "skipped")
    error = record.get("error")
    moments = sorted(timeline.values())
    first = timeline.get("started", moments[0] if moments else None)
    last = timeline.get("finished", moments[-1] if moments else None)
    return {
        "node": str(record.get("node") or record.get("host") or "?"),
        "host": None if record.get("host") is None else str(record.get("host")),
        "needed": bool(record.get("needed")),
        "reasons": text_list(record.get("reasons")),
        "blocked": bool(record.get("blocked")) or result == "blocked",
        "blocked_reasons": text_list(record.get("blocked_reasons")),
        "result": result,
        "error": None if error in (None, "") else str(error),
        "pods_evicted": int(record.get("pods_evicted") or 0),
        "kernel_before": record.get("kernel_before"),
        "kernel_after": record.get("kernel_after"),
        "boot_id_before": record.get("boot_id_before"),
        "boot_id_after": record.get("boot_id_after"),
        "was_unschedulable": bool(record.get("was_unschedulable")),
        "resumed": bool(record.get("resumed")),
        "stopped_by": None if record.get("stopped_by") in (None, "") else str(record.get("stopped_by")),
        "lock_wait_seconds": span(timeline, "lock_requested", "lock_acquired"),
        "drain_seconds": span(timeline, "drain_started", "drain_finished"),
        "down_seconds": span(timeline, "reboot_started", "node_ready"),
        "total_seconds": None if first is None or last is None else round(max(0.0, last - first), 3),
        "failed_during": failed_phase(timeline) if result == "failed" else None,
        "timeline": timeline,
        "ignored_timeline_keys": dropped,
    }


def failed_phase(timeline: t.Mapping[str, float]) -> str | None:
    """The last phase that started and never ended: where a failed node stopped."""
    for phase in reversed(PHASES):
        if phase.start in timeline and not any(end in timeline for end in phase.ends):
            return phase.label
    return None


def ordered(rows: t.Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """In the order the nodes started (then by name), so the timeline reads top-left to bottom-right."""
    def key(row: t.Mapping[str, t.Any]) -> tuple[float, str]:
        timeline = row["timeline"]
        start = timeline.get("started", min(timeline.values(), default=math.inf))
        return (start, row["node"])
    return sorted(rows, key=key)


def rollout_bounds(rows: t.Sequence[t.Mapping[str, t.Any]]) -> tuple[float, float] | None:
    moments = [value for row in rows for value in row["timeline"].values()]
    return (min(moments), max(moments)) if moments else None


def intervals(rows: t.Sequence[t.Mapping[str, t.Any]], start: str, ends: t.Sequence[str]) -> list[tuple[float, float]]:
    """Per node, from ``start`` to the first of ``ends``; a node that never got there counts until the roll-out's
    last recorded moment (a node that did not come back is still down when the report is written)."""
    bounds = rollout_bounds(rows)
    found = []
    for row in rows:
        timeline = row["timeline"]
        if start not in timeline:
            continue
        end = next((timeline[key] for key in ends if key in timeline), None)
        if end is None and bounds is not None:
            end = max(bounds[1], timeline[start])
        found.append((timeline[start], end if end is not None else timeline[start]))
    return found


def max_overlap(spans: t.Sequence[tuple[float, float]]) -> int:
    """Most intervals open at one instant; one ending exactly when another starts does not overlap it."""
    events = [(start, 1) for start, _end in spans] + [(end, -1) for _start, end in spans]
    current = peak = 0
    for _moment, delta in sorted(events):  # at equal times -1 sorts before +1
        current += delta
        peak = max(peak, current)
    return peak


def summarise(rows: t.Sequence[t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    bounds = rollout_bounds(rows)
    counts = {result.replace("-", "_"): sum(1 for row in rows if row["result"] == result) for result in RESULTS}
    counts["other"] = sum(1 for row in rows if row["result"] not in RESULTS)
    return {
        "nodes": len(rows),
        **counts,
        "needed": sum(1 for row in rows if row["needed"]),
        "started": bounds[0] if bounds else None,
        "finished": bounds[1] if bounds else None,
        "wall_seconds": round(bounds[1] - bounds[0], 3) if bounds else 0.0,
        # reboot_started → node_ready: nodes actually down at once
        "max_concurrent_reboots": max_overlap(intervals(rows, "reboot_started", ("node_ready",))),
        # drain_started → uncordoned: nodes out of service (cordoned by us) at once
        "max_concurrent_disrupted": max_overlap(intervals(rows, "drain_started", ("uncordoned", "lock_released"))),
        # lock_acquired → lock_released: lock holders at once
        "max_concurrent_lock_holders": max_overlap(intervals(rows, "lock_acquired", ("lock_released",))),
        "pods_evicted": sum(row["pods_evicted"] for row in rows),
        "failed_nodes": [row["node"] for row in rows if row["result"] == "failed"],
        "blocked_nodes": [row["node"] for row in rows if row["result"] == "blocked"],
        # nodes an earlier run had marked and left (cancelled, killed, crashed): this run finished them
        "resumed_nodes": [row["node"] for row in rows if row["resumed"]],
        "stopped_by": stopped_by(rows),
    }


def stopped_by(rows: t.Sequence[t.Mapping[str, t.Any]]) -> str | None:
    """The node whose failure stopped the roll-out: the one the nodes left out name (lock-paced, the stop on the
    lock says), else the failed node that started first (in batches, the first failure ends the roll-out)."""
    named = next((row["stopped_by"] for row in rows if row["stopped_by"]), None)
    return named or next((row["node"] for row in rows if row["result"] == "failed"), None)


def build(records: t.Iterable[t.Mapping[str, t.Any]]) -> tuple[list[dict[str, t.Any]], dict[str, t.Any]]:
    rows = ordered(node_row(record) for record in records)
    return rows, summarise(rows)


# ------------------------------------------------------------------------------------------------ text and JSON


def why(row: t.Mapping[str, t.Any]) -> list[str]:
    """What went wrong (failed) or why the node was not rebooted (blocked) first, then why it needed a reboot."""
    parts = []
    if row["error"]:
        parts.append(f"error: {row['error']}")
    if row["result"] == "blocked" or row["blocked"]:
        parts.extend(f"blocked: {reason}" for reason in row["blocked_reasons"] or ["(no reason given)"])
    parts.extend(row["reasons"])
    if row["was_unschedulable"]:
        parts.append("cordoned by an administrator before, left cordoned")
    return parts


def kernels_text(row: t.Mapping[str, t.Any]) -> str:
    before, after = row["kernel_before"], row["kernel_after"]
    if not before and not after:
        return "-"
    return f"{before or '?'} → {after or '-'}"


def table_rows(rows: t.Sequence[t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    return [{"node": row["node"], "needed": row["needed"], "why": why(row), "pods_evicted": row["pods_evicted"],
             "lock_wait": duration_text(row["lock_wait_seconds"]), "drain": duration_text(row["drain_seconds"]),
             "down": duration_text(row["down_seconds"]), "kernels": kernels_text(row), "result": row["result"]}
            for row in rows]


def render_table(rows: t.Sequence[t.Mapping[str, t.Any]], max_width: int = 60) -> str:
    return text_table(table_rows(rows), COLUMNS, max_width)


def summary_line(summary: t.Mapping[str, t.Any]) -> str:
    text = (f"{summary['nodes']} nodes: {summary['rebooted']} rebooted, {summary['blocked']} blocked, "
            f"{summary['failed']} failed, {summary['not_needed']} not needed")
    if summary["skipped"]:
        text += f", {summary['skipped']} skipped"
    text = (f"{text}; wall time {duration_text(summary['wall_seconds'])}; at most "
            f"{summary['max_concurrent_reboots']} rebooting at once; {summary['pods_evicted']} pods evicted")
    if summary["resumed_nodes"]:
        text += f"; {resumed_text(summary['resumed_nodes'])}"
    if summary["stopped_by"]:
        text += f"; stopped by {summary['stopped_by']}"
    return text


def resumed_text(nodes: t.Sequence[str]) -> str:
    return f"an earlier run was interrupted (cancelled or killed) while rebooting {', '.join(nodes)}: finished here"


def render_json(title: str, rows: t.Sequence[t.Mapping[str, t.Any]], summary: t.Mapping[str, t.Any]) -> str:
    return json.dumps({"title": title, "summary": summary, "nodes": list(rows)}, indent=2, sort_keys=True,
                      ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------------ HTML


def esc(value: t.Any) -> str:
    return html.escape(str(value), quote=True)


def tick_step(length: float, wanted: int = 8) -> int:
    return next((step for step in TICK_STEPS if length / step <= wanted), TICK_STEPS[-1])


LABEL_WIDTH = 230
PLOT_WIDTH = 940
ROW_HEIGHT = 46
BAR_HEIGHT = 18
AXIS_HEIGHT = 34


def render_timeline(rows: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    bounds = rollout_bounds(rows)
    if bounds is None:
        return '<p class="empty">No timeline was recorded.</p>'
    begin, finish = bounds
    length = max(finish - begin, 1.0)
    scale = PLOT_WIDTH / length
    width = LABEL_WIDTH + PLOT_WIDTH + 30
    height = AXIS_HEIGHT + len(rows) * ROW_HEIGHT + 8

    def x_of(moment: float) -> float:
        return LABEL_WIDTH + (moment - begin) * scale

    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="Timeline of the roll-out, one bar per node">',
             '<defs><pattern id="failed-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f6c9c9"/>'
             '<line x1="0" y1="0" x2="0" y2="6" stroke="#c62828" stroke-width="3"/></pattern></defs>',
             '<g class="axis">']
    step = tick_step(length)
    first_tick = math.ceil(begin / step) * step
    moment = float(first_tick)
    while moment <= finish + 1e-9:
        x = x_of(moment)
        parts.append(f'<line class="tick" x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}" y2="{height - 4}"/>'
                     f'<text class="tick-label" x="{x:.1f}" y="{AXIS_HEIGHT - 12}">{utc_text(moment)}</text>')
        moment += step
    parts.append(f'<text class="axis-unit" x="8" y="{AXIS_HEIGHT - 12}">time (UTC)</text></g>')

    for index, row in enumerate(rows):
        parts.append(node_bar(row, index, x_of, finish))
    parts.append("</svg>")
    return "".join(parts)


def node_bar(row: t.Mapping[str, t.Any], index: int, x_of: t.Callable[[float], float], finish: float) -> str:
    top = AXIS_HEIGHT + index * ROW_HEIGHT
    timeline = row["timeline"]
    result = row["result"]
    colour = RESULT_COLOURS.get(result, "#6c757d")
    node = esc(row["node"])
    mid = top + 4 + BAR_HEIGHT / 2
    parts = [f'<g class="node-bar result-{esc(result)}" data-node="{node}" data-result="{esc(result)}">']
    if index % 2 == 0:
        parts.append(f'<rect class="stripe" x="0" y="{top}" width="{LABEL_WIDTH + PLOT_WIDTH + 30}" '
                     f'height="{ROW_HEIGHT}"/>')
    parts.append(f'<text class="node-label" x="8" y="{mid + 4:.1f}">{node}</text>'
                 f'<text class="result-label" x="{LABEL_WIDTH - 12}" y="{mid + 4:.1f}" fill="{colour}">'
                 f'{esc(result)}</text>')
    moments = sorted(timeline.values())
    if moments:
        first = timeline.get("started", moments[0])
        last = timeline.get("finished", moments[-1])
        parts.append(f'<rect class="span" x="{x_of(first):.1f}" y="{mid - 1:.1f}" '
                     f'width="{max(x_of(last) - x_of(first), 1):.1f}" height="2"/>')
    for phase in PHASES:
        if phase.start not in timeline:
            continue
        start = timeline[phase.start]
        end = next((timeline[key] for key in phase.ends if key in timeline), None)
        unfinished = end is None
        if unfinished:
            if result != "failed":
                continue
            end = max(timeline.get("finished", finish), start)
        x = x_of(start)
        length = max(x_of(end) - x, 2.0)
        fill = "url(#failed-hatch)" if unfinished else phase.colour
        extra = ' stroke="#c62828" stroke-width="1.5"' if unfinished else ""
        note = " - did not finish" if unfinished else ""
        parts.append(f'<rect class="segment phase-{phase.key}" data-phase="{phase.key}" x="{x:.1f}" y="{top + 4}" '
                     f'width="{length:.1f}" height="{BAR_HEIGHT}" rx="2" fill="{fill}"{extra}>'
                     f'<title>{node}: {esc(phase.label)} {duration_text(end - start)}{note}</title></rect>')
    if moments and not any(phase.start in timeline for phase in PHASES):
        parts.append(f'<circle class="marker" cx="{x_of(timeline.get("started", moments[0])):.1f}" cy="{mid:.1f}" '
                     f'r="5" fill="{colour}"/>')
    note = bar_note(row)
    if note:
        parts.append(f'<text class="bar-note" x="{LABEL_WIDTH + 4}" y="{top + BAR_HEIGHT + 18}" fill="{colour}">'
                     f'{esc(note)}</text>')
    parts.append("</g>")
    return "".join(parts)


def bar_note(row: t.Mapping[str, t.Any], limit: int = 150) -> str:
    result = row["result"]
    if result == "failed":
        where = f" during {row['failed_during']}" if row["failed_during"] else ""
        text = f"✖ failed{where}: {row['error'] or 'no error recorded'}"
    elif result == "blocked":
        text = "blocked, not rebooted: " + ("; ".join(row["blocked_reasons"]) or "no reason recorded")
    elif result == "not-needed":
        text = "no reboot needed"
    elif result == "rebooted":
        facts = [f"down {duration_text(row['down_seconds'])}", f"{row['pods_evicted']} pods evicted"]
        if row["kernel_before"] or row["kernel_after"]:
            facts.append(f"kernel {kernels_text(row)}")
        text = " · ".join(facts)
        if row["was_unschedulable"]:
            text += " (left cordoned: an administrator had cordoned it)"
    else:
        text = result + (f": {row['error']}" if row["error"] else "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


CSS = """
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px 28px; color: #1f2328;
       background: #fff; font-size: 14px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
.sub { color: #59636e; margin-bottom: 14px; }
.status { padding: 10px 14px; border-radius: 6px; margin-bottom: 14px; font-weight: 600; border-left: 6px solid; }
.status.ok { background: #e9f6ec; border-color: #1e7e34; color: #14532d; }
.status.warn { background: #fdf0e6; border-color: #d35400; color: #7a3300; }
.status.bad { background: #fde8e8; border-color: #c62828; color: #7f1d1d; }
.status ul { margin: 6px 0 0; padding-left: 20px; font-weight: 400; }
.cards { display: flex; gap: 10px; flex-wrap: wrap; margin-bottom: 6px; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 14px; min-width: 108px; color: #59636e; }
.card b { display: block; font-size: 22px; color: #1f2328; }
.card.rebooted b { color: #1e7e34; } .card.failed b { color: #c62828; } .card.blocked b { color: #d35400; }
.legend { margin: 6px 0 4px; }
.legend span { display: inline-block; margin-right: 18px; white-space: nowrap; }
.legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px; vertical-align: -2px; border-radius: 2px; }
.legend i.failed { background: repeating-linear-gradient(45deg, #c62828 0 3px, #f6c9c9 3px 6px); }
svg.timeline { display: block; max-width: 100%; height: auto; }
svg text { font-family: inherit; font-size: 12px; }
svg .tick { stroke: #e3e6ea; } svg .tick-label { fill: #59636e; text-anchor: middle; font-size: 11px; }
svg .axis-unit { fill: #59636e; font-size: 11px; font-weight: 600; }
svg .stripe { fill: #f6f8fa; } svg .span { fill: #b8c0c8; }
svg .node-label { font-weight: 600; fill: #1f2328; font-size: 13px; }
svg .result-label { text-anchor: end; font-weight: 600; }
svg .bar-note { font-size: 11.5px; }
table { border-collapse: collapse; margin-top: 4px; font-size: 13px; width: 100%; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.result { font-weight: 700; white-space: nowrap; }
tr.result-failed td { background: #fdf2f2; } tr.result-blocked td { background: #fdf6ef; }
td ul { margin: 0; padding-left: 16px; } td.nowrap { white-space: nowrap; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.foot { color: #8c959f; font-size: 12px; margin-top: 16px; }
"""


def status_banner(rows: t.Sequence[t.Mapping[str, t.Any]], summary: t.Mapping[str, t.Any]) -> str:
    failed = [row for row in rows if row["result"] == "failed"]
    blocked = [row for row in rows if row["result"] == "blocked"]
    if failed:
        kind, head = "bad", (f"Roll-out stopped by {summary['stopped_by']}: {len(failed)} "
                             f"node{'s' if len(failed) > 1 else ''} failed")
    elif blocked:
        kind, head = "warn", f"Roll-out finished with {len(blocked)} node{'s' if len(blocked) > 1 else ''} blocked"
    else:
        kind, head = "ok", "Roll-out finished: every node that needed a reboot was rebooted"
    items = [f"<li><b>{esc(row['node'])}</b> {esc(bar_note(row, limit=400))}</li>" for row in failed + blocked]
    if summary["resumed_nodes"]:
        items.append(f"<li>{esc(resumed_text(summary['resumed_nodes']))}</li>")
    return (f'<div class="status {kind}">{esc(head)}' + (f"<ul>{''.join(items)}</ul>" if items else "")
            + "</div>")


def html_cell(key: str, row: t.Mapping[str, t.Any], cells: t.Mapping[str, t.Any]) -> str:
    value = cells[key]
    if key == "why":
        return "<td>" + (f"<ul>{''.join(f'<li>{esc(item)}</li>' for item in value)}</ul>" if value else "-") + "</td>"
    if key == "needed":
        return f"<td>{'yes' if value else 'no'}</td>"
    if key == "kernels":
        return f'<td class="nowrap"><code>{esc(value)}</code></td>'
    if key == "result":
        return f'<td class="result" style="color:{RESULT_COLOURS.get(row["result"], "#6c757d")}">{esc(value)}</td>'
    if key == "node":
        return f'<td class="nowrap"><b>{esc(value)}</b></td>'
    return f'<td class="num">{esc(value)}</td>'


def render_html(title: str, rows: t.Sequence[t.Mapping[str, t.Any]], summary: t.Mapping[str, t.Any]) -> str:
    cards = [("nodes", summary["nodes"], ""), ("rebooted", summary["rebooted"], "rebooted"),
             ("blocked", summary["blocked"], "blocked"), ("failed", summary["failed"], "failed"),
             ("not needed", summary["not_needed"], "")]
    if summary["skipped"]:
        cards.append(("skipped", summary["skipped"], ""))
    cards += [("wall time", duration_text(summary["wall_seconds"]), ""),
              ("most rebooting at once", summary["max_concurrent_reboots"], ""),
              ("pods evicted", summary["pods_evicted"], "")]
    legend = "".join(f'<span><i style="background:{phase.colour}"></i>{esc(phase.label)}</span>' for phase in PHASES)
    legend += '<span><i class="failed"></i>did not finish (failed)</span>'
    header = "".join(f"<th>{esc(label)}</th>" for _key, label in COLUMNS)
    body = []
    for row, cells in zip(rows, table_rows(rows)):
        body.append(f'<tr class="result-{esc(row["result"])}" data-node="{esc(row["node"])}">'
                    + "".join(html_cell(key, row, cells) for key, _label in COLUMNS) + "</tr>")
    when = ""
    if summary["started"] is not None:
        when = f"{utc_text(summary['started'], with_date=True)} → {utc_text(summary['finished'], with_date=True)}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><div class=\"sub\">nodepatch.kube roll-out · {esc(when)}</div>"
        f"{status_banner(rows, summary)}"
        "<div class=\"cards\">"
        + "".join(f"<div class=\"card {cls}\"><b>{esc(value)}</b>{esc(name)}</div>" for name, value, cls in cards)
        + "</div>"
        f"<h2>Timeline</h2><div class=\"legend\">{legend}</div>{render_timeline(rows)}"
        f"<h2>Nodes</h2><table class=\"nodes\"><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<div class=\"foot\">Times in UTC. Lock wait: lock requested → acquired; drain: cordon + evictions; "
        f"down time: reboot started → node Ready with a new boot id.</div>"
        "</body></html>\n"
    )
