"""Pipeline-speed curves (``--pipelines``): user pipelines that wait, drained at real-world speed.

Every point drains generated ledger records (keys are accounts, each in turn: 100,000 distinct
ones, or 200) through the processor with a pipeline of :mod:`bench.pipelines` (the built-in
ledger pipeline behind an await, a blocking sleep, CPU work, or a bulk await), or through a peer
doing the same. For each: drained records/s, the ceiling the wait allows (the slots that can
wait at once, divided by the wait), their ratio, the processor's event-loop lag (its
``processor_event_loop_lag_seconds`` gauge, scraped every 100 ms during the drain), peak RSS and
CPU per 100k records."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.contenders import FASTSTREAM, PROCESSOR, Contender, by_name
from bench.data import FEW_KEYS, MANY_KEYS, InputRecord, records
from bench.drain import DrainResult, RunPlan, drain
from bench.latency import percentile
from bench.pipelines import (
    BLOCK_WAIT_ENV,
    BULK_WAIT_ENV,
    CPU_ITERATIONS_ENV,
    HTTP_WAIT_ENV,
    calibrate,
)
from processor.instance.endpoints import fetch
from processor.telemetry.http import METRICS_PATH
from processor.telemetry.names import EVENT_LOOP_LAG

REPO = Path(__file__).resolve().parents[1]
HTTP_S, BLOCK_S, CPU_S, BULK_S = 0.05, 0.005, 0.001, 0.02
THREADS = 32
CONCURRENCY = 1000  # the processor's default
CONCURRENCY_CURVE = (100, 300, 1000, 3000)
GROUPS = ("baseline", "async", "concurrency", "blocking", "cpu", "bulk")
LAG_SAMPLE_S = 0.1
LAG_TARGET_MS = 100.0
MIN_RECORDS = 500
MAX_RECORDS = 240_000  # bounds the whole run (generating, preloading, draining) on 2 cores

FASTSTREAM_ACK = by_name([FASTSTREAM])[0]
ARROYO_PIPELINES = Contender(
    "arroyo_pipelines", "bench.contenders.arroyo_pipelines", "Sentry arroyo", ("arroyo",)
)


@dataclass(frozen=True, slots=True)
class Ceiling:
    """What the wait allows: ``slots`` records waiting at once, ``latency_s`` each."""

    rate: float
    bound: str  # which limit binds, e.g. "2,000 concurrency / 0.05 s"


def ceiling(latency_s: float, limits: dict[str, float]) -> Ceiling | None:
    """The throughput a route that holds a slot for ``latency_s`` cannot exceed: the smallest of
    ``limits`` (slots by name: concurrency, keys, threads, cores...) divided by ``latency_s``.
    None when there is no wait or no limit."""
    if latency_s <= 0 or not limits:
        return None
    name, slots = min(limits.items(), key=lambda item: item[1])
    return Ceiling(slots / latency_s, f"{slots:,.0f} {name} / {latency_s:g} s")


@dataclass(frozen=True, slots=True)
class Target:
    """What the issue asks of a point: at least ``rate`` records/s (per process if so said)."""

    rate: float
    per_process: bool = False

    def met(self, throughput: float, processes: int) -> bool:
        return throughput / (processes if self.per_process else 1) >= self.rate

    def describe(self) -> str:
        return f">= {self.rate:,.0f}/s" + (" per process" if self.per_process else "")


@dataclass(frozen=True, slots=True)
class Point:
    """One drain of the curves: who, with which settings, on which input."""

    group: str  # what --pipelines selects
    curve: str
    label: str
    contender: Contender
    env: dict[str, str]
    keys: int
    expected_rate: float  # sizes the input: expected_rate * seconds records
    latency_s: float
    limits: dict[str, float]
    processes: int
    target: Target | None = None
    scrape_lag: bool = False
    keyed: bool = False  # records of a key wait for each other (the processor's default ordering)


@dataclass(slots=True)
class PipelineResult:
    group: str
    curve: str
    label: str
    contender: str
    keys: int
    records: int
    processes: int
    status: str = "ok"
    note: str = ""
    throughput: float = 0.0
    steady_throughput: float | None = None
    ceiling: float | None = None
    bound: str = ""
    ratio: float | None = None
    input_bound: float | None = None
    target: str = ""
    target_met: bool | None = None
    lag_p99_ms: float | None = None
    lag_max_ms: float | None = None
    lag_samples: int = 0
    peak_rss_mib: float = 0.0
    cpu_s_per_100k: float = 0.0
    seconds: float = 0.0
    settings: dict[str, str] = field(default_factory=dict)


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def points(cpus: int, cpu_iterations: int) -> list[Point]:
    """Every point, in run order. ``cpus`` is also the processor's process count (its default)."""
    p = cpus
    proc = by_name([PROCESSOR])[0]

    def processor(pipeline: str, **settings: str) -> dict[str, str]:
        env = {"PROCESSOR_PIPELINE": f"bench.pipelines:{pipeline}"} if pipeline else {}
        return {**env, **{f"PROCESSOR_{k.upper()}": v for k, v in settings.items()}}

    http = {HTTP_WAIT_ENV: str(HTTP_S)}
    many, few = f"{MANY_KEYS:,} keys", f"{FEW_KEYS} keys"
    result = [
        Point("baseline", "no wait (built-in pipeline)", f"processor, {many}", proc, {},
              MANY_KEYS, 45_000, 0.0, {}, p, scrape_lag=True),
        Point("async", f"async route, {HTTP_S * 1000:g} ms await", f"processor, {many}, "
              f"concurrency {CONCURRENCY:,}", proc,
              {**processor("http_call", concurrency=str(CONCURRENCY)), **http}, MANY_KEYS,
              15_000, HTTP_S, {"concurrency": CONCURRENCY * p, "keys": MANY_KEYS}, p,
              Target(8_000), scrape_lag=True, keyed=True),
        Point("async", f"async route, {HTTP_S * 1000:g} ms await", f"processor, {few}, "
              f"concurrency {CONCURRENCY:,}", proc,
              {**processor("http_call", concurrency=str(CONCURRENCY)), **http}, FEW_KEYS,
              3_600, HTTP_S, {"concurrency": CONCURRENCY * p, "keys": FEW_KEYS}, p,
              Target(0.8 * FEW_KEYS / HTTP_S), scrape_lag=True, keyed=True),
    ]  # fmt: skip
    for concurrency in (c for c in CONCURRENCY_CURVE if c != CONCURRENCY):
        expected = min(15_000.0, 0.8 * concurrency * p / HTTP_S)
        result.append(Point(
            "concurrency", f"async route, {HTTP_S * 1000:g} ms await, by concurrency",
            f"processor, {many}, concurrency {concurrency:,}", proc,
            {**processor("http_call", concurrency=str(concurrency)), **http}, MANY_KEYS,
            expected, HTTP_S, {"concurrency": concurrency * p, "keys": MANY_KEYS}, p,
            scrape_lag=True, keyed=True,
        ))  # fmt: skip
    block = {BLOCK_WAIT_ENV: str(BLOCK_S)}
    cpu = {CPU_ITERATIONS_ENV: str(cpu_iterations)}
    result += [
        Point("async", f"async route, {HTTP_S * 1000:g} ms await",
              "FastStream, ack after each record, max_workers 4", FASTSTREAM_ACK,
              {"BENCH_FASTSTREAM_MAX_WORKERS": "4", **http}, MANY_KEYS, 60, HTTP_S,
              {"busy consumers (partitions)": 4}, 1),
        Point("async", f"async route, {HTTP_S * 1000:g} ms await",
              "FastStream default (ack first), max_workers 1,000", FASTSTREAM_ACK,
              {"BENCH_FASTSTREAM_ACK": "ack_first", "BENCH_FASTSTREAM_MAX_WORKERS": "1000",
               **http}, MANY_KEYS, 1_000, HTTP_S, {"max_workers": 1000}, 1),
        Point("blocking", f"blocking route, {BLOCK_S * 1000:g} ms sleep",
              f"processor, executor thread, {THREADS} threads", proc,
              {**processor("blocking_driver", executor_workers=str(THREADS)), **block},
              MANY_KEYS, 6_000, BLOCK_S,
              {"threads": THREADS * p, "concurrency": CONCURRENCY * p, "keys": MANY_KEYS}, p,
              Target(3_000, per_process=True), scrape_lag=True, keyed=True),
        Point("blocking", f"blocking route, {BLOCK_S * 1000:g} ms sleep",
              f"arroyo RunTaskInThreads, {THREADS} threads", ARROYO_PIPELINES,
              {"BENCH_ARROYO_STRATEGY": "threads", "BENCH_ARROYO_THREADS": str(THREADS),
               **block}, MANY_KEYS, 2_000, BLOCK_S, {"threads": THREADS}, 1),
        Point("cpu", f"CPU route, {CPU_S * 1000:g} ms", "processor, executor process", proc,
              {**processor("cpu_work"), **cpu}, MANY_KEYS, 1_500, CPU_S,
              {"cores": cpus, "pool processes": p * cpus}, p, scrape_lag=True, keyed=True),
        Point("cpu", f"CPU route, {CPU_S * 1000:g} ms",
              f"arroyo RunTaskWithMultiprocessing, {cpus} processes", ARROYO_PIPELINES,
              {"BENCH_ARROYO_STRATEGY": "multiprocessing", "BENCH_ARROYO_PROCESSES": str(cpus),
               **cpu}, MANY_KEYS, 1_000, CPU_S, {"cores": cpus, "pool processes": cpus}, 1),
        Point("bulk", f"batch route, {BULK_S * 1000:g} ms await per batch",
              f"processor, BatchPipeline, {100} per batch", proc,
              {**processor("bulk_call"), BULK_WAIT_ENV: str(BULK_S)}, MANY_KEYS, 30_000,
              BULK_S, {"concurrency": CONCURRENCY * p, "keys": MANY_KEYS}, p,
              scrape_lag=True),
    ]  # fmt: skip
    return result


