"""Workers: N asyncio tasks, each draining its own lane of records in order.

A record's lane is chosen by its key, so two records with the same key are handled one after
the other, in input order, by the same worker. Keyless records spread over all lanes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from processor.engine.cancel import cancel_and_wait
from processor.engine.inflight import InFlight
from processor.logs import get_logger

log = get_logger("processor.engine.workers")

Handle = Callable[[InFlight], Awaitable[None] | None]
# What to do with a record whose handling raised: the handler already contains the pipeline's
# errors, so this is the last net under a bug, and it must not take the lane down with it.
Contain = Callable[[InFlight, Exception], None]

# Let the event loop run (heartbeats, fetches, acks) after this many records handled in a row.
YIELD_EVERY = 64
# How long stopping waits for the lanes to end.
STOP_TIMEOUT_S = 2.0


class _Lane:
    __slots__ = ("items", "wake")

    def __init__(self) -> None:
        self.items: deque[InFlight] = deque()
        self.wake = asyncio.Event()


class Workers:
    """Routes each record to a lane and runs one task per lane."""

    def __init__(self, count: int, handle: Handle, contain: Contain) -> None:
        self._lanes = [_Lane() for _ in range(count)]
        self._handle = handle
        self._contain = contain
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work(lane)) for lane in self._lanes]

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Cancel every lane; give up on one that will not end within ``timeout_s``."""
        if await cancel_and_wait(self._tasks, timeout_s):
            log.warning("lanes_did_not_stop")
        self._tasks = []

    def put_many(self, items: list[InFlight]) -> None:
        """Queue a poll's records, each in the lane of its key, waking each lane once."""
        lanes = self._lanes
        count = len(lanes)
        for item in items:
            source = item.source
            spread = hash(source.key) if source.key is not None else source.offset
            lanes[spread % count].items.append(item)
        for lane in lanes:
            if lane.items:
                lane.wake.set()

    def release_queued(self, partitions: set[tuple[str, int]]) -> list[InFlight]:
        """Take out the queued (not yet started) records of ``partitions`` and return them.

        At a rebalance: they are let go uncommitted, and their next owner reads them again
        (unlike the pipeline's ``Drop``, which is an outcome, committed).
        """
        released: list[InFlight] = []
        for lane in self._lanes:
            kept: deque[InFlight] = deque()
            for item in lane.items:
                if (item.source.topic, item.source.partition) in partitions:
                    released.append(item)
                else:
                    kept.append(item)
            lane.items = kept
        return released

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return list(self._tasks)

    @property
    def queued(self) -> int:
        return sum(len(lane.items) for lane in self._lanes)

    async def _work(self, lane: _Lane) -> None:
        handle = self._handle
        streak = 0
        while True:
            if not lane.items:
                lane.wake.clear()
                streak = 0
                await lane.wake.wait()
                continue
            item = lane.items.popleft()
            try:
                pending = handle(item)
                if pending is not None:
                    await pending  # it yielded to the loop already
                    streak = 0
                    continue
            except Exception as exc:
                self._contain(item, exc)
            streak += 1
            if streak >= YIELD_EVERY:
                streak = 0
                await asyncio.sleep(0)
