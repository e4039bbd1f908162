"""Scheduler: records of one ordering key never overlap and run in input order, each exactly once,
with at most ``concurrency`` in flight; a record that finishes at once is handled inline.

Fake handlers finish at once (return None), after a few loop ticks, or when a gate opens, so
every interleaving here is decided by the event loop's order, not by the clock (but for the
batch wait, which is a time).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine.inflight import InFlight
from processor.engine.offsets import OffsetTracker
from processor.engine.scheduler import TURN_S, Ordering, Scheduler
from processor.pipeline import Source

T = TypeVar("T")
TOPIC = "transactions"
# What a fake handle does with a record: finish at once (None), or after this many loop ticks.
Plan = int | None


def make_item(
    offset: int, key: bytes | None = None, *, topic: str = TOPIC, partition: int = 0
) -> InFlight:
    source = Source(topic, partition, offset, key, (), 0)
    return InFlight(source, b"{}", 2 + len(key or b""), OffsetTracker())


def offsets(items: list[InFlight]) -> list[int]:
    return [item.source.offset for item in items]


def group_of(ordering: Ordering) -> Callable[[InFlight], Hashable | None]:
    """What the test expects to order records (None: independent)."""
    if ordering == "key":
        return lambda item: item.source.key
    if ordering == "partition":
        return lambda item: (item.source.topic, item.source.partition)
    return lambda item: None


def never(item: InFlight, error: Exception) -> None:
    """The last net under handling, for tests whose handling never raises."""
    raise AssertionError(f"handling offset {item.source.offset} raised {error!r}")


def unused(item: InFlight) -> None:
    raise AssertionError("a batch scheduler handled a single record")


async def ticks(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Let the loop run until ``condition`` holds."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.0005)


async def ticks_until(condition: Callable[[], bool], most: int = 100_000) -> int:
    """How many times the loop came back here before ``condition`` held."""
    count = 0
    while not condition():
        assert count < most, "never happened"
        count += 1
        await asyncio.sleep(0)
    return count


def this_task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None
    return task


def run(scenario: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()  # its own loop: hypothesis calls the test synchronously
    try:
        return loop.run_until_complete(scenario)
    finally:
        loop.close()


@asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[Scheduler]:
    scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()


class WorkClock:
    """A fake clock for the dispatcher's turns: every reading is ``step_s`` later than the last,
    as if each record handled between two readings took that long."""

    def __init__(self, step_s: float) -> None:
        self.now = 0.0
        self._step_s = step_s

    def __call__(self) -> float:
        self.now += self._step_s
        return self.now


def schedule(
    handle: Callable[[InFlight], Awaitable[None] | None],
    *,
    concurrency: int = 8,
    ordering: Ordering = "key",
    contain: Callable[[InFlight, Exception], None] = never,
    clock: Callable[[], float] = time.perf_counter,
) -> Scheduler:
    return Scheduler(
        concurrency=concurrency,
        ordering=ordering,
        handle=handle,
        contain=contain,
        clock=clock,
    )


def schedule_batches(
    handle_batch: Callable[[list[InFlight]], Awaitable[None] | None],
    *,
    batch_max: int,
    concurrency: int = 100,
    batch_wait_s: float = 0.0,
    ordering: Ordering = "key",
    contain: Callable[[InFlight, Exception], None] = never,
    clock: Callable[[], float] = time.perf_counter,
) -> Scheduler:
    return Scheduler(
        concurrency=concurrency,
        ordering=ordering,
        handle=unused,
        contain=contain,
        handle_batch=handle_batch,
        batch_max=batch_max,
        batch_wait_s=batch_wait_s,
        clock=clock,
    )


class Recorder:
    """A fake ``handle``: logs each start and end; ``plan`` says when a record finishes, and a
    record that must wait also waits for ``gate`` when there is one."""

    def __init__(
        self, plan: Callable[[InFlight], Plan] | None = None, gate: asyncio.Event | None = None
    ) -> None:
        self.events: list[tuple[str, InFlight]] = []
        self.finished: list[InFlight] = []
        self.running = 0  # records whose awaitable has not finished
        self.most_running = 0
        self.tasks: list[asyncio.Task[Any]] = []  # where the awaitables ran
        self._plan = plan or (lambda item: 0 if gate else None)
        self._gate = gate

    def handle(self, item: InFlight) -> Awaitable[None] | None:
        self.events.append(("start", item))
        wait_ticks = self._plan(item)
        if wait_ticks is None:
            self._end(item)
            return None
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        return self._end_later(item, wait_ticks)

    async def _end_later(self, item: InFlight, wait_ticks: int) -> None:
        self.tasks.append(this_task())
        if self._gate is not None:
            await self._gate.wait()
        await ticks(wait_ticks)
        self.running -= 1
        self._end(item)

    def _end(self, item: InFlight) -> None:
        self.events.append(("end", item))
        self.finished.append(item)

    def started(self) -> list[InFlight]:
        return [item for kind, item in self.events if kind == "start"]


class BatchRecorder:
    """A fake ``handle_batch``: logs each batch's start and end; ``plan`` (by the batch's number)
    says when it finishes, and a batch that must wait also waits for ``gate``."""

    def __init__(
        self, plan: Callable[[int], Plan] | None = None, gate: asyncio.Event | None = None
    ) -> None:
        self.batches: list[list[InFlight]] = []
        self.events: list[tuple[str, int]] = []  # ("start" | "end", the batch's number)
        self.started_at: list[float] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self._plan = plan or (lambda number: 0 if gate else None)
        self._gate = gate

    def handle_batch(self, items: list[InFlight]) -> Awaitable[None] | None:
        number = len(self.batches)
        self.batches.append(list(items))
        self.events.append(("start", number))
        self.started_at.append(asyncio.get_running_loop().time())
        wait_ticks = self._plan(number)
        if wait_ticks is None:
            self.events.append(("end", number))
            return None
        return self._end_later(number, wait_ticks)

    async def _end_later(self, number: int, wait_ticks: int) -> None:
        self.tasks.append(this_task())
        if self._gate is not None:
            await self._gate.wait()
        await ticks(wait_ticks)
        self.events.append(("end", number))

    def finished(self) -> list[InFlight]:
        return [
            item for kind, number in self.events if kind == "end" for item in self.batches[number]
        ]


# -- one record at a time: properties over random streams

keys = st.one_of(st.none(), st.sampled_from([b"", b"a", b"b", b"c", b"d"]))
plans = st.one_of(st.none(), st.integers(0, 4))
streams = st.lists(st.tuples(keys, st.integers(0, 2), plans), max_size=60)
# How the stream arrives: polls of this many records, this many loop ticks apart.
polls = st.lists(st.tuples(st.integers(1, 12), st.integers(0, 3)), min_size=1, max_size=8)
orderings = st.sampled_from(["key", "partition", "none"])


@dataclass
class Outcome:
    items: list[InFlight]
    recorder: Recorder
    queued: int
    in_flight: int


def make_stream(
    records: list[tuple[bytes | None, int, Plan]],
) -> tuple[list[InFlight], dict[int, Plan]]:
    items = [
        make_item(offset, key, partition=partition)
        for offset, (key, partition, _) in enumerate(records)
    ]
    return items, {offset: plan for offset, (_, _, plan) in enumerate(records)}


async def put_in_polls(
    scheduler: Scheduler, items: list[InFlight], polls: list[tuple[int, int]]
) -> None:
    position, turn = 0, 0
    while position < len(items):
        size, pause = polls[turn % len(polls)]
        scheduler.put_many(items[position : position + size])
        position, turn = position + size, turn + 1
        await ticks(pause)


def handle_stream(
    records: list[tuple[bytes | None, int, Plan]],
    polls: list[tuple[int, int]],
    concurrency: int,
    ordering: Ordering,
) -> Outcome:
    items, plan = make_stream(records)

    async def scenario() -> Outcome:
        recorder = Recorder(lambda item: plan[item.source.offset])
        async with running(
            schedule(recorder.handle, concurrency=concurrency, ordering=ordering)
        ) as scheduler:
            await put_in_polls(scheduler, items, polls)
            await until(lambda: len(recorder.finished) >= len(items))
            await ticks(10)  # nothing more happens
            return Outcome(items, recorder, scheduler.queued, scheduler.in_flight)

    return run(scenario())


@settings(max_examples=150, deadline=None)
@given(records=streams, polls=polls, concurrency=st.integers(1, 50), ordering=orderings)
def test_records_of_one_ordering_key_never_overlap(
    records: list[tuple[bytes | None, int, Plan]],
    polls: list[tuple[int, int]],
    concurrency: int,
    ordering: Ordering,
) -> None:
    outcome = handle_stream(records, polls, concurrency, ordering)
    group = group_of(ordering)
    busy: dict[Hashable, int] = {}
    for kind, item in outcome.recorder.events:
        key = group(item)
        if key is None:
            continue
        if kind == "start":
            assert key not in busy, f"{item.source.offset} started while {busy[key]} ran"
            busy[key] = item.source.offset
        else:
            assert busy.pop(key) == item.source.offset


@settings(max_examples=150, deadline=None)
@given(records=streams, polls=polls, concurrency=st.integers(1, 50), ordering=orderings)
def test_records_of_one_ordering_key_start_and_finish_in_input_order(
    records: list[tuple[bytes | None, int, Plan]],
    polls: list[tuple[int, int]],
    concurrency: int,
    ordering: Ordering,
) -> None:
    outcome = handle_stream(records, polls, concurrency, ordering)
    group = group_of(ordering)
    for key in {group(item) for item in outcome.items} - {None}:
        wanted = [item.source.offset for item in outcome.items if group(item) == key]
        started = [item.source.offset for item in outcome.recorder.started() if group(item) == key]
        ended = [item.source.offset for item in outcome.recorder.finished if group(item) == key]
        assert started == wanted
        assert ended == wanted


@settings(max_examples=150, deadline=None)
@given(records=streams, polls=polls, concurrency=st.integers(1, 50), ordering=orderings)
def test_every_record_keyed_or_keyless_is_handled_exactly_once_and_nothing_is_left(
    records: list[tuple[bytes | None, int, Plan]],
    polls: list[tuple[int, int]],
    concurrency: int,
    ordering: Ordering,
) -> None:
    outcome = handle_stream(records, polls, concurrency, ordering)
    everything = sorted(offsets(outcome.items))
    assert sorted(offsets(outcome.recorder.started())) == everything
    assert sorted(offsets(outcome.recorder.finished)) == everything
    assert (outcome.queued, outcome.in_flight) == (0, 0)


@settings(max_examples=150, deadline=None)
@given(records=streams, polls=polls, concurrency=st.integers(1, 50), ordering=orderings)
def test_never_more_than_concurrency_records_are_in_flight(
    records: list[tuple[bytes | None, int, Plan]],
    polls: list[tuple[int, int]],
    concurrency: int,
    ordering: Ordering,
) -> None:
    outcome = handle_stream(records, polls, concurrency, ordering)
    assert outcome.recorder.most_running <= concurrency


# -- concurrency and what orders records


async def test_many_distinct_keys_reach_the_concurrency_and_no_more() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    items = [make_item(offset, f"key-{offset}".encode()) for offset in range(100)]
    async with running(schedule(recorder.handle, concurrency=20)) as scheduler:
        scheduler.put_many(items)
        await until(lambda: recorder.running == 20)
        await ticks(10)
        assert (recorder.running, scheduler.in_flight, scheduler.queued) == (20, 20, 80)
        gate.set()
        await until(lambda: len(recorder.finished) == 100)
    assert recorder.most_running == 20


async def test_a_finished_record_frees_its_place_for_the_next_one() -> None:
    recorder = Recorder(lambda item: 3)
    items = [make_item(offset, f"key-{offset}".encode()) for offset in range(30)]
    async with running(schedule(recorder.handle, concurrency=4)) as scheduler:
        scheduler.put_many(items)
        await until(lambda: len(recorder.finished) == 30)
        assert (scheduler.in_flight, scheduler.queued) == (0, 0)
    assert recorder.most_running == 4


async def test_with_partition_ordering_one_record_per_partition_runs_whatever_its_key() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    items = [
        make_item(offset, f"key-{offset}".encode(), partition=offset % 3) for offset in range(30)
    ]
    async with running(
        schedule(recorder.handle, concurrency=10, ordering="partition")
    ) as scheduler:
        scheduler.put_many(items)
        await ticks(20)
        assert sorted(offsets(recorder.started())) == [0, 1, 2]
        gate.set()
        await until(lambda: len(recorder.finished) == 30)
    assert recorder.most_running == 3
    for partition in range(3):
        done = [
            item.source.offset for item in recorder.finished if item.source.partition == partition
        ]
        assert done == list(range(partition, 30, 3))


async def test_with_no_ordering_records_of_one_key_run_at_once() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    async with running(schedule(recorder.handle, concurrency=5, ordering="none")) as scheduler:
        scheduler.put_many([make_item(offset, b"same") for offset in range(12)])
        await until(lambda: recorder.running == 5)
        await ticks(10)
        assert recorder.running == 5
        gate.set()
        await until(lambda: len(recorder.finished) == 12)
    assert recorder.most_running == 5


async def test_an_empty_key_is_a_key_and_its_records_never_overlap() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    async with running(schedule(recorder.handle, concurrency=8)) as scheduler:
        scheduler.put_many([make_item(offset, b"") for offset in range(20)])
        await ticks(20)
        assert offsets(recorder.started()) == [0]
        gate.set()
        await until(lambda: len(recorder.finished) == 20)
    assert recorder.most_running == 1
    assert offsets(recorder.finished) == list(range(20))


async def test_keyless_records_are_independent_of_each_other() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    async with running(schedule(recorder.handle, concurrency=8)) as scheduler:
        scheduler.put_many([make_item(offset, None) for offset in range(20)])
        await until(lambda: recorder.running == 8)
        gate.set()
        await until(lambda: len(recorder.finished) == 20)
    assert recorder.most_running == 8


# -- records that finish at once


async def test_a_record_that_finishes_at_once_is_handled_inline_without_a_task() -> None:
    where: list[tuple[asyncio.Task[Any] | None, int]] = []

    def handle(item: InFlight) -> None:
        where.append((asyncio.current_task(), len(asyncio.all_tasks())))

    async with running(schedule(handle, concurrency=4)) as scheduler:
        await ticks(3)
        tasks_before = len(asyncio.all_tasks())
        scheduler.put_many([make_item(offset, f"k{offset % 3}".encode()) for offset in range(50)])
        await until(lambda: len(where) == 50)
        assert scheduler.in_flight == 0
        dispatcher = scheduler.tasks[0]
    assert where == [(dispatcher, tasks_before)] * 50


# Records that take a millisecond each: a run of 100 is about 20 turns.
SLOW_RECORD_S = TURN_S / 5
RUN = 100


async def test_a_long_run_of_records_that_finish_at_once_still_lets_the_loop_run() -> None:
    recorder = Recorder()
    clock = WorkClock(SLOW_RECORD_S)
    async with running(schedule(recorder.handle, concurrency=1, clock=clock)) as scheduler:
        await ticks(3)
        scheduler.put_many([make_item(offset, b"same") for offset in range(RUN)])
        came_back = await ticks_until(lambda: len(recorder.finished) == RUN)
    assert came_back >= 10


async def test_records_that_take_no_time_are_handled_in_one_turn() -> None:
    """A poll's worth of cheap records is handled before the loop runs the senders, so they find
    it all to batch (rather than sending a small produce request every few records)."""
    recorder = Recorder()
    clock = WorkClock(0.0)
    async with running(schedule(recorder.handle, concurrency=1, clock=clock)) as scheduler:
        await ticks(3)
        scheduler.put_many([make_item(offset, f"k{offset}".encode()) for offset in range(5_000)])
        came_back = await ticks_until(lambda: len(recorder.finished) == 5_000)
    assert came_back <= 1


async def test_a_long_run_of_records_waiting_behind_one_of_their_key_still_lets_the_loop_run() -> (
    None
):
    gate = asyncio.Event()
    recorder = Recorder(lambda item: 0 if item.source.offset == 0 else None, gate=gate)
    clock = WorkClock(SLOW_RECORD_S)
    async with running(schedule(recorder.handle, concurrency=2, clock=clock)) as scheduler:
        scheduler.put_many([make_item(offset, b"same") for offset in range(RUN + 1)])
        await until(lambda: scheduler.queued == RUN)  # all wait behind the first
        gate.set()
        came_back = await ticks_until(lambda: len(recorder.finished) == RUN + 1)
    assert came_back >= 10
    assert offsets(recorder.finished) == list(range(RUN + 1))


# -- letting go of queued records at a rebalance


def where(item: InFlight) -> tuple[str, int]:
    return item.source.topic, item.source.partition


async def test_releasing_takes_only_the_queued_records_of_the_given_partitions() -> None:
    items = [
        make_item(offset, f"k{offset % 5}".encode(), topic=topic, partition=partition)
        for topic in ("a", "b")
        for partition in (0, 1)
        for offset in range(10)
    ]
    gone = {("a", 1), ("b", 0)}
    recorder = Recorder()
    scheduler = schedule(recorder.handle, concurrency=1)
    scheduler.put_many(items)

    released = scheduler.release_queued(dict.fromkeys(gone, -1))

    assert released == [item for item in items if where(item) in gone]
    assert scheduler.queued == len(items) - len(released)
    async with running(scheduler):
        await until(lambda: len(recorder.finished) == len(items) - len(released))
        await ticks(10)
    assert recorder.finished == [item for item in items if where(item) not in gone]


async def test_releasing_takes_records_waiting_behind_their_key_and_leaves_those_in_flight() -> (
    None
):
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    async with running(schedule(recorder.handle, concurrency=3)) as scheduler:
        first = [make_item(0, b"k0", partition=0), make_item(1, b"k1", partition=1)]
        scheduler.put_many(first)
        await until(lambda: recorder.running == 2)
        behind = [
            make_item(offset, f"k{offset % 2}".encode(), partition=offset % 3)
            for offset in range(2, 12)
        ]
        scheduler.put_many(behind)  # these wait behind the first two, in their keys' queues
        await ticks(10)
        third = make_item(12, b"k2", partition=1)
        scheduler.put_many([third])
        await until(lambda: recorder.running == 3)
        ready = [
            make_item(offset, f"k{offset % 3}".encode(), partition=offset % 3)
            for offset in range(13, 20)
        ]
        scheduler.put_many(ready)  # these stay in the ready queue: the concurrency is reached
        await ticks(10)

        released = scheduler.release_queued({(TOPIC, 1): -1})

        gate.set()
        await until(lambda: scheduler.queued == 0 and scheduler.in_flight == 0)
        await ticks(10)
    waiting = [item for item in [*behind, *ready] if item.source.partition == 1]
    assert sorted(offsets(released)) == sorted(offsets(waiting))
    kept = [*first, third, *[item for item in [*behind, *ready] if item.source.partition != 1]]
    assert sorted(offsets(recorder.finished)) == sorted(offsets(kept))
    for key in (b"k0", b"k1", b"k2"):
        done = [item.source.offset for item in recorder.finished if item.source.key == key]
        assert done == sorted(done)


async def test_releasing_leaves_the_record_being_handled_and_it_finishes() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    async with running(schedule(recorder.handle, concurrency=1)) as scheduler:
        scheduler.put_many([make_item(offset, b"k") for offset in range(5)])
        await until(lambda: recorder.running == 1)
        released = scheduler.release_queued({(TOPIC, 0): -1})
        gate.set()
        await until(lambda: scheduler.in_flight == 0)
        await ticks(10)
    assert offsets(released) == [1, 2, 3, 4]
    assert offsets(recorder.started()) == offsets(recorder.finished) == [0]


def test_releasing_partitions_with_nothing_queued_returns_nothing() -> None:
    scheduler = schedule(Recorder().handle)
    scheduler.put_many([make_item(0, b"k", partition=0)])
    assert scheduler.release_queued({(TOPIC, 5): -1, ("other", 0): -1}) == []
    assert scheduler.queued == 1


async def test_releasing_above_an_offset_keeps_the_queued_records_below_it_in_order() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    async with running(schedule(recorder.handle, concurrency=2)) as scheduler:
        scheduler.put_many([make_item(offset, f"k{offset % 2}".encode()) for offset in range(10)])
        await until(lambda: recorder.running == 2)  # 0 and 1 run, the rest wait behind them
        assert scheduler.queued_offsets([(TOPIC, 0), (TOPIC, 1)]) == {
            (TOPIC, 0): set(range(2, 10)),
            (TOPIC, 1): set(),
        }

        released = scheduler.release_queued({(TOPIC, 0): 5})

        gate.set()
        await until(lambda: scheduler.queued == 0 and scheduler.in_flight == 0)
        await ticks(10)
    assert offsets(released) == [6, 7, 8, 9]
    assert sorted(offsets(recorder.finished)) == [0, 1, 2, 3, 4, 5]
    for key in (b"k0", b"k1"):
        done = [item.source.offset for item in recorder.finished if item.source.key == key]
        assert done == sorted(done)


async def test_releasing_takes_records_waiting_behind_a_batch_of_their_key() -> None:
    gate = asyncio.Event()
    recorder = BatchRecorder(gate=gate)
    async with running(schedule_batches(recorder.handle_batch, batch_max=2)) as scheduler:
        scheduler.put_many([make_item(0, b"k", partition=0), make_item(1, b"k", partition=1)])
        await until(lambda: len(recorder.batches) == 1)
        behind = [make_item(offset, b"k", partition=offset % 2) for offset in range(2, 8)]
        scheduler.put_many(behind)
        await ticks(10)

        released = scheduler.release_queued({(TOPIC, 1): -1})

        gate.set()
        await until(lambda: scheduler.queued == 0 and scheduler.in_flight == 0)
        await ticks(10)
    assert offsets(released) == [3, 5, 7]
    assert offsets(recorder.finished()) == [0, 1, 2, 4, 6]


# -- handling that raises


@pytest.mark.parametrize("behind_another", [False, True])
@pytest.mark.parametrize("awaited", [False, True])
async def test_a_record_whose_handling_raises_is_contained_and_the_stream_goes_on(
    behind_another: bool, awaited: bool
) -> None:
    """The failing record is handled by the dispatcher, or by the chain of the record before it."""
    contained: list[tuple[int, str]] = []
    handled: list[int] = []

    async def fail_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("late")

    async def finish_later(offset: int) -> None:
        await ticks(2)
        handled.append(offset)

    def handle(item: InFlight) -> Awaitable[None] | None:
        offset = item.source.offset
        if offset == 1:
            if awaited:
                return fail_later()
            raise TypeError("at once")
        if offset == 0 and behind_another:
            return finish_later(offset)
        handled.append(offset)
        return None

    def contain(item: InFlight, error: Exception) -> None:
        contained.append((item.source.offset, type(error).__name__))

    async with running(schedule(handle, concurrency=2, contain=contain)) as scheduler:
        scheduler.put_many([make_item(offset, b"same") for offset in range(4)])
        await until(lambda: len(handled) == 3)
        await ticks(10)
        assert not any(task.done() for task in scheduler.tasks)
        assert (scheduler.in_flight, scheduler.queued) == (0, 0)
    assert contained == [(1, "KeyError" if awaited else "TypeError")]
    assert handled == [0, 2, 3]


@pytest.mark.parametrize("awaited", [False, True])
async def test_a_batch_whose_handling_raises_is_contained_record_by_record(awaited: bool) -> None:
    contained: list[tuple[int, str]] = []
    handled: list[int] = []

    async def fail_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("late")

    def handle_batch(items: list[InFlight]) -> Awaitable[None] | None:
        if items[0].source.offset == 0:
            if awaited:
                return fail_later()
            raise TypeError("at once")
        handled.extend(offsets(items))
        return None

    def contain(item: InFlight, error: Exception) -> None:
        contained.append((item.source.offset, type(error).__name__))

    scheduler = schedule_batches(handle_batch, batch_max=2, contain=contain)
    async with running(scheduler):
        scheduler.put_many([make_item(offset, b"same") for offset in range(4)])
        await until(lambda: len(handled) == 2)
        await ticks(10)
        assert not any(task.done() for task in scheduler.tasks)
        assert (scheduler.in_flight, scheduler.queued) == (0, 0)
    name = "KeyError" if awaited else "TypeError"
    assert contained == [(0, name), (1, name)]
    assert handled == [2, 3]


# -- batches

batch_streams = st.lists(st.tuples(keys, st.integers(0, 2)), max_size=60)


@dataclass
class BatchOutcome:
    items: list[InFlight]
    recorder: BatchRecorder
    queued: int
    in_flight: int


def handle_stream_in_batches(
    records: list[tuple[bytes | None, int]],
    polls: list[tuple[int, int]],
    concurrency: int,
    batch_max: int,
    ordering: Ordering,
    seed: int,
) -> BatchOutcome:
    items = [
        make_item(offset, key, partition=partition)
        for offset, (key, partition) in enumerate(records)
    ]
    rng = random.Random(seed)

    def plan(number: int) -> Plan:
        return None if rng.random() < 0.3 else rng.randrange(5)

    async def scenario() -> BatchOutcome:
        recorder = BatchRecorder(plan)
        scheduler = schedule_batches(
            recorder.handle_batch, batch_max=batch_max, concurrency=concurrency, ordering=ordering
        )
        async with running(scheduler):
            await put_in_polls(scheduler, items, polls)
            await until(lambda: len(recorder.finished()) >= len(items))
            await ticks(10)
            return BatchOutcome(items, recorder, scheduler.queued, scheduler.in_flight)

    return run(scenario())


@settings(max_examples=150, deadline=None)
@given(
    records=batch_streams,
    polls=polls,
    concurrency=st.integers(1, 50),
    batch_max=st.integers(1, 8),
    ordering=orderings,
    seed=st.integers(0, 2**16),
)
def test_batches_are_bounded_and_a_key_is_never_in_two_batches_in_flight(
    records: list[tuple[bytes | None, int]],
    polls: list[tuple[int, int]],
    concurrency: int,
    batch_max: int,
    ordering: Ordering,
    seed: int,
) -> None:
    outcome = handle_stream_in_batches(records, polls, concurrency, batch_max, ordering, seed)
    group = group_of(ordering)
    batches = outcome.recorder.batches
    in_flight: set[int] = set()
    for kind, number in outcome.recorder.events:
        if kind == "end":
            in_flight.discard(number)
            continue
        assert 1 <= len(batches[number]) <= batch_max
        running = sum(len(batches[other]) for other in in_flight)
        assert running + len(batches[number]) <= concurrency  # a batch fits in the room left
        held = {group(item) for other in in_flight for item in batches[other]} - {None}
        assert not held & {group(item) for item in batches[number]}
        in_flight.add(number)


@settings(max_examples=150, deadline=None)
@given(
    records=batch_streams,
    polls=polls,
    concurrency=st.integers(1, 50),
    batch_max=st.integers(1, 8),
    ordering=orderings,
    seed=st.integers(0, 2**16),
)
def test_batches_keep_each_keys_input_order_and_handle_every_record_exactly_once(
    records: list[tuple[bytes | None, int]],
    polls: list[tuple[int, int]],
    concurrency: int,
    batch_max: int,
    ordering: Ordering,
    seed: int,
) -> None:
    outcome = handle_stream_in_batches(records, polls, concurrency, batch_max, ordering, seed)
    group = group_of(ordering)
    started = [item for batch in outcome.recorder.batches for item in batch]
    assert sorted(offsets(started)) == sorted(offsets(outcome.items))
    for key in {group(item) for item in outcome.items} - {None}:
        wanted = [item.source.offset for item in outcome.items if group(item) == key]
        assert [item.source.offset for item in started if group(item) == key] == wanted
    assert (outcome.queued, outcome.in_flight) == (0, 0)


async def test_one_key_may_fill_a_batch_in_order_but_waits_while_its_batch_is_in_flight() -> None:
    gate = asyncio.Event()
    recorder = BatchRecorder(gate=gate)
    async with running(schedule_batches(recorder.handle_batch, batch_max=2)) as scheduler:
        scheduler.put_many(
            [make_item(0, b"k"), make_item(1, b"k"), make_item(2, b"k"), make_item(3, b"j")]
        )
        await ticks(10)
        assert [offsets(batch) for batch in recorder.batches] == [[0, 1], [3]]
        gate.set()
        await until(lambda: len(recorder.finished()) == 4)
    assert [offsets(batch) for batch in recorder.batches] == [[0, 1], [3], [2]]


async def test_a_partial_batch_goes_once_the_batch_wait_is_over() -> None:
    wait_s = 0.02
    recorder = BatchRecorder()
    scheduler = schedule_batches(recorder.handle_batch, batch_max=10, batch_wait_s=wait_s)
    async with running(scheduler):
        await ticks(3)
        put_at = asyncio.get_running_loop().time()
        scheduler.put_many([make_item(offset, f"k{offset}".encode()) for offset in range(3)])
        await ticks(10)
        assert recorder.batches == []
        await until(lambda: len(recorder.batches) == 1, timeout_s=2.0)
    assert offsets(recorder.batches[0]) == [0, 1, 2]
    assert recorder.started_at[0] - put_at >= wait_s * 0.9


async def test_a_batch_that_fills_while_it_waits_goes_at_once() -> None:
    recorder = BatchRecorder()
    scheduler = schedule_batches(recorder.handle_batch, batch_max=4, batch_wait_s=60.0)
    async with running(scheduler):
        scheduler.put_many([make_item(offset, f"k{offset}".encode()) for offset in range(2)])
        await ticks(10)
        assert recorder.batches == []
        scheduler.put_many([make_item(offset, f"k{offset}".encode()) for offset in range(2, 4)])
        await until(lambda: len(recorder.batches) == 1, timeout_s=1.0)
    assert offsets(recorder.batches[0]) == [0, 1, 2, 3]


async def test_full_batches_go_at_once_and_only_the_partial_rest_waits() -> None:
    recorder = BatchRecorder()
    scheduler = schedule_batches(recorder.handle_batch, batch_max=2, batch_wait_s=60.0)
    async with running(scheduler):
        scheduler.put_many([make_item(offset, f"k{offset}".encode()) for offset in range(5)])
        await until(lambda: len(recorder.batches) == 2, timeout_s=1.0)
        await ticks(10)
        assert scheduler.queued == 1
    assert [offsets(batch) for batch in recorder.batches] == [[0, 1], [2, 3]]


async def test_records_that_waited_behind_a_batch_go_before_later_records_of_their_key() -> None:
    gate = asyncio.Event()
    recorder = BatchRecorder(gate=gate)
    scheduler = schedule_batches(recorder.handle_batch, batch_max=1, concurrency=2)
    async with running(scheduler):
        # a0 and b2 fill the concurrency: a1 waits behind a0, and a3 stays in the ready queue.
        scheduler.put_many(
            [make_item(0, b"a"), make_item(1, b"a"), make_item(2, b"b"), make_item(3, b"a")]
        )
        await ticks(10)
        assert [offsets(batch) for batch in recorder.batches] == [[0], [2]]
        gate.set()
        await until(lambda: len(recorder.finished()) == 4)
    assert [offsets(batch) for batch in recorder.batches] == [[0], [2], [1], [3]]


@pytest.mark.parametrize("batch_max", [1, 4])
async def test_a_long_run_of_batches_that_finish_at_once_still_lets_the_loop_run(
    batch_max: int,
) -> None:
    recorder = BatchRecorder()
    clock = WorkClock(SLOW_RECORD_S)
    scheduler = schedule_batches(recorder.handle_batch, batch_max=batch_max, clock=clock)
    async with running(scheduler):
        await ticks(3)
        scheduler.put_many([make_item(offset, b"same") for offset in range(RUN)])
        came_back = await ticks_until(lambda: len(recorder.finished()) == RUN)
    assert came_back >= 10 // batch_max
    assert offsets(recorder.finished()) == list(range(RUN))


# -- stopping


@pytest.mark.parametrize("batches", [False, True])
async def test_stop_cancels_the_dispatcher_and_the_work_in_flight(batches: bool) -> None:
    never_opens = asyncio.Event()
    recorder, batch_recorder = Recorder(gate=never_opens), BatchRecorder(gate=never_opens)
    if batches:
        scheduler = schedule_batches(batch_recorder.handle_batch, batch_max=2, concurrency=4)
    else:
        scheduler = schedule(recorder.handle, concurrency=4)
    scheduler.start()
    dispatcher = scheduler.tasks[0]
    scheduler.put_many([make_item(offset, f"k{offset}".encode()) for offset in range(8)])
    await until(lambda: scheduler.in_flight == 4)
    await ticks(3)
    work = batch_recorder.tasks if batches else recorder.tasks
    assert len(work) == (2 if batches else 4)
    loop = asyncio.get_running_loop()
    began = loop.time()

    await scheduler.stop(timeout_s=2.0)

    assert loop.time() - began < 1.0
    assert all(task.cancelled() for task in [dispatcher, *work])
    assert scheduler.tasks == []
    assert scheduler.in_flight == 0


async def test_stop_gives_up_on_a_chain_that_ignores_its_cancellation_after_its_timeout() -> None:
    let_go = False
    stubborn: list[asyncio.Task[Any]] = []
    loop = asyncio.get_running_loop()
    gives_up_at = loop.time() + 3.0  # so that a stop that waits for it cannot hang the session

    async def ignore_cancellation() -> None:
        stubborn.append(this_task())
        while not let_go and loop.time() < gives_up_at:
            with suppress(asyncio.CancelledError):
                await asyncio.sleep(0.005)

    scheduler = schedule(lambda item: ignore_cancellation())
    scheduler.start()
    dispatcher = scheduler.tasks[0]
    scheduler.put_many([make_item(0, b"k")])
    await until(lambda: bool(stubborn))
    began = loop.time()

    await scheduler.stop(timeout_s=0.05)

    assert loop.time() - began < 0.5
    assert dispatcher.cancelled()
    assert not stubborn[0].done()
    let_go = True
    await asyncio.wait_for(stubborn[0], 1.0)
