"""The pipeline-speed curves without a broker: ceilings, targets, the loop-lag scrape, the rows
and their report, and the bench pipelines themselves."""

from __future__ import annotations

import asyncio
import json
import pickle
import time
from pathlib import Path

import pytest

from bench.cli import command
from bench.contenders import by_name
from bench.data import FEW_KEYS, MANY_KEYS, records
from bench.drain import DrainResult, steady_rate
from bench.pipeline_curves import (
    GROUPS,
    Point,
    Target,
    ceiling,
    heaviest_key,
    lag_values,
    points,
    record_count,
    select,
    summarize,
)
from bench.pipelines import BulkCall, CpuWork, HttpCall, burn, calibrate
from bench.report import write_pipelines
from processor.pipeline import Output, Source, executor_of, is_batch, load_pipeline
from processor.pipelines.transactions import Transaction

PROCESSOR = by_name(["processor"])[0]


def _point(latency_s: float, limits: dict[str, float], target: Target | None = None) -> Point:
    return Point("async", "async route", "processor", PROCESSOR, {}, MANY_KEYS, 10_000.0,
                 latency_s, limits, 2, target, scrape_lag=True, keyed=True)  # fmt: skip


def test_the_ceiling_is_the_smallest_limit_over_the_wait() -> None:
    wide = ceiling(0.05, {"concurrency": 2000, "keys": 100_000})
    assert wide is not None
    assert wide.rate == pytest.approx(40_000)
    assert wide.bound == "2,000 concurrency / 0.05 s"
    keyed = ceiling(0.05, {"concurrency": 2000, "keys": 200})
    assert keyed is not None
    assert keyed.rate == pytest.approx(4_000)
    assert keyed.bound == "200 keys / 0.05 s"
    cores = ceiling(0.001, {"cores": 2, "pool processes": 4})
    assert cores is not None
    assert cores.rate == pytest.approx(2_000)


def test_no_wait_or_no_limit_has_no_ceiling() -> None:
    assert ceiling(0.0, {"concurrency": 1000}) is None
    assert ceiling(0.05, {}) is None


def test_a_per_process_target_divides_by_the_processes() -> None:
    target = Target(3_000, per_process=True)
    assert target.met(6_400, processes=2)
    assert not target.met(5_000, processes=2)
    assert Target(8_000).met(8_000, processes=2)
    assert target.describe() == ">= 3,000/s per process"


def test_the_loop_lag_gauge_is_read_from_each_process_of_a_scrape() -> None:
    scrape = "\n".join([
        "# HELP processor_event_loop_lag_seconds How late the loop woke a probe.",
        "# TYPE processor_event_loop_lag_seconds gauge",
        'processor_event_loop_lag_seconds{process="0"} 0.012',
        'processor_event_loop_lag_seconds{process="1"} 0.25',
        "processor_event_loop_lag_seconds_other 9",
        'processor_queue_records{process="0"} 7.0',
    ])  # fmt: skip
    assert lag_values(scrape) == [0.012, 0.25]
    assert lag_values("processor_event_loop_lag_seconds 0.5\n") == [0.5]


def test_a_row_has_its_ratio_to_the_ceiling_its_target_and_its_loop_lag() -> None:
    drained = DrainResult("processor", 120_000, throughput=10_000.0, peak_rss_mib=150.0)
    point = _point(0.05, {"concurrency": 2000, "keys": MANY_KEYS}, Target(8_000))
    lags = [0.001] * 98 + [0.08, 0.3]
    row = summarize(point, drained, lags, {"PROCESSOR_CONCURRENCY": "1000"})
    assert row.ceiling == pytest.approx(40_000)
    assert row.ratio == pytest.approx(0.25)
    assert row.target_met is True
    assert row.lag_p99_ms == pytest.approx(300)
    assert row.lag_max_ms == pytest.approx(300)
    assert row.lag_samples == 100


def test_a_failed_run_never_meets_its_target() -> None:
    drained = DrainResult("processor", 1000, status="timeout", throughput=9_000.0)
    row = summarize(_point(0.05, {"concurrency": 2000}, Target(8_000)), drained, None, {})
    assert row.target_met is False
    assert row.lag_p99_ms is None


def test_the_report_shows_ceilings_ratios_targets_and_the_command(tmp_path: Path) -> None:
    keyed = _point(0.05, {"concurrency": 2000, "keys": FEW_KEYS}, Target(3_200))
    drained = DrainResult("processor", 48_000, throughput=3_000.0)
    drained.extra["steady_throughput"] = 3_900.0
    slow = summarize(keyed, drained, [0.2], {}, heaviest=300)
    assert slow.input_bound == pytest.approx(3_200)
    assert "the busiest key has 300 valid records x 0.05 s" in slow.note
    assert "drains at most 3,200/s (x 0.94)" in slow.note
    baseline = summarize(_point(0.0, {}), DrainResult("processor", 1, throughput=45_000.0), [], {})
    meta = {"command": "scripts/bench --pipelines", "record_bytes": 400}
    text = write_pipelines(tmp_path, meta, [slow, baseline], {"cpu_iterations": 12_000})
    assert (
        "| 3,000 | 3,900 | 4,000 | 200 keys / 0.05 s | 0.75 | >= 3,200/s: MISSED "
        "| 200 (max 200) MISSED |"
    ) in text
    assert "| 45,000 | - | - | - | - | - |" in text
    markdown = (tmp_path / "pipelines.md").read_text()
    assert "Command: `scripts/bench --pipelines`" in markdown
    assert "processor_event_loop_lag_seconds" in markdown
    rows = json.loads((tmp_path / "pipelines.json").read_text())["rows"]
    assert rows[0]["ceiling"] == pytest.approx(4_000)
    assert rows[0]["target_met"] is False


