"""RouteRunner: a route runs on the loop, in a thread or in a process, and never past its time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Literal

import pytest

from processor.engine import executors
from processor.engine.executors import (
    DEFAULT_THREADS,
    ExecutorError,
    RouteRunner,
    RouteTimeout,
    default_workers,
)
from processor.pipeline import Drop, Outcome, Output, Pipeline, Reject, Source
from tests.route_pipelines import (
    WORKER_PID_HEADER,
    Checksums,
    Crashing,
    HiddenModel,
    HomeSick,
    Judge,
    Locked,
    Reading,
    WithLambda,
)

OUT = "readings-out"
START_TIMEOUT_S = 30.0
SOURCE = Source("readings", 0, 7, b"sensor-1", (), 0)
# The process pool's first call spawns its worker: generous, for a busy two-core machine.
PROCESS_TIMEOUT_S = 30.0


def reading(value: float = 1.0, sensor: str = "sensor-1") -> Reading:
    return Reading(sensor=sensor, value=value)


@contextlib.asynccontextmanager
async def running(
    pipeline: object, timeout_s: float = 1.0, workers: int = 0
) -> AsyncIterator[RouteRunner]:
    runner = RouteRunner(pipeline, timeout_s, workers)
    await runner.start(START_TIMEOUT_S)
    try:
        yield runner
    finally:
        await runner.close(1.0)


async def eventually(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)


class _Readings(Pipeline[Reading]):
    model = Reading

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (OUT,)


class Inline(_Readings):
    """A cheap sync route: it runs on the loop."""

    def route(self, record: Reading, source: Source) -> Outcome:
        return Output(OUT, record, key=source.key)


class Sleepy(_Readings):
    """An async route that sleeps for the reading's value, in seconds; a negative one raises."""

    def __init__(self) -> None:
        self.cancelled = False

    async def route(self, record: Reading, source: Source) -> Outcome:
        if record.value < 0:
            raise ValueError(f"negative reading from {record.sensor}")
        try:
            await asyncio.sleep(record.value)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return Output(OUT, record, key=source.key)


class Stubborn(_Readings):
    """An async route that ignores its cancellation until it is released."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.cancellations = 0
        self.finished = False

    async def route(self, record: Reading, source: Source) -> Outcome:
        while not self.released.is_set():
            try:
                await self.released.wait()
            except asyncio.CancelledError:
                self.cancellations += 1
        self.finished = True
        return Drop("released")


class Blocking(_Readings):
    """Blocks its thread for the reading's value, in seconds; a negative reading raises."""

    executor = "thread"

    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.spans: list[tuple[float, float]] = []  # (began, ended), time.monotonic()

    def route(self, record: Reading, source: Source) -> Outcome:
        if record.value < 0:
            raise ValueError(f"negative reading from {record.sensor}")
        self.threads.add(threading.get_ident())
        began = time.monotonic()
        time.sleep(record.value)
        self.spans.append((began, time.monotonic()))
        return Output(OUT, record, key=source.key)


CloseBehaviour = Literal["returns", "raises", "hangs", "ignores_cancellation"]


class Hooked(_Readings):
    """Counts its start and close hooks; its close may fail in the ways user code does."""

    executor = "thread"

    def __init__(
        self, start_error: Exception | None = None, on_close: CloseBehaviour = "returns"
    ) -> None:
        self.start_error = start_error
        self.on_close = on_close
        self.starts = 0
        self.closes = 0
        self.threads: list[threading.Thread] = []
        self.released = asyncio.Event()  # ends a close that ignores its cancellation

    async def start(self) -> None:
        self.starts += 1
        if self.start_error is not None:
            raise self.start_error

    async def close(self) -> None:
        self.closes += 1
        if self.on_close == "raises":
            raise RuntimeError("connection already gone")
        if self.on_close == "hangs":
            await asyncio.sleep(60)
        while self.on_close == "ignores_cancellation" and not self.released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await self.released.wait()

    def route(self, record: Reading, source: Source) -> Outcome:
        self.threads.append(threading.current_thread())
        return Drop("seen")


