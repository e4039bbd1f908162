"""The partitions this instance holds, and what finishing a record releases.

One owner for the state of an assignment: the offset tracker of each held partition (intake
tracks what it takes in, the committer reads them), the room a finished record frees in flow
control, the latency of acknowledged records, and the two rebalance transitions. ``assign``
starts every partition afresh; ``revoke`` finishes the records up to the highest one started
(within a timeout), lets go of the queued rest, commits and fences the old trackers, so a late
acknowledgement can never be committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from processor.engine.commit import Committer
from processor.engine.flow import FlowControl
from processor.engine.inflight import InFlight
from processor.engine.latency import LatencyHistogram
from processor.engine.offsets import OffsetTracker
from processor.engine.stats import Stats
from processor.logs import get_logger

log = get_logger("processor.engine.assignments")

# How often a revoke looks whether the in-flight records of its partitions have finished.
REVOKE_POLL_S = 0.01


class Commits(Protocol):
    """What commits the held partitions' offsets: the consumer's commits (at-least-once), or
    the partitions' transactions (exactly-once)."""

    committed: dict[tuple[str, int], int]  # the last offset committed, per partition
    enabled: bool  # off for good after a halt

    def caught_up(self) -> None: ...
    async def commit(self, partitions: set[TopicPartition] | None = None) -> bool: ...
    async def run(self, interval_s: float) -> None: ...


class QueuedWork(Protocol):
    """The scheduler's queued records, as a revoke sees them."""

    def queued_offsets(
        self, partitions: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], set[int]]: ...

    def release_queued(self, above: Mapping[tuple[str, int], int]) -> list[InFlight]: ...


class Assignments:
    """Offset trackers of the held partitions, their commits, and what a finished record frees."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        flow: FlowControl,
        stats: Stats,
        revoke_timeout_s: float,
        make_commits: Callable[[Mapping[TopicPartition, OffsetTracker]], Commits] | None = None,
        passed: Callable[[TopicPartition], int] = lambda tp: 0,
    ) -> None:
        self._flow = flow
        self._stats = stats
        self._revoke_timeout_s = revoke_timeout_s
        self._trackers: dict[TopicPartition, OffsetTracker] = {}
        self._leaving: set[TopicPartition] = set()  # being revoked
        self.committer: Commits = (
            make_commits(self._trackers)
            if make_commits is not None
            else Committer(consumer, self._trackers, stats, passed)
        )
        self.latency = LatencyHistogram()
        self.joined = False  # an assignment arrived and the instance is not closing (readiness)

    @property
    def trackers(self) -> Mapping[TopicPartition, OffsetTracker]:
        """The held partitions' trackers, to read (only this class changes the map)."""
        return self._trackers

    def tracker(self, tp: TopicPartition) -> OffsetTracker | None:
        """The tracker records of ``tp`` are taken in under; None when ``tp`` is not held or is
        being let go: such records are not this instance's, and the owner reads them."""
        if tp in self._leaving:
            return None
        return self._trackers.get(tp)

    def finish(self, item: InFlight) -> None:
        """``item`` needs nothing more (dropped, or let go after its partition was revoked)."""
        self.finish_all((item,))

    def finish_all(self, items: Iterable[InFlight]) -> None:
        """The outcomes of ``items`` are acknowledged: their offsets are done, their room free."""
        stamps: list[int] = []
        left_window = size = 0
        for item in items:
            tracker, source = item.tracker, item.source
            left = tracker.mark_done(source.offset)
            if not tracker.revoked:  # a revoked partition's window was released already
                left_window += left
                stamps.append(source.timestamp_ms)
            size += item.size
        self.latency.observe_all_since(stamps)
        flow = self._flow
        flow.release(left_window, size)
        if flow.records == 0:
            self.committer.caught_up()

    def assign(self, partitions: set[TopicPartition]) -> None:
        """A new assignment: each partition starts where the group committed."""
        self._stats.rebalances += 1
        self.joined = True
        for tp in partitions:
            self._trackers[tp] = OffsetTracker()
            # Offsets only go forward within an assignment; a new one starts where the group is.
            self.committer.committed.pop((tp.topic, tp.partition), None)
        log.info("partitions_assigned", partitions=partitions)

    def restart(self, tp: TopicPartition, released: list[InFlight]) -> OffsetTracker | None:
        """Start ``tp`` afresh within this assignment (its transaction was aborted): the old
        tracker is fenced, what it held is freed (``released``: its queued records, taken out
        of the scheduler), and a new tracker takes in the records read again. Returns the old
        one (None if ``tp`` is not held)."""
        old = self._trackers.get(tp)
        if old is None:
            return None
        for item in released:
            self._flow.release(0, item.size)
        old.revoked = True
        self._flow.release(old.window, 0)
        self._trackers[tp] = OffsetTracker()
        return old

    async def revoke(self, partitions: set[TopicPartition], queue: QueuedWork) -> None:
        """Let go of ``partitions``: finish what must be, commit it, fence the trackers.

        Records finish out of order, so a record above the first unfinished one may be done
        already; if the commit stopped below it, the next owner would do it again. So every
        record up to the highest one started (in flight or done) is finished first, within the
        revoke timeout. The queued records above it were never started: they are let go at once
        (``queue`` takes them out of the scheduler), and the next owner reads them, once. A
        rebalance waits for the holes only, not for a deep queue of a slow pipeline. Past the
        timeout, every queued record is let go and the commit covers what is contiguous; the
        next owner redoes the rest.
        """
        owned = {tp: self._trackers[tp] for tp in partitions if tp in self._trackers}
        self._leaving.update(owned)  # intake takes nothing more in for them
        where = {tp: (tp.topic, tp.partition) for tp in owned}
        queued = queue.queued_offsets(where.values())
        above = {where[tp]: t.highest_started(queued[where[tp]]) for tp, t in owned.items()}
        released = queue.release_queued(above)
        left = _count_by_partition(released)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._revoke_timeout_s
        while loop.time() < deadline and any(
            t.in_flight > left.get(where[tp], 0) for tp, t in owned.items()
        ):
            await asyncio.sleep(REVOKE_POLL_S)
        if any(t.in_flight > left.get(where[tp], 0) for tp, t in owned.items()):
            released += queue.release_queued(dict.fromkeys(where.values(), -1))
        flow = self._flow
        for item in released:
            flow.release(0, item.size)  # their window is released with their tracker below
        self._stats.released_on_revoke += len(released)
        await self.committer.commit(set(owned))
        for tp, tracker in owned.items():
            tracker.revoked = True
            flow.release(tracker.window, 0)
            del self._trackers[tp]
        self._leaving.difference_update(owned)
        log.info("partitions_revoked", partitions=set(owned), released=len(released))


def _count_by_partition(items: list[InFlight]) -> dict[tuple[str, int], int]:
    counts: dict[tuple[str, int], int] = {}
    for item in items:
        where = (item.source.topic, item.source.partition)
        counts[where] = counts.get(where, 0) + 1
    return counts
