"""The scheduler: starts each record as soon as its key is free, up to a bound on records at once.

Records of one ordering key never overlap and finish in input order; records of different keys
run concurrently. A record whose handling finishes at once (a sync route on the event loop: the
built-in pipeline) is handled inline by the dispatcher, with no task. One that must wait (an async
route, a route in a pool, a retry) gets a *chain*: a task that awaits it, then handles the records
of the same key that arrived meanwhile, one after the other, and ends when none is left.

The ordering key is the record's key (``key``; keyless records are independent), its partition
(``partition``), or nothing (``none``: every record is independent).

With a batch route the dispatcher gathers up to ``batch_max`` records (waiting up to
``batch_wait_s`` for a batch to fill) whose keys are free; one key may appear several times in a
batch, in input order, and is held until the batch is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from typing import Literal

from processor.engine.cancel import cancel_and_wait
from processor.engine.inflight import InFlight
from processor.logs import get_logger

log = get_logger("processor.engine.scheduler")

Ordering = Literal["key", "partition", "none"]
Handle = Callable[[InFlight], Awaitable[None] | None]
HandleBatch = Callable[[list[InFlight]], Awaitable[None] | None]
# What to do with a record whose handling raised: the handler already contains the pipeline's
# errors, so this is the last net under a bug, and it must not take the stream down with it.
Contain = Callable[[InFlight, Exception], None]

# Let the event loop run (heartbeats, fetches, acks) after handling records for this long in a
# row. A turn of a few milliseconds bounds the loop's lag, and lets the senders find a poll's
# worth of outputs to batch (yielding every few records sends many small produce requests).
TURN_S = 0.005
# How long stopping waits for the dispatcher and the chains to end.
STOP_TIMEOUT_S = 2.0


def ordering_key(ordering: Ordering) -> Callable[[InFlight], Hashable | None]:
    """What orders records: None means the record is independent of every other."""
    if ordering == "key":
        return lambda item: item.source.key
    if ordering == "partition":
        return lambda item: (item.source.topic, item.source.partition)
    return lambda item: None


class Scheduler:
    """Hands records to the handler, at most ``concurrency`` in flight, in order per key."""

    def __init__(
        self,
        *,
        concurrency: int,
        ordering: Ordering,
        handle: Handle,
        contain: Contain,
        handle_batch: HandleBatch | None = None,
        batch_max: int = 1,
        batch_wait_s: float = 0.0,
        turn_s: float = TURN_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._turn_s = turn_s
        self._clock = clock
        self._concurrency = concurrency
        self._key = ordering_key(ordering)
        self._handle = handle
        self._contain = contain
        self._handle_batch = handle_batch
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_s
        self._ready: deque[InFlight] = deque()
        # A key is here while records of it are in flight; its deque holds the ones that wait.
        self._busy: dict[Hashable, deque[InFlight]] = {}
        self._running = 0  # records in flight in chains and batches
        self._wake = asyncio.Event()
        self._full = asyncio.Event()  # a batch's worth is ready
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        work = self._dispatch_batches() if self._handle_batch else self._dispatch()
        self._dispatcher = asyncio.get_running_loop().create_task(work)

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Cancel the dispatcher and every chain; give up on one that will not end in time."""
        tasks = [*self._tasks, *([self._dispatcher] if self._dispatcher else [])]
        if await cancel_and_wait(tasks, timeout_s):
            log.warning("chains_did_not_stop")
        self._dispatcher = None

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        """The dispatcher: its end (a bug) ends the processor."""
        return [self._dispatcher] if self._dispatcher else []

    @property
    def in_flight(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._ready) + sum(len(waiting) for waiting in self._busy.values())

    def put_many(self, items: list[InFlight]) -> None:
        """Queue a poll's records, in input order."""
        self._ready.extend(items)
        self._wake.set()
        if len(self._ready) >= self._batch_max:
            self._full.set()

    def queued_offsets(
        self, partitions: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], set[int]]:
        """The offsets of the queued (not yet started) records of ``partitions``."""
        found: dict[tuple[str, int], set[int]] = {where: set() for where in partitions}
        for items in (self._ready, *self._busy.values()):
            for item in items:
                offsets = found.get((item.source.topic, item.source.partition))
                if offsets is not None:
                    offsets.add(item.source.offset)
        return found

    def release_queued(self, above: Mapping[tuple[str, int], int]) -> list[InFlight]:
        """Take out the queued (not yet started) records of the partitions in ``above``, those at
        offsets above the given one (-1: all), and return them.

        At a rebalance: they are let go uncommitted, and their next owner reads them again
        (unlike the pipeline's ``Drop``, which is an outcome, committed).
        """
        released: list[InFlight] = []

        def keep(items: deque[InFlight]) -> deque[InFlight]:
            kept: deque[InFlight] = deque()
            for item in items:
                source = item.source
                floor = above.get((source.topic, source.partition))
                (released if floor is not None and source.offset > floor else kept).append(item)
            return kept

        self._ready = keep(self._ready)
        for key, waiting in self._busy.items():
            self._busy[key] = keep(waiting)
        return released

    # -- one record at a time

    async def _dispatch(self) -> None:
        busy, key_of, handle = self._busy, self._key, self._handle
        clock, turn_s = self._clock, self._turn_s
        turn_end = clock() + turn_s
        while True:
            ready = self._ready  # release_queued may have replaced it
            if not ready or self._running >= self._concurrency:
                self._wake.clear()
                await self._wake.wait()
                turn_end = clock() + turn_s
                continue
            item = ready.popleft()
            key = key_of(item)
            if busy and key is not None:
                waiting = busy.get(key)
                if waiting is not None:  # a record of its key is in flight: it goes after it
                    waiting.append(item)
                    continue
            try:
                pending = handle(item)
            except Exception as exc:
                self._contain(item, exc)
                pending = None
            if pending is not None:
                self._running += 1
                if key is not None:
                    busy[key] = deque()
                self._spawn(self._chain(key, item, pending))
            if clock() >= turn_end:
                await asyncio.sleep(0)
                turn_end = clock() + turn_s

    async def _chain(self, key: Hashable | None, item: InFlight, pending: Awaitable[None]) -> None:
        """Finish ``item``, then the records of its key that came meanwhile, in order."""
        try:
            await self._settle(item, pending)
            if key is None:
                return
            clock, turn_s = self._clock, self._turn_s
            turn_end = clock() + turn_s
            while waiting := self._busy[key]:
                item = waiting.popleft()
                try:
                    pending_next = self._handle(item)
                except Exception as exc:
                    self._contain(item, exc)
                    pending_next = None
                if pending_next is not None:
                    await self._settle(item, pending_next)
                    turn_end = clock() + turn_s
                elif clock() >= turn_end:
                    await asyncio.sleep(0)
                    turn_end = clock() + turn_s
        finally:
            if key is not None:
                self._busy.pop(key, None)
            self._running -= 1
            self._wake.set()

    async def _settle(self, item: InFlight, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception as exc:
            self._contain(item, exc)

    # -- batches

    async def _dispatch_batches(self) -> None:
        assert self._handle_batch is not None
        handle_batch, key_of, busy = self._handle_batch, self._key, self._busy
        clock, turn_s = self._clock, self._turn_s
        turn_end = clock() + turn_s
        while True:
            ready = self._ready
            if not ready or self._running >= self._concurrency:
                self._wake.clear()
                await self._wake.wait()
                turn_end = clock() + turn_s
                continue
            if len(ready) < self._batch_max and self._batch_wait_s > 0:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._batch_wait_s)
                ready = self._ready
            batch: list[InFlight] = []
            keys: set[Hashable] = set()
            # No more than the room left: CONCURRENCY bounds records in flight, batches too.
            limit = min(self._batch_max, self._concurrency - self._running)
            while ready and len(batch) < limit:
                item = ready.popleft()
                key = key_of(item)
                if key is not None:
                    waiting = busy.get(key)
                    if waiting is not None:
                        waiting.append(item)
                        continue
                    keys.add(key)
                batch.append(item)
            if not batch:
                continue
            for key in keys:
                busy[key] = deque()
            try:
                pending = handle_batch(batch)
            except Exception as exc:
                self._contain_all(batch, exc)
                pending = None
            if pending is None:
                self._free(keys)
                if clock() >= turn_end:
                    await asyncio.sleep(0)
                    turn_end = clock() + turn_s
                continue
            self._running += len(batch)
            self._spawn(self._batch_done(batch, keys, pending))

    async def _batch_done(
        self, batch: list[InFlight], keys: set[Hashable], pending: Awaitable[None]
    ) -> None:
        try:
            await pending
        except Exception as exc:
            self._contain_all(batch, exc)
        finally:
            self._running -= len(batch)
            self._free(keys)

    def _free(self, keys: set[Hashable]) -> None:
        """The keys' batch is done: the records that waited for them go first."""
        for key in keys:
            waiting = self._busy.pop(key, None)
            if waiting:
                self._ready.extendleft(reversed(waiting))
        self._wake.set()
        if len(self._ready) >= self._batch_max:
            self._full.set()

    def _contain_all(self, batch: list[InFlight], error: Exception) -> None:
        for item in batch:
            self._contain(item, error)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
