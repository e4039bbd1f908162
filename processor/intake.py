"""Intake: poll the consumer, hand records to the workers, pause and resume on backpressure.

While paused it keeps calling ``getmany`` (which then returns nothing for the paused partitions),
because a consumer that stops polling for ``max_poll_interval_ms`` is removed from its group.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from processor.flow import FlowControl
from processor.inflight import take_in
from processor.logs import get_logger
from processor.offsets import OffsetTracker
from processor.stats import Stats
from processor.workers import Workers

log = get_logger("processor.intake")

POLL_TIMEOUT_MS = 100
# While paused a poll returns nothing and only keeps the member alive; polling often means
# intake resumes within a few milliseconds of the queue draining to the low watermark.
PAUSED_POLL_TIMEOUT_MS = 5


class Intake:
    """The consumer loop. ``trackers`` is shared with the rebalance handler and the committer."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        flow: FlowControl,
        trackers: dict[TopicPartition, OffsetTracker],
        workers: Workers,
        stats: Stats,
    ) -> None:
        self._consumer = consumer
        self._flow = flow
        self._trackers = trackers
        self._workers = workers
        self._stats = stats
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        consumer = self._consumer
        while not self._stopping.is_set():
            self.apply_backpressure()
            room = self._flow.room()
            timeout_ms = PAUSED_POLL_TIMEOUT_MS if self._flow.paused else POLL_TIMEOUT_MS
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=room or 1)
            if self._stopping.is_set():
                break  # what was just fetched is not tracked, so it is read again later
            for tp, records in batches.items():
                self._take(tp, records)

    def _take(self, tp: TopicPartition, records: list[object]) -> None:
        tracker = self._trackers.get(tp)
        if tracker is None:  # records can only come for assigned partitions; be safe anyway
            tracker = self._trackers[tp] = OffsetTracker()
        items, size = take_in(records, tracker)
        self._flow.admit_many(len(items), size)
        self._workers.put_many(items)
        self._stats.consumed += len(items)

    def apply_backpressure(self) -> None:
        """Pause every assigned partition at the high watermark; resume at the low one."""
        flow = self._flow
        if flow.should_pause():
            flow.paused = True
            self._stats.pauses += 1
            self._consumer.pause(*self._consumer.assignment())
            log.info("intake_paused", records=flow.records, bytes=flow.bytes)
        elif flow.should_resume():
            flow.paused = False
            self._stats.resumes += 1
            self._consumer.resume(*self._consumer.assignment())
            log.info("intake_resumed", records=flow.records, bytes=flow.bytes)

    def reapply_pause(self, assigned: set[TopicPartition]) -> None:
        """A rebalance forgets pauses, even for partitions that stay: pause again if needed."""
        if self._flow.paused and assigned:
            self._consumer.pause(*assigned)
