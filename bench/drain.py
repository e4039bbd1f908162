"""Drain throughput: a contender reads a preloaded backlog from a fresh group until all of it is
committed. Measured from outside: the group's committed offsets (admin client) and the outputs'
end offsets are polled every 50 ms.

Throughput = records / (time the committed offsets covered the whole input - time the first
output record appeared). Start-up and group join are left out; the last commit is in. For
kcat, which commits on its own timer, the end is when all records were written to its output.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.contenders import Contender
from bench.data import InputRecord
from bench.kafka import Progress, create_topics, delete_topics, preload, run_topics
from bench.measure import Child

POLL_S = 0.05


@dataclass(slots=True)
class DrainResult:
    contender: str
    records: int
    status: str = "ok"  # ok, timeout, failed, skipped
    note: str = ""
    throughput: float = 0.0
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    cpu_s_per_100k: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    # The measured window (time.time()): the first output, and the end (or the last poll).
    started_at: float = 0.0
    ended_at: float = 0.0


@dataclass(frozen=True, slots=True)
class RunPlan:
    bootstrap: str
    partitions: int
    timeout_s: float
    work_dir: Path
    replicas: int = 1  # of every topic: 3 on a three-broker cluster


def contender_argv(
    contender: Contender, bootstrap: str, topic: str, group: str, expect: int
) -> list[str]:
    return [sys.executable, "-m", contender.module, "--bootstrap", bootstrap, "--input", topic,
            "--group", group, "--expect", str(expect)]  # fmt: skip


async def drain(
    contender: Contender,
    plan: RunPlan,
    data: list[InputRecord],
    env: dict[str, str] | None = None,
) -> DrainResult:
    """Preload ``data`` into fresh topics and let ``contender`` work through it."""
    name = f"bench-{contender.name}-{uuid.uuid4().hex[:8]}"
    topics = run_topics(name)
    result = DrainResult(contender.name, len(data))
    await create_topics(plan.bootstrap, topics, plan.partitions, replicas=plan.replicas)
    try:
        await preload(plan.bootstrap, name, data, plan.partitions)
        await _measure(contender, plan, name, len(data), result, env)
    finally:
        await delete_topics(plan.bootstrap, topics)
    return result


async def _measure(
    contender: Contender, plan: RunPlan, topic: str, expect: int, result: DrainResult,
    env: dict[str, str] | None,
) -> None:  # fmt: skip
    group = f"{topic}-group"
    argv = contender_argv(contender, plan.bootstrap, topic, group, expect)
    first = done = None
    last_seen = time.time()
    timeline: list[tuple[float, int]] = []  # (time, outputs written)
    async with Progress(plan.bootstrap, topic, group, plan.partitions) as progress:
        child = Child(argv, plan.work_dir / f"{topic}.log", {**dict(contender.env), **(env or {})})
        deadline = time.monotonic() + plan.timeout_s
        count = 0
        while time.monotonic() < deadline:
            written = await progress.written()
            count = written if not contender.validates else await progress.committed()
            now = last_seen = time.time()
            timeline.append((now, written))
            if first is None and (written or count):
                first = now
            if count >= expect:
                done = now
                break
            if not child.running:
                break
            await asyncio.sleep(POLL_S)
        exited_early = not child.running
        measured = await child.finish(wait=done is not None and contender.stops_itself)
    end = done
    result.started_at = first or 0.0
    if done is None or first is None:
        result.status = "failed" if exited_early else "timeout"
        result.note = f"{count}/{expect} committed; exit {measured.exit_code}: {child.log_tail()}"
        if first is not None and count:
            end = last_seen  # a timed-out run still measured a rate over its window
            result.throughput = count / max(end - first, 1e-3)
    else:
        result.seconds = max(done - first, POLL_S)
        result.throughput = expect / result.seconds
    result.ended_at = end or 0.0
    steady = steady_rate(timeline, expect)
    if steady is not None:
        result.extra["steady_throughput"] = steady
    result.peak_rss_mib = measured.peak_rss_bytes / 2**20
    cpu = measured.cpu_between(first, end) if first and end else None
    if cpu is None:
        cpu = measured.total_cpu_s
        result.note = (
            result.note + "; " if result.note else ""
        ) + "CPU over the whole process life"
    processed = expect if done else max(count, 1)
    result.cpu_s_per_100k = cpu * 100_000 / processed


def steady_rate(
    timeline: list[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9
) -> float | None:
    """Outputs per second while the outputs went from ``low`` to ``high`` of ``total``: the rate
    without the start and the tail (the last commit, the last records of the busiest key). None
    when the outputs never got that far."""
    start = next(((at, n) for at, n in timeline if n >= low * total), None)
    end = next(((at, n) for at, n in timeline if n >= high * total), None)
    if start is None or end is None or end[0] <= start[0]:
        return None
    return (end[1] - start[1]) / (end[0] - start[0])
