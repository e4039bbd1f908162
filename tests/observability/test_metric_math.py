"""The pure parts of metrics and the summary: latency buckets, lag, rates."""

from __future__ import annotations

import time

import pytest
from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from processor.engine.latency import LatencyHistogram
from processor.engine.positions import PartitionPosition, total_lag
from processor.telemetry.observability import RateMeter

TP = TopicPartition("in", 0)


def test_an_observation_counts_in_every_bucket_at_or_above_it() -> None:
    histogram = LatencyHistogram([0.1, 1.0, 10.0])
    histogram.observe(0.1)  # a bound is inclusive
    histogram.observe(0.5)
    histogram.observe(60.0)
    assert histogram.cumulative() == [("0.1", 1), ("1.0", 2), ("10.0", 2), ("+Inf", 3)]
    assert histogram.count == 3
    assert histogram.sum_s == pytest.approx(60.6)


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=50))
def test_buckets_are_cumulative_and_end_at_the_count(values: list[float]) -> None:
    histogram = LatencyHistogram()
    for value in values:
        histogram.observe(value)
    counts = [count for _, count in histogram.cumulative()]
    assert counts == sorted(counts)
    assert counts[-1] == histogram.count == len(values)


def test_latency_is_measured_from_the_record_timestamp() -> None:
    histogram = LatencyHistogram([1.0, 10.0])
    histogram.observe_all_since([int((time.time() - 5) * 1000)])
    assert histogram.cumulative() == [("1.0", 0), ("10.0", 1), ("+Inf", 1)]


def test_a_timestamp_from_the_future_counts_as_zero_and_a_missing_one_not_at_all() -> None:
    histogram = LatencyHistogram([1.0])
    histogram.observe_all_since([int((time.time() + 60) * 1000)])
    histogram.observe_all_since([-1])
    assert histogram.cumulative() == [("1.0", 1), ("+Inf", 1)]
    assert histogram.sum_s == 0.0


def test_lag_is_high_watermark_minus_committed() -> None:
    assert PartitionPosition(TP, committed=40, high_watermark=100).lag == 60


def test_lag_is_unknown_until_both_offsets_are_known() -> None:
    assert PartitionPosition(TP, committed=None, high_watermark=100).lag is None
    assert PartitionPosition(TP, committed=40, high_watermark=None).lag is None


def test_total_lag_adds_the_known_lags_only() -> None:
    positions = [
        PartitionPosition(TopicPartition("in", 0), 10, 15),
        PartitionPosition(TopicPartition("in", 1), None, 99),
        PartitionPosition(TopicPartition("in", 2), 3, 10),
    ]
    assert total_lag(positions) == 12


def test_rate_is_records_per_second_since_the_previous_reading() -> None:
    meter = RateMeter(count=100, at_s=10.0)
    assert meter.rate(400, now_s=12.0) == 150.0
    assert meter.rate(400, now_s=14.0) == 0.0


def test_rate_over_no_time_is_zero() -> None:
    assert RateMeter(count=0, at_s=5.0).rate(10, now_s=5.0) == 0.0
