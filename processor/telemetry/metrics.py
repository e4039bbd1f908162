"""Prometheus metrics, read from the processor's own counters when scraped.

Nothing here runs per record except ``LatencyHistogram.observe``: a bisect and two additions
into a plain list, where a prometheus-client histogram would take a lock on the hot path.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from processor.engine.offsets import OffsetTracker
from processor.telemetry.health import LoopLagProbe, processor_readiness

if TYPE_CHECKING:
    from processor.engine.processor import Processor

# From the record's timestamp, so a backlog read hours later lands in the top buckets.
LATENCY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip


class LatencyHistogram:
    """Counts of observations per bucket (upper bounds inclusive), their sum and total."""

    __slots__ = ("_counts", "bounds_s", "count", "sum_s")

    def __init__(self, bounds_s: Iterable[float] = LATENCY_BUCKETS_S) -> None:
        self.bounds_s = tuple(sorted(bounds_s))
        self._counts = [0] * (len(self.bounds_s) + 1)  # the last one is +Inf
        self.sum_s = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self.bounds_s, seconds)] += 1
        self.sum_s += seconds
        self.count += 1

    def observe_since(self, timestamp_ms: int) -> None:
        """Time from a record's timestamp until now; clocks that disagree count as zero."""
        self.observe_all_since((timestamp_ms,))

    def observe_all_since(self, timestamps_ms: Iterable[int]) -> None:
        """``observe_since`` for records acknowledged together (one clock read, one call)."""
        now_ms = time.time() * 1000
        counts, bounds = self._counts, self.bounds_s
        total, seen = 0.0, 0
        for timestamp_ms in timestamps_ms:
            if timestamp_ms > 0:
                seconds = max(now_ms - timestamp_ms, 0.0) / 1000
                counts[bisect_left(bounds, seconds)] += 1
                total += seconds
                seen += 1
        self.sum_s += total
        self.count += seen

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, observations <= le)`` per bucket, ending with ``("+Inf", count)``."""
        buckets, total = [], 0
        for bound, count in zip((*map(repr, self.bounds_s), "+Inf"), self._counts, strict=True):
            total += count
            buckets.append((bound, total))
        return buckets


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
    trackers: dict[TopicPartition, OffsetTracker],
    committed: dict[tuple[str, int], int],
) -> list[PartitionPosition]:
    positions = []
    for tp in sorted(consumer.assignment()):
        done = committed.get((tp.topic, tp.partition))
        tracker = trackers.get(tp)
        if done is None and tracker is not None:
            done = tracker.committable()
        try:
            high = consumer.highwater(tp)
        except AssertionError:  # revoked between the two calls
            high = None
        positions.append(PartitionPosition(tp, done, high))
    return positions


def total_lag(positions: Iterable[PartitionPosition]) -> int:
    """Sum of the known lags (a partition not fetched yet counts as unknown, not zero)."""
    return sum(p.lag for p in positions if p.lag is not None)


class ProcessorCollector(Collector):
    """Every ``processor_*`` metric, built from ``Processor`` state at scrape time."""

    def __init__(self, processor: Processor, probe: LoopLagProbe) -> None:
        self._processor = processor
        self._probe = probe

    def collect(self) -> Iterator[Metric]:
        yield from self._records()
        yield from self._capacity()
        yield from self._partitions()
        yield from self._events()
        yield from self._health()

    def _records(self) -> Iterator[Metric]:
        p = self._processor
        stats = p.stats
        yield _counter("records_consumed", "Records taken in from the input topic.", stats.consumed)
        routed = _labelled_counter(
            "records_routed", "Outputs acknowledged by the broker, by topic.", ["topic"]
        )
        dlq_topic = p.settings.dead_letter_topic
        for topic, count in sorted(stats.acknowledged.items()):
            if topic != dlq_topic:
                routed.add_metric([topic], count)
        yield routed
        dead = _labelled_counter(
            "records_dead_lettered", "Dead letters, by stage and error.", ["stage", "error_class"]
        )
        for (stage, error_class), count in sorted(stats.dead_lettered.items()):
            dead.add_metric([stage, error_class], count)
        yield dead
        yield _counter("records_dropped", "Records the pipeline dropped on purpose.", stats.dropped)
        yield _counter(
            "records_acknowledged",
            "Outputs and dead letters acknowledged by the broker.",
            stats.delivered,
        )
        yield _counter(
            "records_released_on_revoke",
            "Queued records let go at a rebalance (their next owner reads them again).",
            stats.revoked_dropped,
        )
        latency = p.latency
        yield HistogramMetricFamily(
            "processor_record_latency_seconds",
            "From the input record's timestamp to the acknowledgement of its outcome.",
            buckets=latency.cumulative(),
            sum_value=latency.sum_s,
        )

    def _capacity(self) -> Iterator[Metric]:
        p = self._processor
        flow = p.flow
        yield _gauge("queue_records", "Records held between intake and commit.", flow.records)
        yield _gauge("queue_bytes", "Bytes held until their outcome is acknowledged.", flow.bytes)
        yield _gauge("queue_capacity_records", "Records before intake pauses.", flow.max_records)
        yield _gauge("queue_capacity_bytes", "Bytes held before intake pauses.", flow.max_bytes)
        yield _gauge("intake_paused", "1 while intake is paused by backpressure.", flow.paused)
        yield _gauge("emitter_pending_records", "Records awaiting an ack.", p.emitter.pending)

    def _partitions(self) -> Iterator[Metric]:
        p = self._processor
        consumer = p.consumer
        positions = partition_positions(consumer, p.trackers, p.stats.committed)
        yield _gauge("assigned_partitions", "Input partitions assigned.", len(positions))
        yield _gauge("paused_partitions", "Input partitions paused.", len(consumer.paused()))
        labels = ["topic", "partition"]
        committed = _labelled_gauge("committed_offset", "Last committed offset.", labels)
        high = _labelled_gauge("high_watermark_offset", "Partition high watermark.", labels)
        lag = _labelled_gauge(
            "consumer_lag_records", "High watermark minus committed offset.", labels
        )
        for position in positions:
            values = [position.tp.topic, str(position.tp.partition)]
            if position.committed is not None:
                committed.add_metric(values, position.committed)
            if position.high_watermark is not None:
                high.add_metric(values, position.high_watermark)
            if position.lag is not None:
                lag.add_metric(values, position.lag)
        yield from (committed, high, lag)

    def _events(self) -> Iterator[Metric]:
        stats = self._processor.stats
        yield _counter("pauses", "Times intake paused.", stats.pauses)
        yield _counter("resumes", "Times intake resumed.", stats.resumes)
        yield _counter("commits", "Successful offset commits.", stats.commits)
        yield _counter("commit_failures", "Offset commits that failed.", stats.commit_failures)
        yield _counter("rebalances", "Partition assignments received.", stats.rebalances)
        yield _counter("producer_retries", "Batch writes retried.", stats.producer_retries)
        yield _counter("handler_retries", "Pipeline route calls retried.", stats.handler_retries)
        yield _counter(
            "records_undecodable",
            "Records the Kafka client could not decode, read raw and handled anyway.",
            stats.undecodable,
        )

    def _health(self) -> Iterator[Metric]:
        ready = processor_readiness(self._processor) is None
        yield _gauge("ready", "1 when /readyz answers 200.", ready)
        yield _gauge("event_loop_lag_seconds", "How late the loop woke a probe.", self._probe.lag_s)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"processor_{name}", documentation, value=value)


def _labelled_counter(name: str, documentation: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(f"processor_{name}", documentation, labels=labels)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"processor_{name}", documentation, value=value)


def _labelled_gauge(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"processor_{name}", documentation, labels=labels)