def record_count(point: Point, seconds: float) -> int:
    """Enough records for ``seconds`` at the expected rate, within bounds."""
    return int(min(MAX_RECORDS, max(MIN_RECORDS, point.expected_rate * seconds)))


def lag_values(exposition: str, name: str = EVENT_LOOP_LAG.name) -> list[float]:
    """The values of gauge ``name`` in a Prometheus text exposition (one per process)."""
    values = []
    for line in exposition.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            with contextlib.suppress(ValueError, IndexError):
                values.append(float(line.rsplit(" ", 1)[1]))
    return values


class LagSampler:
    """Scrapes the processor's /metrics (its Unix socket) every ``interval_s``; keeps every
    process's ``processor_event_loop_lag_seconds`` with the time it was read."""

    def __init__(self, socket: Path, interval_s: float = LAG_SAMPLE_S) -> None:
        self.socket = socket
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []  # (time.time(), lag in seconds)

    async def run(self) -> None:
        while True:
            if self.socket.exists():
                answer = await fetch(self.socket, METRICS_PATH, timeout_s=1.0)
                if answer.status == 200:
                    at = time.time()
                    for value in lag_values(answer.body.decode(errors="replace")):
                        self.samples.append((at, value))
            await asyncio.sleep(self.interval_s)

    def between(self, start: float, end: float) -> list[float]:
        return [value for at, value in self.samples if start <= at <= end]


