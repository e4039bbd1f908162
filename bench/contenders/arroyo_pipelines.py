"""Sentry's arroyo with the routes of the pipeline curves (bench/pipelines.py), in the steps
arroyo has for them, before Produce -> CommitOffsets (as ``bench.contenders.arroyo_app``):

- ``BENCH_ARROYO_STRATEGY=threads``: ``RunTaskInThreads`` (``BENCH_ARROYO_THREADS`` threads,
  default 32) runs a route that blocks for ``BENCH_BLOCK_WAIT_S`` (``time.sleep``), then
  validates and routes.
- ``BENCH_ARROYO_STRATEGY=multiprocessing``: ``RunTaskWithMultiprocessing`` (a pool of
  ``BENCH_ARROYO_PROCESSES`` processes, default one per CPU; batches of up to 100 records or
  50 ms) runs a route that burns ``BENCH_CPU_ITERATIONS`` rounds of CPU (about 1 ms), then
  validates and routes.
"""

from __future__ import annotations

import importlib
import os
import time
from functools import partial
from typing import Any

from bench.contenders.arroyo_app import ledger_task, run
from bench.contenders.common import ContenderArgs, parse_args
from bench.contenders.ledger import LedgerTopics, Routed
from bench.pipelines import (
    BLOCK_WAIT_ENV,
    BLOCK_WAIT_S,
    CPU_ITERATIONS_ENV,
    burn,
    calibrate,
    env_float,
)

STRATEGY_ENV, THREADS_ENV, PROCESSES_ENV = (
    "BENCH_ARROYO_STRATEGY",
    "BENCH_ARROYO_THREADS",
    "BENCH_ARROYO_PROCESSES",
)
THREADS = 32
MAX_PENDING_FUTURES = 1000
BATCH_RECORDS, BATCH_TIME_S = 100, 0.05
# Typed as Any: the peer is optional, so type checking must not depend on it being installed.
_strategies: Any = importlib.import_module("arroyo.processing.strategies")
_multiprocessing: Any = importlib.import_module(
    "arroyo.processing.strategies.run_task_with_multiprocessing"
)


def blocking_task(topics: LedgerTopics, wait_s: float, message: Any) -> Routed:
    time.sleep(wait_s)
    return ledger_task(topics, message)


def cpu_task(topics: LedgerTopics, iterations: int, message: Any) -> Routed:
    burn(iterations)
    return ledger_task(topics, message)


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(args: ContenderArgs) -> None:
    strategy = os.environ.get(STRATEGY_ENV, "threads")
    topics = args.topics
    if strategy == "threads":
        threads = int(os.environ.get(THREADS_ENV) or THREADS)
        task = partial(blocking_task, topics, env_float(BLOCK_WAIT_ENV, BLOCK_WAIT_S))
        run(args, lambda then: _strategies.RunTaskInThreads(task, threads, MAX_PENDING_FUTURES,
                                                            then))  # fmt: skip
    elif strategy == "multiprocessing":
        given = os.environ.get(CPU_ITERATIONS_ENV)
        cpu = partial(cpu_task, topics, int(given) if given else calibrate())
        pool = _multiprocessing.MultiprocessingPool(int(os.environ.get(PROCESSES_ENV) or cpus()))
        try:
            run(args, lambda then: _strategies.RunTaskWithMultiprocessing(
                cpu, then, BATCH_RECORDS, BATCH_TIME_S, pool))  # fmt: skip
        finally:
            pool.close()
    else:
        raise SystemExit(f"{STRATEGY_ENV} must be threads or multiprocessing, not {strategy!r}")


if __name__ == "__main__":
    main(parse_args(__doc__ or ""))
