"""Where this instance stands on each input partition it owns: committed offset, end, lag."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from processor.engine.offsets import OffsetTracker


@dataclass(frozen=True, slots=True)
class PartitionPosition:
    """Where this instance stands on one assigned input partition."""

    tp: TopicPartition
    committed: int | None  # the last commit, or what would be committed next
    high_watermark: int | None  # known once the partition has been fetched

    @property
    def lag(self) -> int | None:
        if self.committed is None or self.high_watermark is None:
            return None
        return max(self.high_watermark - self.committed, 0)


def partition_positions(
    consumer: AIOKafkaConsumer,
    trackers: Mapping[TopicPartition, OffsetTracker],
    committed: Mapping[tuple[str, int], int],
) -> list[PartitionPosition]:
    positions = []
    for tp in sorted(consumer.assignment()):
        done = committed.get((tp.topic, tp.partition))
        tracker = trackers.get(tp)
        if done is None and tracker is not None:
            done = tracker.committable()
        try:
            high = consumer.highwater(tp)
        except (AssertionError, AttributeError):
            # aiokafka checks that ``tp`` is assigned with a bare ``assert`` (under ``python -O``
            # the check is gone and a missing partition state fails as AttributeError). Nothing
            # awaits between reading the assignment and here, so a rebalance cannot come in
            # between today; the guard keeps a scrape from failing if aiokafka ever changes.
            high = None
        positions.append(PartitionPosition(tp, done, high))
    return positions


def total_lag(positions: Iterable[PartitionPosition]) -> int:
    """Sum of the known lags (a partition not fetched yet counts as unknown, not zero)."""
    return sum(p.lag for p in positions if p.lag is not None)


def read_position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
    """Where ``consumer`` reads ``tp`` next, if it knows right now (else 0).

    Past transaction markers and (read_committed) aborted records, which are never handed out as
    records, so no offset tracker sees them. Read without waiting, so that a caller can check a
    tracker in the same step, with no record taken in between; that needs aiokafka's
    subscription state (``position()`` may wait for an offset reset).
    """
    try:
        state: Any = consumer._subscription.subscription.assignment.state_value(tp)
        return int(state.position) if state is not None and state.has_valid_position else 0
    except (AttributeError, TypeError):  # not assigned (any more)
        return 0
