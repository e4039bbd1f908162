"""Scaling curves for the processor: record size, concurrency, processes, backlog size, offered
load."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.contenders import PROCESSOR, by_name
from bench.drain import RunPlan, drain
from bench.latency import measure_latency
from bench.run import Workload, dataset

RECORD_SIZES = (100, 1_000, 10_000)
CONCURRENCY = (10, 100, 1_000, 10_000)  # PROCESSOR_CONCURRENCY: records routed at once, per process
PROCESSES = (1, 2)  # PROCESSOR_PROCESSES: consumer processes of the one instance
BACKLOGS = (100_000, 1_000_000, 2_000_000)
LOAD_SHARES = (0.25, 0.50, 0.75)
MAX_CURVE_BYTES = 200 * 2**20  # keeps the 10 KB point to a sane amount of disk and time


async def run_curves(
    plan: RunPlan, workload: Workload, max_backlog: int, max_rate: float
) -> dict[str, list[dict[str, Any]]]:
    processor = by_name([PROCESSOR])[0]
    names = ("record_size", "concurrency", "processes", "backlog", "offered_load")
    curves: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for size in RECORD_SIZES:
        count = min(workload.records, max(10_000, MAX_CURVE_BYTES // size))
        print(f"curve: record size {size} B ({count} records)", flush=True)
        result = await drain(processor, plan, dataset(workload, count, size))
        curves["record_size"].append({"record_bytes": size, **asdict(result)})
    data = dataset(workload)
    for concurrency in CONCURRENCY:
        print(f"curve: concurrency {concurrency}", flush=True)
        result = await drain(processor, plan, data, {"PROCESSOR_CONCURRENCY": str(concurrency)})
        curves["concurrency"].append({"concurrency": concurrency, **asdict(result)})
    for processes in PROCESSES:
        print(f"curve: {processes} process(es)", flush=True)
        result = await drain(processor, plan, data, {"PROCESSOR_PROCESSES": str(processes)})
        curves["processes"].append({"processes": processes, **asdict(result)})
    del data
    for backlog in (b for b in BACKLOGS if b <= max_backlog):
        print(f"curve: backlog {backlog}", flush=True)
        result = await drain(processor, plan, dataset(workload, backlog))
        curves["backlog"].append({"backlog": backlog, **asdict(result)})
    for share in LOAD_SHARES if workload.latency_s > 0 else ():
        print(f"curve: offered load {share:.0%} of {max_rate:,.0f}", flush=True)
        latency = await measure_latency(
            processor, plan, share * max_rate, workload.latency_s, workload.record_bytes
        )
        curves["offered_load"].append({"share": share, **asdict(latency)})
    return curves