class RecordedLog:
    """Stands in for the module's logger: keeps its warnings."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, object]]] = []

    def warning(self, event: str, **fields: object) -> None:
        self.warnings.append((event, fields))


# The loop executor.


async def test_a_sync_route_on_the_loop_returns_its_outcome_directly() -> None:
    async with running(Inline()) as runner:
        assert runner.call(reading(2.5), SOURCE) == Output(OUT, reading(2.5), key=b"sensor-1")


async def test_an_async_route_on_the_loop_returns_an_awaitable_of_its_outcome() -> None:
    async with running(Sleepy()) as runner:
        pending = runner.call(reading(0.0), SOURCE)
        assert asyncio.iscoroutine(pending)
        assert await pending == Output(OUT, reading(0.0), key=b"sensor-1")


async def test_an_async_routes_exception_comes_back_through_the_awaitable() -> None:
    async with running(Sleepy()) as runner:
        with pytest.raises(ValueError, match="negative reading from sensor-9"):
            await runner.call(reading(-1.0, sensor="sensor-9"), SOURCE)


async def test_an_async_route_past_its_timeout_raises_route_timeout_and_is_cancelled() -> None:
    pipeline = Sleepy()
    async with running(pipeline, timeout_s=0.05) as runner:
        with pytest.raises(RouteTimeout, match=r"route did not return within 0\.05 s"):
            await runner.call(reading(10.0), SOURCE)
        await eventually(lambda: pipeline.cancelled)


async def test_an_async_route_that_ignores_its_cancellation_is_abandoned_at_its_timeout() -> None:
    pipeline = Stubborn()
    loop = asyncio.get_running_loop()
    async with running(pipeline, timeout_s=0.05) as runner:
        began = loop.time()
        with pytest.raises(RouteTimeout):
            await runner.call(reading(), SOURCE)
        assert loop.time() - began < 0.5
        await eventually(lambda: pipeline.cancellations == 1)
        assert not pipeline.finished  # still running, on its own
        pipeline.released.set()
        await eventually(lambda: pipeline.finished)


async def test_a_call_cancelled_by_a_stop_cancels_its_async_route() -> None:
    pipeline = Sleepy()
    async with running(pipeline, timeout_s=10.0) as runner:
        call = asyncio.ensure_future(runner.call(reading(10.0), SOURCE))
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await eventually(lambda: pipeline.cancelled)


# The thread executor.


async def max_loop_lag_s(until: asyncio.Future[Any], probe_s: float = 0.005) -> float:
    """How late the loop woke a task sleeping ``probe_s`` at a time, at worst, until ``until``."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    while not until.done():
        before = loop.time()
        await asyncio.sleep(probe_s)
        worst = max(worst, loop.time() - before - probe_s)
    return worst


async def test_blocking_routes_run_in_threads_side_by_side_and_the_loop_stays_responsive() -> None:
    pipeline = Blocking()
    loop = asyncio.get_running_loop()
    async with running(pipeline, timeout_s=5.0, workers=16) as runner:
        # Once, so the pool has its 16 threads: starting a thread is not what is measured.
        await asyncio.gather(*(runner.call(reading(0.05), SOURCE) for _ in range(16)))
        began = loop.time()
        calls = asyncio.gather(*(runner.call(reading(0.05), SOURCE) for _ in range(16)))
        lag_s = await max_loop_lag_s(calls)
        outcomes = await calls
        elapsed_s = loop.time() - began
    assert outcomes == [Output(OUT, reading(0.05), key=b"sensor-1")] * 16
    assert threading.get_ident() not in pipeline.threads
    assert len(pipeline.threads) > 1
    assert lag_s < 0.025  # one call on the loop would have blocked it for 0.05 s
    assert elapsed_s < 0.5  # 16 calls one after another take 0.8 s


async def test_a_threaded_routes_exception_comes_back_through_the_awaitable() -> None:
    async with running(Blocking(), workers=2) as runner:
        with pytest.raises(ValueError, match="negative reading from sensor-9"):
            await runner.call(reading(-1.0, sensor="sensor-9"), SOURCE)


