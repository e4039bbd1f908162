"""The pipelines of the pipeline-speed curves: the built-in ledger pipeline behind a wait.

Each wraps :mod:`processor.pipelines.transactions` (same model, same outputs, same dead letters)
so that its route first waits the way real routes do:

- ``bench.pipelines:http_call``: an async route that awaits ``asyncio.sleep`` (an HTTP call);
- ``bench.pipelines:blocking_driver``: a sync route that ``time.sleep``\\ s, executor ``thread``
  (a blocking driver);
- ``bench.pipelines:cpu_work``: a sync route that burns CPU (a calibrated busy loop), executor
  ``process``;
- ``bench.pipelines:bulk_call``: a batch pipeline whose ``route_many`` awaits once per batch
  (a bulk call).

Run them with ``PROCESSOR_PIPELINE=bench.pipelines:http_call`` (the repository root on
``PYTHONPATH``). The costs come from environment variables, read when the factory is called
(once per processor process; a process pool's workers get the pipeline pickled, costs included).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

from processor.pipeline import BatchPipeline, Executor, Outcome, Output, Pipeline, Source
from processor.pipelines.transactions import Transaction, TransactionsPipeline

# The environment variables, and their defaults.
HTTP_WAIT_ENV, HTTP_WAIT_S = "BENCH_HTTP_WAIT_S", 0.05
BLOCK_WAIT_ENV, BLOCK_WAIT_S = "BENCH_BLOCK_WAIT_S", 0.005
CPU_ITERATIONS_ENV = "BENCH_CPU_ITERATIONS"  # busy-loop rounds; unset: calibrated to CPU_S
CPU_S = 0.001
BULK_WAIT_ENV, BULK_WAIT_S = "BENCH_BULK_WAIT_S", 0.02

LEDGER = TransactionsPipeline()


def burn(iterations: int) -> int:
    """Pure-Python CPU work: ``iterations`` rounds of integer arithmetic (holds the GIL)."""
    value = 0
    for index in range(iterations):
        value = (value * 31 + index) & 0xFFFFFFFF
    return value


def calibrate(target_s: float = CPU_S, trials: int = 7, probe: int = 20_000) -> int:
    """Rounds of :func:`burn` that take ``target_s`` of CPU here: the fastest of ``trials`` (a
    busy machine only ever makes a trial slower), measured in CPU time of this thread."""
    best = min(_cpu_time(probe) for _ in range(trials))
    return max(1, round(probe * target_s / best))


def _cpu_time(iterations: int) -> float:
    started = time.thread_time()
    burn(iterations)
    return max(time.thread_time() - started, 1e-9)


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


class _Ledger:
    """What every bench pipeline shares with the built-in one."""

    model = Transaction

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return LEDGER.output_topics(input_topic)


class HttpCall(_Ledger, Pipeline[Transaction]):
    """Awaits ``wait_s`` (an HTTP call), then routes as the built-in pipeline does."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s

    async def route(self, record: Transaction, source: Source) -> Output:
        await asyncio.sleep(self.wait_s)
        return LEDGER.route(record, source)


class BlockingDriver(_Ledger, Pipeline[Transaction]):
    """Blocks its thread for ``wait_s`` (a synchronous driver), then routes."""

    executor: Executor = "thread"

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s

    def route(self, record: Transaction, source: Source) -> Output:
        time.sleep(self.wait_s)
        return LEDGER.route(record, source)


class CpuWork(_Ledger, Pipeline[Transaction]):
    """Burns ``iterations`` rounds of CPU (calibrated to about 1 ms), then routes."""

    executor: Executor = "process"

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations

    def route(self, record: Transaction, source: Source) -> Output:
        burn(self.iterations)
        return LEDGER.route(record, source)


class BulkCall(_Ledger, BatchPipeline[Transaction]):
    """Awaits ``wait_s`` once per batch (a bulk call), then routes each record."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s

    async def route_many(
        self, records: Sequence[Transaction], sources: Sequence[Source]
    ) -> list[Outcome]:
        await asyncio.sleep(self.wait_s)
        return [LEDGER.route(r, s) for r, s in zip(records, sources, strict=True)]


def http_call() -> HttpCall:
    return HttpCall(env_float(HTTP_WAIT_ENV, HTTP_WAIT_S))


def blocking_driver() -> BlockingDriver:
    return BlockingDriver(env_float(BLOCK_WAIT_ENV, BLOCK_WAIT_S))


def cpu_work() -> CpuWork:
    given = os.environ.get(CPU_ITERATIONS_ENV)
    return CpuWork(int(given) if given else calibrate())


def bulk_call() -> BulkCall:
    return BulkCall(env_float(BULK_WAIT_ENV, BULK_WAIT_S))
