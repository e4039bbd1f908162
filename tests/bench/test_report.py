"""The results files: the table of contenders and the scaling curves."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bench.drain import DrainResult
from bench.latency import LatencyResult
from bench.report import write
from bench.run import Row


def _row(name: str, throughput: float) -> Row:
    row = Row(name, f"{name} label")
    row.rounds.append(DrainResult(name, 1000, throughput=throughput, peak_rss_mib=50.0))
    return row


def test_ratios_are_to_the_processor_and_the_textbook_loop(tmp_path: Path) -> None:
    rows = [_row("processor", 40_000.0), _row("textbook", 400.0), _row("quix", 20_000.0)]
    write(tmp_path, {"records": 1000}, rows, {})
    table = (tmp_path / "latest.md").read_text()
    assert "| quix label | ok | 20,000 | 0.50 | 50.00 |" in table
    assert "| processor label | ok | 40,000 | 1.00 | 100.00 |" in table


def test_curves_are_tabulated_and_kept_in_the_json(tmp_path: Path) -> None:
    drained = [DrainResult("processor", n, throughput=45_000.0, peak_rss_mib=rss)
               for n, rss in ((100_000, 80.0), (2_000_000, 95.0))]  # fmt: skip
    backlog = [{"backlog": r.records, **asdict(r)} for r in drained]
    load = [{"share": 0.5, **asdict(LatencyResult("processor", 20_000.0, p50_ms=12, p99_ms=48))}]
    curves = {"record_size": [], "concurrency": [], "backlog": backlog, "offered_load": load}
    write(tmp_path, {"records": 1000}, [_row("processor", 45_000.0)], curves)
    text = (tmp_path / "latest.md").read_text()
    assert "| 2000000 | 45,000 | 95.00 |" in text
    assert "| 0.5 | 20,000 | 12 | 48 | no |" in text
    assert json.loads((tmp_path / "latest.json").read_text())["curves"]["backlog"] == backlog