def test_every_point_is_sized_to_run_long_enough_and_no_longer() -> None:
    all_points = points(cpus=2, cpu_iterations=10_000)
    assert {p.group for p in all_points} == set(GROUPS)
    for point in all_points:
        count = record_count(point, 12.0)
        assert 500 <= count <= 240_000, point.label
    assert [p.label for p in select(all_points, "cpu")] == [
        "processor, executor process", "arroyo RunTaskWithMultiprocessing, 2 processes",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown pipeline curves"):
        select(all_points, "async,nope")


def test_the_generator_draws_keys_from_the_count_asked() -> None:
    few = {r.key for r in records(5_000, keys=FEW_KEYS)}
    assert len(few) == FEW_KEYS
    assert len({r.key for r in records(5_000, keys=MANY_KEYS)}) > 4_800
    # The default keeps the table's input as it was.
    assert [r.value for r in records(50)] == [r.value for r in records(50, keys=1000)]


def _transaction() -> tuple[Transaction, Source]:
    value = next(iter(records(1, invalid_ratio=0))).value
    record = Transaction.model_validate_json(value)
    return record, Source("in", 0, 0, record.account.encode(), (), 0)


@pytest.mark.parametrize(
    ("name", "executor", "batch"),
    [("http_call", "loop", False), ("blocking_driver", "thread", False),
     ("cpu_work", "process", False), ("bulk_call", "loop", True)],
)  # fmt: skip
def test_the_bench_pipelines_load_by_name_and_pickle(
    name: str, executor: str, batch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_CPU_ITERATIONS", "10")
    pipeline = load_pipeline(f"bench.pipelines:{name}")
    assert executor_of(pipeline) == executor
    assert is_batch(pipeline) is batch
    assert pipeline.output_topics("in") == ("in.additions", "in.refunds")
    assert type(pickle.loads(pickle.dumps(pipeline))) is type(pipeline)


def test_the_bench_routes_wait_then_route_as_the_ledger_does() -> None:
    record, source = _transaction()
    started = time.perf_counter()
    out = asyncio.run(HttpCall(0.02).route(record, source))
    assert time.perf_counter() - started >= 0.02
    assert isinstance(out, Output)
    assert out.topic in ("in.additions", "in.refunds")
    assert out.key == record.account.encode()
    assert CpuWork(10).route(record, source) == out
    assert asyncio.run(BulkCall(0.0).route_many([record, record], [source, source])) == [out, out]


def test_the_busy_loop_is_calibrated_to_the_cpu_time_asked() -> None:
    iterations = calibrate(0.002)
    best = min(_cpu_s(iterations) for _ in range(5))
    assert 0.001 < best < 0.006  # the best of five: other load only slows a trial down


def _cpu_s(iterations: int) -> float:
    started = time.thread_time()
    burn(iterations)
    return time.thread_time() - started


def test_a_wide_input_leaves_the_busiest_key_out_of_it() -> None:
    drained = DrainResult("processor", 100_000, throughput=20_000.0)
    row = summarize(_point(0.05, {"concurrency": 2000}), drained, None, {}, heaviest=6)
    assert row.input_bound == pytest.approx(100_000 / 0.3)
    assert row.note == ""


def test_the_busiest_key_counts_valid_records_only() -> None:
    data = list(records(2_000, keys=FEW_KEYS, invalid_ratio=0.5))
    valid = [r for r in data if r.valid]
    expected = max(sum(1 for r in valid if r.key == key) for key in {r.key for r in valid})
    assert heaviest_key(data) == expected


def test_the_steady_rate_leaves_out_the_start_and_the_tail() -> None:
    # 1,000 outputs: nothing for 2 s (start-up), 100/s for 9 s, then a slow tail.
    timeline = [(t / 10, 0) for t in range(20)]
    timeline += [(2 + t / 10, 10 * t) for t in range(1, 91)]
    timeline += [(20.0, 1_000)]
    assert steady_rate(timeline, 1_000) == pytest.approx(100.0)
    assert steady_rate(timeline[:30], 1_000) is None


def test_the_report_names_the_command_as_the_user_ran_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_LAUNCHER", "scripts/bench")
    assert command(["--pipelines", "async,cpu"]) == "scripts/bench --pipelines async,cpu"
    monkeypatch.delenv("BENCH_LAUNCHER")
    assert command([]) == "python -m bench"