async def test_a_timed_out_thread_keeps_its_slot_and_the_next_call_is_timed_from_then() -> None:
    pipeline = Blocking()
    loop = asyncio.get_running_loop()
    async with running(pipeline, timeout_s=0.1, workers=1) as runner:
        began = loop.time()
        first = asyncio.ensure_future(runner.call(reading(0.3), SOURCE))
        second = asyncio.ensure_future(runner.call(reading(0.05), SOURCE))
        with pytest.raises(RouteTimeout, match=r"route did not return within 0\.1 s"):
            await first
        assert loop.time() - began < 0.25  # abandoned at its timeout, not when it returned
        assert await second == Output(OUT, reading(0.05), key=b"sensor-1")
        assert loop.time() - began > 0.3  # waited longer than its time limit, yet not timed out
    (_, first_ended), (second_began, _) = pipeline.spans
    assert second_began >= first_ended


async def test_a_pool_call_cancelled_by_a_stop_frees_its_slot_once_its_thread_returns() -> None:
    pipeline = Blocking()
    async with running(pipeline, timeout_s=1.0, workers=1) as runner:
        first = asyncio.ensure_future(runner.call(reading(0.1), SOURCE))
        await asyncio.sleep(0.02)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await runner.call(reading(0.0), SOURCE) == Output(OUT, reading(0.0), key=b"sensor-1")
    (_, first_ended), (second_began, _) = pipeline.spans
    assert second_began >= first_ended


# The process executor.


@pytest.fixture(scope="module")
async def judge() -> AsyncIterator[RouteRunner]:
    async with running(Judge(topic="judged"), PROCESS_TIMEOUT_S, workers=1) as runner:
        yield runner


async def test_a_process_route_runs_in_another_process(judge: RouteRunner) -> None:
    outcome = await judge.call(reading(1.0), SOURCE)
    assert isinstance(outcome, Output)
    assert dict(outcome.headers)[WORKER_PID_HEADER] != str(os.getpid()).encode()


async def test_records_and_outcomes_round_trip_through_a_process_pool(judge: RouteRunner) -> None:
    written = await judge.call(reading(1.5, sensor="sensor-2"), SOURCE)
    assert isinstance(written, Output)
    assert (written.topic, written.value, written.key) == (
        "judged",
        reading(3.0, "sensor-2"),
        b"sensor-1",
    )
    assert await judge.call(reading(-1.0, sensor="sensor-3"), SOURCE) == Reject(
        "negative reading from sensor-3", error_class="Negative"
    )
    assert await judge.call(reading(0.0), SOURCE) == Drop("zero reading")


async def test_a_batch_route_runs_in_a_process_pool() -> None:
    sensors = ["sensor-1", "sensor-2", "sensor-3"]
    sources = [SOURCE._replace(offset=offset, key=s.encode()) for offset, s in enumerate(sensors)]
    local = Checksums(topic="checksums", rounds=1000)
    expected = local.route_many([reading(sensor=s) for s in sensors], sources)
    async with running(local, PROCESS_TIMEOUT_S, workers=1) as runner:
        outcomes = await runner.call([reading(sensor=s) for s in sensors], sources)
    assert [(o.topic, o.value, o.key) for o in outcomes] == [
        (o.topic, o.value, o.key) for o in expected if isinstance(o, Output)
    ]
    assert {dict(o.headers)[WORKER_PID_HEADER] for o in outcomes} != {str(os.getpid()).encode()}


async def test_a_call_whose_worker_process_dies_fails_and_the_next_calls_get_a_new_pool() -> None:
    async with running(Crashing(), PROCESS_TIMEOUT_S, workers=1) as runner:
        with pytest.raises(BrokenProcessPool):
            await runner.call(reading(-1.0), SOURCE)
        pids = set()
        for _ in range(3):  # a new pool; no slot was lost to the broken one
            outcome = await asyncio.wait_for(runner.call(reading(), SOURCE), PROCESS_TIMEOUT_S)
            assert isinstance(outcome, Drop)
            pids.add(outcome.reason)
        assert len(pids) == 1


@pytest.mark.parametrize(
    "pipeline",
    [Locked(), WithLambda(), HiddenModel()],
    ids=["holding_a_lock", "holding_a_lambda", "whose_model_is_local_to_a_function"],
)
async def test_a_pipeline_that_does_not_pickle_cannot_start_in_a_process_pool(
    pipeline: object,
) -> None:
    runner = RouteRunner(pipeline, timeout_s=1.0)
    with pytest.raises(ExecutorError, match="pickle") as raised:
        await runner.start(START_TIMEOUT_S)
    assert "\n" not in str(raised.value)
    await runner.close(1.0)


# The pipeline's hooks.


