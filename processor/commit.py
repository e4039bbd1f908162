"""Commits: explicit offsets, only up to what the broker has acknowledged, never ``commit()``."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from processor.logs import get_logger
from processor.offsets import OffsetTracker
from processor.stats import Stats

log = get_logger("processor.commit")


class Committer:
    """Commits the committable offset of each owned partition when it has moved."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        trackers: dict[TopicPartition, OffsetTracker],
        stats: Stats,
    ) -> None:
        self._consumer = consumer
        self._trackers = trackers
        self._stats = stats
        self.enabled = True  # switched off for good when the processor halts

    async def commit(self, partitions: set[TopicPartition] | None = None) -> bool:
        """Commit what moved for ``partitions`` (default: all owned); False if the commit failed."""
        if not self.enabled:
            return False
        committed = self._stats.committed
        offsets: dict[TopicPartition, int] = {}
        for tp, tracker in list(self._trackers.items()):
            if partitions is not None and tp not in partitions:
                continue
            offset = tracker.committable()
            if offset is not None and committed.get((tp.topic, tp.partition)) != offset:
                offsets[tp] = offset
        if not offsets:
            return True
        try:
            await self._consumer.commit(offsets)
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
        while True:
            await asyncio.sleep(interval_s)
            await self.commit()
