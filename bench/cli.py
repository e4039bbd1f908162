"""``python -m bench``: run the contenders on the same data and write bench/results/latest.*."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.contenders import CONTENDERS, SMOKE, by_name
from bench.curves import run_curves
from bench.drain import RunPlan
from bench.pipeline_curves import GROUPS, run_pipelines
from bench.report import write, write_pipelines
from bench.run import Workload, latency_rate, run_all

RESULTS = Path(__file__).parent / "results"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19592")
    )
    p.add_argument("--records", type=int, default=200_000, help="backlog each contender drains")
    p.add_argument("--record-bytes", type=int, default=400)
    p.add_argument("--invalid-ratio", type=float, default=0.01)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--replicas", type=int, default=int(os.environ.get("BENCH_REPLICAS", "1")),
                   help="replicas of every topic (3 on the three-broker cluster)")  # fmt: skip
    p.add_argument("--rounds", type=int, default=1, help="order alternates between rounds")
    p.add_argument("--contenders", default=",".join(c.name for c in CONTENDERS),
                   help="comma-separated subset")  # fmt: skip
    p.add_argument("--latency-seconds", type=float, default=10.0, help="0 skips latency")
    p.add_argument("--latency-share", type=float, default=0.5, help="of the processor's max")
    p.add_argument("--timeout", type=float, default=300.0, help="per contender drain (s)")
    p.add_argument("--curves", action="store_true", help="also the processor's scaling curves")
    p.add_argument("--max-backlog", type=int, default=2_000_000, help="cap for the RSS curve")
    p.add_argument(
        "--smoke", action="store_true", help="tiny run for CI: 1,000 records, 3 contenders"
    )
    p.add_argument(
        "--pipelines", nargs="?", const="all", default=None, metavar="CURVES",
        help="instead of the table: the pipeline-speed curves (all, or some of "
        f"{','.join(GROUPS)}), written to pipelines.*",
    )  # fmt: skip
    p.add_argument("--pipeline-seconds", type=float, default=12.0,
                   help="each pipeline point drains this long at its expected rate")  # fmt: skip
    p.add_argument("--out", type=Path, default=RESULTS, help="where the results are written")
    return p


def command(argv: list[str] | None) -> str:
    """The command as run: ``scripts/bench`` says it is the launcher."""
    launcher = os.environ.get("BENCH_LAUNCHER", "python -m bench")
    return " ".join([launcher, shlex.join(sys.argv[1:] if argv is None else argv)]).strip()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.command = command(argv)
    # Retried client warnings (a leader moving, a group joining) are not results.
    logging.basicConfig(level=logging.ERROR)
    if args.smoke:
        args.records, args.latency_seconds, args.curves = 1_000, 1.0, False
        args.contenders, args.timeout = ",".join(SMOKE), 60.0
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    if args.pipelines is not None:
        return await _pipelines(args)
    contenders = by_name([n for n in args.contenders.split(",") if n])
    workload = Workload(args.records, args.record_bytes, args.invalid_ratio, args.rounds,
                        args.latency_seconds, args.latency_share)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        plan = RunPlan(args.bootstrap, args.partitions, args.timeout, Path(work), args.replicas)
        rows = await run_all(contenders, plan, workload)
        curves: dict[str, Any] = {}
        if args.curves:
            rate = latency_rate({row.name: row for row in rows}, 1.0)
            curves = await run_curves(plan, workload, args.max_backlog, rate)
    meta = {
        "command": args.command,
        "date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
        "python": platform.python_version(), "records": args.records,
        "record_bytes": args.record_bytes, "invalid_ratio": args.invalid_ratio,
        "partitions": args.partitions, "replicas": args.replicas, "rounds": args.rounds,
        "latency_seconds": args.latency_seconds, "smoke": args.smoke,
    }  # fmt: skip
    print(write(args.out, meta, rows, curves))
    return 0 if all(row.status in ("ok", "skipped") for row in rows) else 1


async def _pipelines(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        plan = RunPlan(args.bootstrap, args.partitions, args.timeout, Path(work), args.replicas)
        rows, used = await run_pipelines(plan, args.pipelines, args.pipeline_seconds,
                                         args.record_bytes, args.invalid_ratio)  # fmt: skip
    meta = {
        "command": args.command, "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(), "record_bytes": args.record_bytes,
        "invalid_ratio": args.invalid_ratio, "partitions": args.partitions,
    }  # fmt: skip
    print(write_pipelines(args.out, meta, rows, used))
    return 0 if all(row.status in ("ok", "skipped") for row in rows) else 1
