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
from processor.telemetry import names
from processor.telemetry.health import LoopLagProbe, view_readiness
from processor.telemetry.names import MetricName
from processor.version import build_info


class ProcessorCollector(Collector):
    """Every metric of :data:`processor.telemetry.names.PROCESS_METRICS`, built from the
    engine's view at scrape time."""

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
        yield metric_family(names.RECORDS_CONSUMED, stats.consumed)
        routed = metric_family(names.RECORDS_ROUTED)
        dlq_topic = p.dead_letter_topic
        for topic, count in sorted(stats.acknowledged.items()):
            if topic != dlq_topic:
                routed.add_metric([topic], count)
        yield routed
        dead = metric_family(names.RECORDS_DEAD_LETTERED)
        for (stage, error_class), count in sorted(stats.dead_lettered.items()):
            dead.add_metric([stage, error_class], count)
        yield dead
        yield metric_family(names.RECORDS_DROPPED, stats.dropped)
        yield metric_family(names.RECORDS_ACKNOWLEDGED, sum(stats.acknowledged.values()))
        yield metric_family(names.RECORDS_RELEASED_ON_REVOKE, stats.released_on_revoke)
        latency = p.latency
        yield HistogramMetricFamily(
            names.RECORD_LATENCY.name,
            names.RECORD_LATENCY.help,
            buckets=latency.cumulative(),
            sum_value=latency.sum_s,
        )

    def _capacity(self) -> Iterator[Metric]:
        p = self._view
        flow = p.flow
        yield metric_family(names.QUEUE_RECORDS, flow.records)
        yield metric_family(names.QUEUE_BYTES, flow.bytes)
        yield metric_family(names.QUEUE_CAPACITY_RECORDS, flow.max_records)
        yield metric_family(names.QUEUE_CAPACITY_BYTES, flow.max_bytes)
        yield metric_family(names.INTAKE_PAUSED, flow.paused)
        yield metric_family(names.EMITTER_PENDING, p.pending_writes)

    def _partitions(self) -> Iterator[Metric]:
        p = self._view
        positions = p.positions()
        yield metric_family(names.ASSIGNED_PARTITIONS, len(positions))
        yield metric_family(names.PAUSED_PARTITIONS, p.paused_partitions)
        committed = metric_family(names.COMMITTED_OFFSET)
        high = metric_family(names.HIGH_WATERMARK)
        lag = metric_family(names.CONSUMER_LAG)
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
        yield metric_family(names.PAUSES, stats.pauses)
        yield metric_family(names.RESUMES, stats.resumes)
        yield metric_family(names.COMMITS, stats.commits)
        yield metric_family(names.COMMIT_FAILURES, stats.commit_failures)
        yield metric_family(names.REBALANCES, stats.rebalances)
        yield metric_family(names.PRODUCER_RETRIES, stats.producer_retries)
        yield metric_family(names.HANDLER_RETRIES, stats.handler_retries)
        yield metric_family(names.RECORDS_UNDECODABLE, stats.undecodable)

    def _health(self) -> Iterator[Metric]:
        yield metric_family(names.READY, view_readiness(self._view) is None)
        yield metric_family(names.EVENT_LOOP_LAG, self._probe.lag_s)
        build = metric_family(names.BUILD_INFO)
        info = build_info()
        build.add_metric([info[label] for label in names.BUILD_INFO.labels], 1)
        yield build


def metric_family(
    metric: MetricName, value: float | None = None
) -> CounterMetricFamily | GaugeMetricFamily:
    """An empty labelled family to add samples to, or an unlabelled one holding ``value``."""
    family = CounterMetricFamily if metric.kind == "counter" else GaugeMetricFamily
    if metric.labels:
        return family(metric.name, metric.help, labels=list(metric.labels))
    return family(metric.name, metric.help, value=value)