def heaviest_key(data: list[InputRecord]) -> int:
    """Valid records of the key with the most (invalid ones never reach the route)."""
    counts = Counter(record.key for record in data if record.valid)
    return max(counts.values(), default=0)


def summarize(
    point: Point,
    result: DrainResult,
    lags_s: list[float] | None,
    settings: dict[str, str],
    heaviest: int = 0,
) -> PipelineResult:
    """One row: the drain's figures, the ceiling, the ratio, the target, the loop lag. With
    ``heaviest`` (the most valid records of one key) a keyed point also says how fast this input
    can drain at all: its busiest key's records one after the other take heaviest * latency."""
    row = PipelineResult(
        point.group, point.curve, point.label, point.contender.name, point.keys, result.records,
        point.processes, result.status, result.note, result.throughput,
        result.extra.get("steady_throughput"), peak_rss_mib=result.peak_rss_mib,
        cpu_s_per_100k=result.cpu_s_per_100k, seconds=result.seconds, settings=settings,
    )  # fmt: skip
    bound = ceiling(point.latency_s, point.limits)
    if bound is not None:
        row.ceiling, row.bound = bound.rate, bound.bound
        row.ratio = result.throughput / bound.rate if result.throughput else None
    if point.keyed and heaviest and point.latency_s > 0:
        row.input_bound = result.records / (heaviest * point.latency_s)
        if row.ceiling is not None and row.input_bound < row.ceiling:
            share = f" (x {result.throughput / row.input_bound:.2f})" if result.throughput else ""
            row.note = _join(
                row.note,
                f"the busiest key has {heaviest} valid records x {point.latency_s:g} s, so this "
                f"input drains at most {row.input_bound:,.0f}/s{share}",
            )
    if point.target is not None:
        row.target = point.target.describe()
        row.target_met = result.status == "ok" and point.target.met(
            result.throughput, point.processes
        )
    if lags_s:
        row.lag_p99_ms = percentile(lags_s, 0.99) * 1000
        row.lag_max_ms = max(lags_s) * 1000
        row.lag_samples = len(lags_s)
    return row


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def select(all_points: list[Point], groups: str) -> list[Point]:
    wanted = set(GROUPS) if groups in ("", "all") else set(groups.split(","))
    unknown = wanted - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown pipeline curves {sorted(unknown)}; known: {', '.join(GROUPS)}")
    return [p for p in all_points if p.group in wanted]


