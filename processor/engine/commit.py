"""Commits: explicit offsets, only up to what the broker has acknowledged, never ``commit()``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from processor.engine.committime import with_time
from processor.engine.offsets import OffsetTracker
from processor.engine.stats import Stats
from processor.logs import get_logger

log = get_logger("processor.engine.commit")

# Once everything taken in is done, commit this soon instead of at the next interval (but not
# more often), so a drained backlog or a quiet stream is committed promptly.
CAUGHT_UP_GAP_S = 0.05


class Committer:
    """Commits the committable offset of each owned partition when it has moved."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        trackers: Mapping[TopicPartition, OffsetTracker],
        stats: Stats,
        passed: Callable[[TopicPartition], int] = lambda tp: 0,
    ) -> None:
        self._consumer = consumer
        self._trackers = trackers
        # How far intake has passed over each partition: every offset below is a record taken
        # in or one the consumer never hands out (a transaction marker, an aborted record).
        self._passed = passed
        self._stats = stats
        self.enabled = True  # switched off for good when the processor halts
        # The last offset this instance committed, per partition of its current assignments.
        self.committed: dict[tuple[str, int], int] = {}
        self._caught_up = asyncio.Event()
        # One commit at a time: the periodic one, the revoke's and the final drain's would
        # otherwise race, and an older commit whose retry lands last would move the group back.
        self._lock = asyncio.Lock()

    def caught_up(self) -> None:
        """Everything taken in is done: commit soon rather than at the next interval."""
        self._caught_up.set()

    async def commit(self, partitions: set[TopicPartition] | None = None) -> bool:
        """Commit what moved for ``partitions`` (default: all owned); False if the commit failed.

        Committed offsets only go forward: an offset at or below the last one this instance
        committed for a partition is never sent.
        """
        async with self._lock:
            return await self._commit(partitions)

    async def _commit(self, partitions: set[TopicPartition] | None) -> bool:
        if not self.enabled:
            return False
        committed = self.committed
        offsets: dict[TopicPartition, int] = {}
        for tp, tracker in list(self._trackers.items()):
            if partitions is not None and tp not in partitions:
                continue
            offset = tracker.committable()
            if tracker.window == 0:  # all done: go past what intake passed over as well
                position = self._passed(tp)
                if position > (offset or 0):
                    offset = position
            if offset is not None and offset > committed.get((tp.topic, tp.partition), -1):
                offsets[tp] = offset
        if not offsets:
            return True
        try:
            # The time rides in the metadata: the broker keeps none, ``processor status`` shows it.
            await self._consumer.commit(with_time(offsets, time.time()))
        except KafkaError as exc:
            # Expected after a rebalance: the next owner redoes these records.
            self._stats.commit_failures += 1
            log.warning("commit_failed", error=repr(exc), partitions=len(offsets))
            return False
        self._stats.commits += 1
        for tp, offset in offsets.items():
            committed[(tp.topic, tp.partition)] = offset
        return True

    async def run(self, interval_s: float) -> None:
        """Commit every ``interval_s``; once caught up, ``CAUGHT_UP_GAP_S`` after the last one."""
        await commit_every(self.commit, self._caught_up, interval_s, CAUGHT_UP_GAP_S)


async def commit_every(
    commit: Callable[[], Awaitable[object]], soon: asyncio.Event, interval_s: float, gap_s: float
) -> None:
    """Call ``commit`` every ``interval_s``, or sooner once ``soon`` is set, but never within
    ``gap_s`` of the last call."""
    loop = asyncio.get_running_loop()
    gap_s = min(interval_s, gap_s)
    last = loop.time()
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(soon.wait(), last + interval_s - loop.time())
        await asyncio.sleep(last + gap_s - loop.time())
        soon.clear()
        last = loop.time()
        await commit()
