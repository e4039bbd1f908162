"""Results as Markdown (the table), JSON (everything) and PNG (throughput and peak RSS bars)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from bench.contenders import PROCESSOR, TEXTBOOK
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
    settings = ", ".join(f"{k}={v}" for k, v in meta.items())
    markdown = [
        "# Benchmark results", "", f"Run: {settings}", "",
        "Drain throughput is the median over rounds; ratios are to the processor and to the "
        "textbook loop. Latency: the output's broker append time (LogAppendTime, when the write "
        "is acknowledged) - the input's timestamp, at a fixed offered load. "
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
    "workers": ("workers", "throughput", "records/s by PROCESSOR_WORKERS"),
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