class Inputs:
    """The generated input per key count, made once at the largest size asked and sliced (the
    generator is seeded, so a shorter input is a prefix of a longer one)."""

    def __init__(self, record_bytes: int, invalid_ratio: float) -> None:
        self.record_bytes = record_bytes
        self.invalid_ratio = invalid_ratio
        self._made: dict[int, list[InputRecord]] = {}

    def prepare(self, needs: Iterator[tuple[int, int]]) -> None:
        largest: dict[int, int] = {}
        for keys, count in needs:
            largest[keys] = max(largest.get(keys, 0), count)
        for keys, count in largest.items():
            made = records(
                count,
                size=self.record_bytes,
                invalid_ratio=self.invalid_ratio,
                keys=keys,
                even_keys=True,  # no key busier than the rest: the ceiling is keys / wait
            )
            self._made[keys] = list(made)

    def take(self, keys: int, count: int) -> list[InputRecord]:
        return self._made[keys][:count]


async def run_pipelines(
    plan: RunPlan, groups: str, seconds: float, record_bytes: int, invalid_ratio: float
) -> tuple[list[PipelineResult], dict[str, Any]]:
    """Drain every selected point; returns the rows and what the run used (for the report)."""
    cpus = available_cpus()
    iterations = calibrate(CPU_S)
    chosen = select(points(cpus, iterations), groups)
    sizes = [(point, record_count(point, seconds)) for point in chosen]
    inputs = Inputs(record_bytes, invalid_ratio)
    inputs.prepare((point.keys, count) for point, count in sizes)
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    rows: list[PipelineResult] = []
    for index, (point, count) in enumerate(sizes):
        print(f"pipelines: {point.curve}: {point.label} ({count:,} records) ...", flush=True)
        missing = point.contender.missing()
        if missing:
            rows.append(PipelineResult(point.group, point.curve, point.label,
                                       point.contender.name, point.keys, count, point.processes,
                                       "skipped", missing))  # fmt: skip
            print(f"  skipped: {missing}", flush=True)
            continue
        env = {**point.env, "PYTHONPATH": pythonpath}
        sampler = None
        if point.scrape_lag:
            socket = plan.work_dir / f"metrics-{index}.sock"
            env["PROCESSOR_HTTP_UNIX_SOCKET"] = str(socket)
            sampler = LagSampler(socket)
        # Long enough for a run at a third of the expected rate, and start-up.
        timeout = min(plan.timeout_s, 60 + 3 * count / point.expected_rate)
        task = asyncio.create_task(sampler.run()) if sampler else None
        try:
            result = await drain(point.contender, replace(plan, timeout_s=timeout),
                                 inputs.take(point.keys, count), env)  # fmt: skip
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        lags = sampler.between(result.started_at, result.ended_at) if sampler else None
        shown = {k: v for k, v in point.env.items() if k != "PYTHONPATH"}
        heaviest = heaviest_key(inputs.take(point.keys, count)) if point.keyed else 0
        row = summarize(point, result, lags, shown, heaviest)
        rows.append(row)
        ratio = f", {row.ratio:.0%} of {row.ceiling:,.0f}" if row.ratio and row.ceiling else ""
        lag = f", loop lag p99 {row.lag_p99_ms:.0f} ms" if row.lag_p99_ms is not None else ""
        print(f"  {row.status} {row.throughput:,.0f} rec/s{ratio}{lag}, "
              f"{row.peak_rss_mib:.0f} MiB {row.note[:200]}", flush=True)  # fmt: skip
    used = {
        "cpu_iterations": iterations, "cpu_ms": CPU_S * 1000, "http_wait_ms": HTTP_S * 1000,
        "block_wait_ms": BLOCK_S * 1000, "bulk_wait_ms": BULK_S * 1000, "threads": THREADS,
        "processor_processes": cpus, "seconds_per_point": seconds,
        "python": sys.version.split()[0],
    }  # fmt: skip
    return rows, used
