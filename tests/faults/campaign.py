"""The reliability campaign: load, faults, and an audit of every record, summed up per scenario."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from processor.commands.audit import audit_topics
from processor.commands.audit_report import AuditReport, CrashWindow
from processor.config import Settings
from processor.pipelines.transactions import pipeline as transactions
from tests.kafka_support import Sample, committed, produce

FULL = os.environ.get("RELIABILITY_SCALE", "ci") == "full"


def scale(ci: int, full: int) -> int:
    """A size for CI (a few minutes for the whole set) or for the full on-demand campaign."""
    return full if FULL else ci


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    report: AuditReport
    recovery_s: float
    clean_run: bool  # a clean run must have no duplicates at all
    # For scenarios whose fault is in the data or the pipeline, not the process: did the
    # instance run throughout, never exiting, crashing or stalling? None where the scenario
    # stops or kills it on purpose.
    kept_running: bool | None = None

    def row(self) -> str:
        r = self.report
        running = {None: "n/a", True: "yes", False: "NO"}[self.kept_running]
        return (
            f"| {self.name} | {r.inputs} | {r.outputs} | {r.dead_letters} | {len(r.lost)} | "
            f"{r.pending} | {r.duplicates} | {r.aborted} | "
            f"{len(r.unexplained_duplicates)} | {len(r.order_violations)} | "
            f"{self.recovery_s:.1f} | {running} |"
        )


HEADER = (
    "| scenario | records in | out | dead-lettered | lost | pending | duplicated | aborted "
    "| unexplained dup. | order violations | time to recover s | ran throughout |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def write_report(results: Sequence[ScenarioResult], path: Path) -> None:
    lines = [
        "# Reliability campaign",
        "",
        f"Scale: {'full' if FULL else 'ci'}. Each scenario drives load through a real "
        "broker (scenarios marked cluster: a three-broker cluster), injects its fault, and "
        "audits every input record as a read_committed consumer sees the outputs and dead "
        "letters; aborted: outputs and dead letters of aborted transactions, left out.",
        "",
        HEADER,
    ]
    lines += [result.row() for result in results]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


async def produce_paced(bootstrap: str, topic: str, samples: list[Sample], rate: int) -> None:
    """Produce ``samples`` at about ``rate`` records a second, in chunks."""
    chunk = max(rate // 10, 1)
    for start in range(0, len(samples), chunk):
        began = time.monotonic()
        await produce(bootstrap, topic, samples[start : start + chunk])
        await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - began)))


async def committed_now(settings: Settings) -> dict[int, int]:
    return await committed(settings.bootstrap_servers, settings.group_id, settings.input_topic)


async def audit_run(settings: Settings, windows: Iterable[CrashWindow] = ()) -> AuditReport:
    return await audit_topics(settings, transactions, windows)


def random_moments(count: int, within_s: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return sorted(rng.uniform(0.5, within_s) for _ in range(count))