async def test_the_start_and_close_hooks_are_awaited_once_each() -> None:
    pipeline = Hooked()
    async with running(pipeline, workers=1) as runner:
        assert (pipeline.starts, pipeline.closes) == (1, 0)
        assert await runner.call(reading(), SOURCE) == Drop("seen")
    assert (pipeline.starts, pipeline.closes) == (1, 1)


async def test_a_failing_start_hook_becomes_an_executor_error_naming_it() -> None:
    runner = RouteRunner(Hooked(start_error=OSError("no route to database\nat 10.0.0.1")), 1.0)
    with pytest.raises(ExecutorError, match=r"start\(\) failed: .*no route to database") as raised:
        await runner.start(START_TIMEOUT_S)
    assert "\n" not in str(raised.value)
    await runner.close(1.0)


class StuckStart(_Readings):
    """A start hook that never ends and ignores its cancellation."""

    def __init__(self) -> None:
        self.released = asyncio.Event()

    async def start(self) -> None:
        while not self.released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await self.released.wait()


async def test_a_start_hook_that_never_ends_fails_start_up_within_its_time() -> None:
    pipeline = StuckStart()
    runner = RouteRunner(pipeline, 1.0)
    began = time.monotonic()
    with pytest.raises(ExecutorError, match=r"start\(\) failed: .*did not return within 0.2 s"):
        await runner.start(0.2)
    assert time.monotonic() - began < 1.0
    pipeline.released.set()
    await runner.close(1.0)


async def test_a_pipeline_a_worker_process_cannot_load_fails_start_up_in_one_line() -> None:
    runner = RouteRunner(HomeSick(), PROCESS_TIMEOUT_S)
    with pytest.raises(
        ExecutorError, match="a worker process could not load the pipeline"
    ) as raised:
        await runner.start(START_TIMEOUT_S)
    assert "\n" not in str(raised.value)
    await runner.close(1.0)


@pytest.mark.parametrize("on_close", ["raises", "hangs", "ignores_cancellation"])
async def test_a_failing_close_hook_is_logged_and_the_pool_still_shuts_down(
    on_close: CloseBehaviour, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = RecordedLog()
    monkeypatch.setattr(executors, "log", recorded)
    pipeline = Hooked(on_close=on_close)
    runner = RouteRunner(pipeline, timeout_s=1.0, workers=1)
    await runner.start(START_TIMEOUT_S)
    await runner.call(reading(), SOURCE)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        async with asyncio.timeout(2.0):
            await runner.close(0.1)
    finally:
        pipeline.released.set()
    assert loop.time() - began < 0.5
    assert [event for event, _ in recorded.warnings] == ["pipeline_close_failed"]
    (worker,) = pipeline.threads
    await eventually(lambda: not worker.is_alive())


async def test_close_does_not_wait_for_a_call_that_still_runs() -> None:
    pipeline = Blocking()
    loop = asyncio.get_running_loop()
    runner = RouteRunner(pipeline, timeout_s=0.05, workers=1)
    await runner.start(START_TIMEOUT_S)
    with pytest.raises(RouteTimeout):
        await runner.call(reading(0.5), SOURCE)
    began = loop.time()
    await runner.close(1.0)
    assert loop.time() - began < 0.2
    assert pipeline.spans == []  # the call was still running when close returned


# How many calls run at once by default.


def test_a_thread_pool_has_32_workers_by_default() -> None:
    assert default_workers("thread") == DEFAULT_THREADS == 32


def test_a_process_pool_has_one_worker_per_usable_cpu_by_default() -> None:
    assert default_workers("process") == len(os.sched_getaffinity(0))


ROOT = str(Path(__file__).resolve().parents[2])
KILLED_PARENT = """
import asyncio, os, signal, sys
from processor.engine.executors import RouteRunner
from tests.route_pipelines import Judge

async def main() -> None:
    runner = RouteRunner(Judge(topic="judged"), 30.0, workers=2)
    await runner.start(30.0)
    print(" ".join(str(pid) for pid in runner._pool._processes), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_pool_workers_end_when_their_processor_process_is_killed() -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_PARENT, stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    out, _ = await child.communicate()
    assert child.returncode == -signal.SIGKILL
    workers = [int(pid) for pid in out.split()]
    assert workers
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        await asyncio.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()
