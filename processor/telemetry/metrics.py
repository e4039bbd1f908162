"""Prometheus metrics, read through the engine's view when scraped: nothing here runs per record."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from processor.engine.view import EngineView
from processor.telemetry.health import LoopLagProbe, view_readiness


class ProcessorCollector(Collector):
    """Every ``processor_*`` metric, built from the engine's view at scrape time."""

    def __init__(self, view: EngineView, probe: LoopLagProbe) -> None:
        self._view = view
        self._probe = probe

    def collect(self) -> Iterator[Metric]:
        yield from self._records()
        yield from self._capacity()
        yield from self._partitions()
        yield from self._events()
        yield from self._health()

    def _records(self) -> Iterator[Metric]:
        p = self._view
        stats = p.stats
        yield _counter("records_consumed", "Records taken in from the input topic.", stats.consumed)
        routed = _labelled_counter(
            "records_routed", "Outputs acknowledged by the broker, by topic.", ["topic"]
        )
        dlq_topic = p.dead_letter_topic
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
            sum(stats.acknowledged.values()),
        )
        yield _counter(
            "records_released_on_revoke",
            "Queued records let go at a rebalance (their next owner reads them again).",
            stats.released_on_revoke,
        )
        latency = p.latency
        yield HistogramMetricFamily(
            "processor_record_latency_seconds",
            "From the input record's timestamp to the acknowledgement of its outcome.",
            buckets=latency.cumulative(),
            sum_value=latency.sum_s,
        )

    def _capacity(self) -> Iterator[Metric]:
        p = self._view
        flow = p.flow
        yield _gauge("queue_records", "Records held between intake and commit.", flow.records)
        yield _gauge("queue_bytes", "Bytes held until their outcome is acknowledged.", flow.bytes)
        yield _gauge("queue_capacity_records", "Records before intake pauses.", flow.max_records)
        yield _gauge("queue_capacity_bytes", "Bytes held before intake pauses.", flow.max_bytes)
        yield _gauge("intake_paused", "1 while intake is paused by backpressure.", flow.paused)
        yield _gauge("emitter_pending_records", "Records awaiting an ack.", p.pending_writes)

    def _partitions(self) -> Iterator[Metric]:
        p = self._view
        positions = p.positions()
        yield _gauge("assigned_partitions", "Input partitions assigned.", len(positions))
        yield _gauge("paused_partitions", "Input partitions paused.", p.paused_partitions)
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
        stats = self._view.stats
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
        ready = view_readiness(self._view) is None
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
