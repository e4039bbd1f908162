"""Results as Markdown (the table), JSON (everything) and PNG (throughput and peak RSS bars)."""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.contenders import PROCESSOR, TEXTBOOK
from bench.data import FEW_KEYS, MANY_KEYS
from bench.pipeline_curves import LAG_TARGET_MS, PipelineResult
from bench.run import Row

COLUMNS = ("contender", "status", "drain rec/s", "x processor", "x textbook", "p50 ms",
           "p99 ms", "peak RSS MiB", "CPU s/100k", "note")  # fmt: skip


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if value and base else "-"


def table(rows: list[Row]) -> str:
    by_name = {row.name: row for row in rows}
    base = {n: by_name[n].median("throughput") if n in by_name else 0.0
            for n in (PROCESSOR, TEXTBOOK)}  # fmt: skip
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        rate = row.median("throughput")
        lat = row.latency
        p50 = p99 = "-"
        note = row.note
        if lat is not None and lat.status == "ok":
            mark = ">" if lat.saturated else ""
            p50, p99 = f"{mark}{lat.p50_ms:.1f}", f"{mark}{lat.p99_ms:.1f}"
            if lat.saturated:
                note = _join(note, f"saturated at {lat.rate:,.0f}/s: {lat.received}/{lat.sent} out")
        elif lat is not None:
            note = _join(note, f"latency {lat.status}: {lat.note}")
        ok = row.status in ("ok", "timeout")
        cells = [
            row.label.replace("|", "\\|"), row.status,
            f"{rate:,.0f}" if ok else "-",
            _ratio(rate, base[PROCESSOR]) if ok else "-",
            _ratio(rate, base[TEXTBOOK]) if ok else "-",
            p50, p99,
            f"{row.median('peak_rss_mib'):.0f}" if ok else "-",
            f"{row.median('cpu_s_per_100k'):.2f}" if ok else "-",
            note.replace("|", "/").replace("\n", " ")[:200],
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def curve_tables(curves: dict[str, list[dict[str, Any]]]) -> str:
    parts = []
    for name, points in curves.items():
        if not points:
            continue
        x = next(iter(points[0]))
        if name == "offered_load":
            head = f"| {x} | rec/s | p50 ms | p99 ms | saturated |"
            keys: tuple[str, ...] = ("rate", "p50_ms", "p99_ms", "saturated")
        else:
            head = f"| {x} | rec/s | peak RSS MiB | CPU s/100k |"
            keys = ("throughput", "peak_rss_mib", "cpu_s_per_100k")
        lines = [f"### {name.replace('_', ' ')}", "", head, "|---" * (len(keys) + 1) + "|"]
        for point in points:
            values = [_fmt(point[k]) for k in keys]
            lines.append(f"| {point[x]} | " + " | ".join(values) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def write(out: Path, meta: dict[str, Any], rows: list[Row], curves: dict[str, Any]) -> str:
    """Write latest.md, latest.json and latest.png (when matplotlib is there); return the table."""
    out.mkdir(parents=True, exist_ok=True)
    text = table(rows)
    settings = ", ".join(f"{k}={v}" for k, v in meta.items() if k != "command")
    command = meta.get("command")
    markdown = [
        "# Benchmark results", "", *([f"Command: `{command}`", ""] if command else []),
        f"Run: {settings}", "",
        "Drain throughput is the median over rounds; ratios are to the processor and to the "
        "textbook loop. Latency: the output's broker append time (LogAppendTime, when the write "
        "is acknowledged; for exactly-once, when a read_committed reader gets it, after its "
        "transaction commits) - the input's timestamp, at a fixed offered load. "
        "See bench/README.md for the method.", "", text, "",
    ]  # fmt: skip
    if curves:
        markdown += ["## Scaling curves (processor)", "", curve_tables(curves), ""]
    (out / "latest.md").write_text("\n".join(markdown))
    document = {"meta": meta, "contenders": [row.as_json() for row in rows], "curves": curves}
    (out / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    _plot(out / "latest.png", rows)
    if curves:
        _plot_curves(out / "curves.png", curves)
    return text


def _pyplot() -> Any:
    """matplotlib's pyplot, or None without the bench extras (import_module keeps mypy
    independent of it)."""
    try:
        matplotlib: Any = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        return importlib.import_module("matplotlib.pyplot")
    except ImportError:
        print("matplotlib is not installed: no PNG charts", flush=True)
        return None


# curve name -> (x key, y key, title)
CURVE_PLOTS = {
    "record_size": ("record_bytes", "throughput", "records/s by record size (bytes)"),
    "concurrency": ("concurrency", "throughput", "records/s by PROCESSOR_CONCURRENCY"),
    "processes": ("processes", "throughput", "records/s by PROCESSOR_PROCESSES"),
    "backlog": ("backlog", "peak_rss_mib", "peak RSS (MiB) by backlog (records)"),
    "offered_load": ("rate", "p99_ms", "p99 latency (ms) by offered load (records/s)"),
}


def _plot_curves(path: Path, curves: dict[str, list[dict[str, Any]]]) -> None:
    plt = _pyplot()
    if plt is None:
        return
    figure, axes = plt.subplots(1, len(CURVE_PLOTS), figsize=(4 * len(CURVE_PLOTS), 3.8))
    for axis, (name, (x, y, title)) in zip(axes, CURVE_PLOTS.items(), strict=True):
        points = curves.get(name) or []
        axis.plot([p[x] for p in points], [p[y] for p in points], marker="o")
        axis.set_title(title, fontsize=9)
        axis.set_ylim(bottom=0)
        if name in ("record_size", "backlog"):
            axis.set_xscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot(path: Path, rows: list[Row]) -> None:
    plt = _pyplot()
    if plt is None:
        return
    shown = [row for row in rows if row.status in ("ok", "timeout")]
    names = [row.name for row in shown]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.bar(names, [row.median("throughput") for row in shown], color="tab:blue")
    left.set_title("drain throughput (records/s)")
    right.bar(names, [row.median("peak_rss_mib") for row in shown], color="tab:orange")
    right.set_title("peak RSS (MiB)")
    for axis in (left, right):
        axis.tick_params(axis="x", labelrotation=30)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


PIPELINE_COLUMNS = (
    "curve", "contender, settings", "keys", "records", "processes", "rec/s", "steady rec/s",
    "ceiling rec/s", "bound by", "x ceiling", "target", "loop lag p99 ms", "peak RSS MiB",
    "CPU s/100k", "note",
)  # fmt: skip


def pipeline_table(rows: list[PipelineResult]) -> str:
    lines = ["| " + " | ".join(PIPELINE_COLUMNS) + " |", "|" + "---|" * len(PIPELINE_COLUMNS)]
    for row in rows:
        ok = row.status in ("ok", "timeout")
        target = "-"
        if row.target:
            verdict = "-" if row.target_met is None else ("met" if row.target_met else "MISSED")
            target = f"{row.target}: {verdict}"
        lag = "-"
        if row.lag_p99_ms is not None:
            lag = f"{row.lag_p99_ms:.0f} (max {row.lag_max_ms or 0:.0f})"
            if row.lag_p99_ms >= LAG_TARGET_MS:
                lag += " MISSED"
        note = row.note if row.status == "ok" else _join(row.status, row.note)
        cells = [
            row.curve, row.label.replace("|", "\\|"), f"{row.keys:,}", f"{row.records:,}",
            str(row.processes), f"{row.throughput:,.0f}" if ok else "-",
            f"{row.steady_throughput:,.0f}" if row.steady_throughput and ok else "-",
            f"{row.ceiling:,.0f}" if row.ceiling else "-", row.bound or "-",
            f"{row.ratio:.2f}" if row.ratio is not None and ok else "-", target, lag,
            f"{row.peak_rss_mib:.0f}" if ok else "-", f"{row.cpu_s_per_100k:.2f}" if ok else "-",
            note.replace("|", "/").replace("\n", " ")[:200],
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


PIPELINE_METHOD = (
    "Each row drains the same generated ledger records (about {record_bytes} bytes, 1% invalid, "
    "keys are accounts: {many:,} or {few} distinct ones, each in turn; a shorter input is a "
    "prefix of the longer) through the processor with a pipeline of bench/pipelines.py, which "
    "wraps the built-in ledger pipeline so that its route first waits: `await asyncio.sleep` (an "
    "HTTP call), `time.sleep` in executor `thread` (a blocking driver), a busy loop calibrated to"
    " {cpu_ms:g} ms of CPU ({cpu_iterations:,} rounds) in executor `process`, or one await per "
    "`route_many` batch (a bulk call); or through a peer doing the same job. The processor runs "
    "with its defaults ({processes} processes on this machine, one per CPU) except for the "
    "settings named. rec/s: records / (the group's commits covering the input - the first "
    "output), as in the drain table; steady rec/s: outputs per second while the outputs went from"
    " 10% to 90% of the input (without the start, the last commit and the tail of the busiest "
    "key). Ceiling: the most records the wait allows, the binding limit (records waiting at once:"
    " concurrency or threads per process times the processes, distinct keys when ordered by key, "
    "CPU cores for CPU work; for a peer its own limit) divided by the wait; x ceiling = rec/s / "
    "ceiling. Loop lag: the processor's `processor_event_loop_lag_seconds` gauge (how late a 0.5 "
    "s probe sleep woke, per process, updated every 0.5 s) scraped from its /metrics every 100 ms"
    " during the drain; p99 and max of those samples (only the processor exposes it). Peak RSS "
    "and CPU: the process tree, pool workers included. All rows ran against the same broker in "
    "one run; the machine's other load (2 cores) makes the figures noisy."
)


def write_pipelines(
    out: Path, meta: dict[str, Any], rows: list[PipelineResult], used: dict[str, Any]
) -> str:
    """Write pipelines.md, pipelines.json and pipelines.png (with matplotlib); return the table."""
    out.mkdir(parents=True, exist_ok=True)
    text = pipeline_table(rows)
    method = PIPELINE_METHOD.format(
        record_bytes=meta.get("record_bytes", 400), many=MANY_KEYS, few=FEW_KEYS,
        cpu_ms=used.get("cpu_ms", 1), cpu_iterations=used.get("cpu_iterations", 0),
        processes=used.get("processor_processes", "?"),
    )  # fmt: skip
    settings = ", ".join(f"{k}={v}" for k, v in {**meta, **used}.items() if k != "command")
    markdown = [
        "# Pipeline-speed curves", "", f"Command: `{meta.get('command', '')}`", "",
        f"Run: {settings}", "", method, "", text, "",
    ]  # fmt: skip
    (out / "pipelines.md").write_text("\n".join(markdown))
    document = {"meta": meta, "used": used, "rows": [asdict(row) for row in rows]}
    (out / "pipelines.json").write_text(json.dumps(document, indent=2) + "\n")
    _plot_pipelines(out / "pipelines.png", rows)
    return text


def _plot_pipelines(path: Path, rows: list[PipelineResult]) -> None:
    plt = _pyplot()
    if plt is None:
        return
    shown = [row for row in rows if row.status in ("ok", "timeout") and row.ceiling]
    curve = sorted(
        (row for row in rows if row.contender == PROCESSOR and row.group in ("async", "concurrency")
         and row.keys == MANY_KEYS and row.status in ("ok", "timeout")),
        key=lambda row: row.ceiling or 0,
    )  # fmt: skip
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    names = [f"{row.curve}\n{row.label}" for row in shown]
    left.barh(names, [row.ratio or 0 for row in shown], color="tab:blue")
    left.axvline(1.0, color="grey", linestyle=":")
    left.set_title("drain rate / ceiling", fontsize=9)
    left.tick_params(axis="y", labelsize=6)
    left.invert_yaxis()
    concurrency = [int(row.settings.get("PROCESSOR_CONCURRENCY", 0)) for row in curve]
    right.plot(concurrency, [row.throughput for row in curve], marker="o", label="rec/s")
    right.plot(concurrency, [row.ceiling for row in curve], linestyle=":", label="ceiling")
    for row in rows:
        if row.group == "baseline" and row.status == "ok":
            right.axhline(row.throughput, color="grey", linestyle="--", label="no wait")
    right.set_xscale("log")
    right.set_ylim(bottom=0)
    right.set_title("async 50 ms route, 100,000 keys: rec/s by PROCESSOR_CONCURRENCY", fontsize=9)
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
