"""Workers: records of one key are handled one at a time, in input order, each exactly once."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from processor.engine.inflight import InFlight
from processor.engine.offsets import OffsetTracker
from processor.engine.workers import YIELD_EVERY, Workers
from processor.pipeline import Source

Handle = Callable[[InFlight], Awaitable[None] | None]


def make_item(
    offset: int,
    key: bytes | None = None,
    topic: str = "transactions",
    partition: int = 0,
    tracker: OffsetTracker | None = None,
) -> InFlight:
    source = Source(topic, partition, offset, key, (), 0)
    return InFlight(source, b"{}", 2 + len(key or b""), tracker or OffsetTracker())


def stream(count: int, keys: int, seed: int, partitions: int = 3) -> list[InFlight]:
    """``count`` records over a few partitions; most keyed, some keyless."""
    rng = random.Random(seed)
    items = []
    next_offset = [0] * partitions
    for _ in range(count):
        partition = rng.randrange(partitions)
        key = None if rng.random() < 0.1 else f"key-{rng.randrange(keys)}".encode()
        items.append(make_item(next_offset[partition], key, partition=partition))
        next_offset[partition] += 1
    return items


def never(item: InFlight, error: Exception) -> None:
    """The last net under handling, for tests whose handling never raises."""
    raise AssertionError(f"handling {ident(item)} raised {error!r}")


def ident(item: InFlight) -> tuple[int, int]:
    return item.source.partition, item.source.offset


@asynccontextmanager
async def running(workers: Workers) -> AsyncIterator[Workers]:
    workers.start()
    try:
        yield workers
    finally:
        await workers.stop()


class Recorder:
    """A fake handle function that sometimes returns an awaitable that sleeps."""

    def __init__(self, expected: int, seed: int = 0, slow_share: float = 0.3) -> None:
        self.events: list[tuple[str, tuple[int, int]]] = []
        self.handled: list[InFlight] = []
        self.expected = expected
        self.done = asyncio.Event()
        self._rng = random.Random(seed)
        self._slow_share = slow_share
        if expected == 0:
            self.done.set()

    def handle(self, item: InFlight) -> Awaitable[None] | None:
        self.events.append(("start", ident(item)))
        if self._rng.random() < self._slow_share:
            return self._finish_later(item, self._rng.choice([0.0, 0.0005, 0.002]))
        self._finish(item)
        return None

    async def _finish_later(self, item: InFlight, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self._finish(item)

    def _finish(self, item: InFlight) -> None:
        self.events.append(("end", ident(item)))
        self.handled.append(item)
        if len(self.handled) >= self.expected:
            self.done.set()

    async def wait(self, timeout_s: float = 5.0) -> None:
        await asyncio.wait_for(self.done.wait(), timeout_s)


@pytest.mark.parametrize(("lanes", "seed"), [(1, 1), (3, 2), (8, 3), (8, 4), (16, 5)])
async def test_records_with_the_same_key_are_handled_in_input_order(lanes: int, seed: int) -> None:
    items = stream(400, keys=12, seed=seed)
    recorder = Recorder(len(items), seed=seed)
    async with running(Workers(lanes, recorder.handle, never)) as workers:
        for item in items:
            workers.put_many([item])
        await recorder.wait()

    by_key: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for item in items:
        if item.source.key is not None:
            by_key[item.source.key].append(ident(item))
    key_of = {ident(item): item.source.key for item in items}
    for key, expected in by_key.items():
        started = [
            which for kind, which in recorder.events if kind == "start" and key_of[which] == key
        ]
        assert started == expected


@pytest.mark.parametrize(("lanes", "seed"), [(2, 6), (8, 7)])
async def test_a_record_starts_only_after_the_previous_one_of_its_key_finished(
    lanes: int, seed: int
) -> None:
    items = stream(300, keys=5, seed=seed)
    recorder = Recorder(len(items), seed=seed, slow_share=0.5)
    async with running(Workers(lanes, recorder.handle, never)) as workers:
        for item in items:
            workers.put_many([item])
        await recorder.wait()

    key_of = {ident(item): item.source.key for item in items}
    busy: dict[bytes, tuple[int, int]] = {}
    for kind, which in recorder.events:
        key = key_of[which]
        if key is None:
            continue
        if kind == "start":
            assert key not in busy, f"{which} started while {busy.get(key)} was unfinished"
            busy[key] = which
        else:
            assert busy.pop(key) == which


@pytest.mark.parametrize(("lanes", "seed"), [(1, 8), (4, 9), (8, 10)])
async def test_every_record_is_handled_exactly_once(lanes: int, seed: int) -> None:
    items = stream(500, keys=20, seed=seed)
    recorder = Recorder(len(items), seed=seed)
    async with running(Workers(lanes, recorder.handle, never)) as workers:
        for item in items:
            workers.put_many([item])
        await recorder.wait()
        await asyncio.sleep(0.01)  # nothing further arrives
        assert workers.queued == 0

    assert sorted(ident(item) for item in recorder.handled) == sorted(map(ident, items))


async def test_records_put_while_running_are_handled() -> None:
    recorder = Recorder(expected=200, seed=11)
    async with running(Workers(4, recorder.handle, never)) as workers:
        for batch in range(10):
            for offset in range(batch * 20, batch * 20 + 20):
                workers.put_many([make_item(offset, f"k{offset % 7}".encode())])
            await asyncio.sleep(0.001)
        await recorder.wait()
    assert len(recorder.handled) == 200


async def test_a_long_run_of_synchronous_records_still_lets_the_loop_run() -> None:
    count = YIELD_EVERY * 5
    recorder = Recorder(count, slow_share=0.0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not recorder.done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async with running(Workers(1, recorder.handle, never)) as workers:
        for offset in range(count):
            workers.put_many([make_item(offset, b"same")])
        await asyncio.gather(ticker(), recorder.wait())
    assert ticks >= 3


async def test_an_empty_key_is_a_key_and_keeps_its_order() -> None:
    items = [make_item(offset, b"") for offset in range(200)]
    recorder = Recorder(len(items), seed=7)
    async with running(Workers(8, recorder.handle, never)) as workers:
        for item in items:
            workers.put_many([item])
        await recorder.wait()
    assert [item.source.offset for item in recorder.handled] == list(range(200))


async def test_keyless_records_spread_over_all_lanes() -> None:
    tasks: set[asyncio.Task[object] | None] = set()

    def handle(item: InFlight) -> None:
        tasks.add(asyncio.current_task())

    async with running(Workers(4, handle, never)) as workers:
        for offset in range(40):
            workers.put_many([make_item(offset, None)])
        await asyncio.sleep(0.01)
    assert len(tasks) == 4


def test_releasing_removes_only_the_queued_records_of_the_given_partitions() -> None:
    items = [
        make_item(offset, f"k{offset % 5}".encode(), topic=topic, partition=partition)
        for topic in ("a", "b")
        for partition in (0, 1)
        for offset in range(10)
    ]
    workers = Workers(3, lambda item: None, never)
    for item in items:
        workers.put_many([item])

    released = workers.release_queued({("a", 1), ("b", 0)})

    def where(item: InFlight) -> tuple[str, int]:
        return item.source.topic, item.source.partition

    assert sorted(map(id, released)) == sorted(
        id(item) for item in items if where(item) in {("a", 1), ("b", 0)}
    )
    assert workers.queued == len(items) - len(released)


def test_releasing_keeps_the_order_of_the_remaining_records() -> None:
    items = [make_item(offset, b"one-key", partition=offset % 2) for offset in range(20)]
    workers = Workers(2, lambda item: None, never)
    for item in items:
        workers.put_many([item])
    released = workers.release_queued({("transactions", 1)})
    assert [item.source.offset for item in released] == list(range(1, 20, 2))
    assert workers.queued == 10


def test_releasing_partitions_with_nothing_queued_returns_nothing() -> None:
    workers = Workers(2, lambda item: None, never)
    workers.put_many([make_item(0, b"k", partition=0)])
    assert workers.release_queued({("transactions", 5), ("other", 0)}) == []
    assert workers.queued == 1


async def test_released_records_are_never_handled_and_the_rest_are() -> None:
    items = [
        make_item(offset, f"k{offset % 3}".encode(), partition=offset % 2) for offset in range(60)
    ]
    kept = [item for item in items if item.source.partition == 0]
    recorder = Recorder(len(kept), seed=12)
    workers = Workers(3, recorder.handle, never)
    for item in items:
        workers.put_many([item])
    released = workers.release_queued({("transactions", 1)})
    async with running(workers):
        await recorder.wait()
        await asyncio.sleep(0.01)
    assert len(released) == 30
    assert sorted(map(ident, recorder.handled)) == sorted(map(ident, kept))


async def test_releasing_leaves_a_record_that_is_being_handled() -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    finished: list[int] = []

    def handle(item: InFlight) -> Awaitable[None] | None:
        async def slow() -> None:
            started.set()
            await release.wait()
            finished.append(item.source.offset)

        return slow()

    async with running(Workers(1, handle, never)) as workers:
        for offset in range(5):
            workers.put_many([make_item(offset, b"k")])
        await asyncio.wait_for(started.wait(), 5)
        released = workers.release_queued({("transactions", 0)})
        release.set()
        await asyncio.sleep(0.01)
    assert [item.source.offset for item in released] == [1, 2, 3, 4]
    assert finished == [0]


async def test_stop_cancels_the_worker_tasks() -> None:
    workers = Workers(3, lambda item: None, never)
    workers.start()
    tasks = workers.tasks
    assert len(tasks) == 3
    await workers.stop()
    assert all(task.done() for task in tasks)
    assert workers.tasks == []


async def test_a_whole_poll_put_at_once_keeps_each_keys_order() -> None:
    items = stream(300, keys=7, seed=11)
    recorder = Recorder(len(items), seed=11)
    async with running(Workers(5, recorder.handle, never)) as workers:
        workers.put_many(items)
        await recorder.wait()
    for key in {item.source.key for item in items if item.source.key is not None}:
        wanted = [ident(i) for i in items if i.source.key == key]
        assert [ident(i) for i in recorder.handled if i.source.key == key] == wanted


@pytest.mark.parametrize("awaited", [False, True])
async def test_a_record_whose_handling_raises_is_contained_and_the_lane_goes_on(
    awaited: bool,
) -> None:
    contained: list[tuple[tuple[int, int], str]] = []
    handled: list[tuple[int, int]] = []

    async def fail_later() -> None:
        raise KeyError("late")

    def handle(item: InFlight) -> Awaitable[None] | None:
        if item.source.offset == 1:
            if awaited:
                return fail_later()
            raise TypeError("at once")
        handled.append(ident(item))
        return None

    def contain(item: InFlight, error: Exception) -> None:
        contained.append((ident(item), type(error).__name__))

    async with running(Workers(1, handle, contain)) as workers:
        for offset in range(3):
            workers.put_many([make_item(offset, b"same-key")])
        await asyncio.sleep(0.01)
        assert workers.tasks
        assert not any(task.done() for task in workers.tasks)
    assert contained == [((0, 1), "KeyError" if awaited else "TypeError")]
    assert handled == [(0, 0), (0, 2)]
