"""One benchmark run: drain every contender (rounds in alternating order), then latency."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.contenders import PROCESSOR, Contender
from bench.data import InputRecord, records
from bench.drain import DrainResult, RunPlan, drain
from bench.latency import LatencyResult, measure_latency


@dataclass(frozen=True, slots=True)
class Workload:
    records: int
    record_bytes: int
    invalid_ratio: float
    rounds: int
    latency_s: float
    latency_share: float  # of the processor's measured maximum


@dataclass(slots=True)
class Row:
    """One contender's results: the median over rounds, and every round."""

    name: str
    label: str
    status: str = "ok"
    note: str = ""
    rounds: list[DrainResult] = field(default_factory=list)
    latency: LatencyResult | None = None

    def median(self, attribute: str) -> float:
        # A timed-out round still measured a rate over its window (e.g. the textbook loop).
        values = [getattr(r, attribute) for r in self.rounds if r.status in ("ok", "timeout")]
        return statistics.median(values) if values else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "label": self.label, "status": self.status, "note": self.note,
            "throughput": self.median("throughput"), "peak_rss_mib": self.median("peak_rss_mib"),
            "cpu_s_per_100k": self.median("cpu_s_per_100k"),
            "latency": asdict(self.latency) if self.latency else None,
            "rounds": [asdict(r) for r in self.rounds],
        }  # fmt: skip


def dataset(
    workload: Workload, count: int | None = None, size: int | None = None
) -> list[InputRecord]:
    count, size = count or workload.records, size or workload.record_bytes
    return list(records(count, size=size, invalid_ratio=workload.invalid_ratio))


async def run_all(contenders: list[Contender], plan: RunPlan, workload: Workload) -> list[Row]:
    rows = {c.name: Row(c.name, c.label) for c in contenders}
    runnable = []
    for contender in contenders:
        reason = contender.missing()
        if reason:
            rows[contender.name].status, rows[contender.name].note = "skipped", reason
            print(f"skip {contender.name}: {reason}", flush=True)
        else:
            runnable.append(contender)
    data = dataset(workload)
    for round_index in range(workload.rounds):
        order = runnable if round_index % 2 == 0 else runnable[::-1]
        for contender in order:
            print(f"round {round_index + 1}: drain {contender.name} ...", flush=True)
            result = await drain(contender, plan, data)
            rows[contender.name].rounds.append(result)
            print(f"  {result.status} {result.throughput:,.0f} rec/s, "
                  f"{result.peak_rss_mib:.0f} MiB {result.note}", flush=True)  # fmt: skip
    for row in rows.values():
        if row.rounds and all(r.status != "ok" for r in row.rounds):
            row.status, row.note = row.rounds[0].status, row.rounds[0].note
    rate = latency_rate(rows, workload.latency_share)
    if workload.latency_s > 0 and rate > 0:
        for contender in runnable:
            if rows[contender.name].status not in ("ok", "timeout"):
                continue
            print(f"latency {contender.name} at {rate:,.0f} rec/s ...", flush=True)
            rows[contender.name].latency = await measure_latency(
                contender, plan, rate, workload.latency_s, workload.record_bytes
            )
    return list(rows.values())


def latency_rate(rows: dict[str, Row], share: float) -> float:
    """A share of the processor's drain throughput (of the best contender without it)."""
    processor = rows.get(PROCESSOR)
    if processor is not None and processor.median("throughput") > 0:
        return share * processor.median("throughput")
    best = max((row.median("throughput") for row in rows.values()), default=0.0)
    return share * best
