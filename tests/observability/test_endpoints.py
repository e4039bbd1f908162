"""/metrics, /healthz and /readyz of a processor running against the real broker."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from processor.config import Settings
from processor.engine.processor import EXIT_HALTED, Processor
from processor.pipelines.transactions import pipeline as transactions
from processor.telemetry.http import HEALTH_PATH, METRICS_CONTENT_TYPE, METRICS_PATH, READY_PATH
from processor.telemetry.names import PROCESS_METRICS
from processor.telemetry.observability import Observability, RateMeter
from tests.kafka_support import (
    all_committed,
    create_topics,
    mixed_samples,
    produce,
    running,
    running_observed,
    settings_for,
)
from tests.observability.http_client import free_port, get, wait_for_status

RECORDS = 300

NAMED_METRICS = {metric.name for metric in PROCESS_METRICS}


def settings_with_http(bootstrap: str, name: str) -> Settings:
    return settings_for(bootstrap, name, http_port=free_port(), http_host="127.0.0.1")


async def scrape(port: int) -> dict[str, float]:
    """Every sample as ``name{label="value",...}`` (labels sorted) -> value."""
    status, text = await get(port, METRICS_PATH)
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def total(samples: dict[str, float], name: str) -> float:
    return sum(value for key, value in samples.items() if key.split("{")[0] == name)


async def test_metrics_name_every_measure_and_move_as_records_are_processed(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_with_http(bootstrap_servers, unique_name)
    await create_topics(settings)
    port = settings.http_port

    async with running(settings):
        await wait_for_status(port, READY_PATH, 200)
        before = await scrape(port)
        await produce(bootstrap_servers, settings.input_topic, mixed_samples(RECORDS))
        assert await all_committed(settings)
        after = await scrape(port)

    names = {key.split("{")[0].removesuffix("_total") for key in after}
    for suffix in ("_bucket", "_count", "_sum"):
        names |= {name.removesuffix(suffix) for name in names}
    assert names >= NAMED_METRICS
    assert before["processor_records_consumed_total"] == 0
    assert after["processor_records_consumed_total"] == RECORDS
    outcomes = total(after, "processor_records_routed_total") + total(
        after, "processor_records_dead_lettered_total"
    )
    assert outcomes == RECORDS
    decode_errors = (
        'processor_records_dead_lettered_total{error_class="JSONDecodeError",stage="decode"}'
    )
    assert after[decode_errors] > 0
    assert after["processor_record_latency_seconds_count"] == RECORDS
    assert after['processor_record_latency_seconds_bucket{le="+Inf"}'] == RECORDS
    assert after["processor_commits_total"] > before["processor_commits_total"]
    assert total(after, "processor_committed_offset") == RECORDS
    assert total(after, "processor_consumer_lag_records") == 0
    assert after["processor_queue_capacity_records"] == settings.queue_max_records
    assert after["processor_assigned_partitions"] == 4
    assert after["processor_rebalances_total"] >= 1
    assert after["processor_ready"] == 1


async def test_readyz_turns_200_once_the_group_is_joined_and_healthz_is_200(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_with_http(bootstrap_servers, unique_name)
    await create_topics(settings)
    async with running(settings) as (processor, _):
        assert await wait_for_status(settings.http_port, READY_PATH, 200) == "ready\n"
        assert processor.joined
        status, body = await get(settings.http_port, HEALTH_PATH)
        assert status == 200
        assert body.startswith("ok")


async def test_readyz_is_503_before_the_processor_runs(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_with_http(bootstrap_servers, unique_name)
    observability = Observability(Processor(settings, transactions), settings)
    await observability.start()
    try:
        assert await get(settings.http_port, READY_PATH) == (503, "producer not started\n")
    finally:
        await observability.stop()


async def test_readyz_is_503_after_a_halt(bootstrap_servers: str, unique_name: str) -> None:
    settings = settings_with_http(bootstrap_servers, unique_name)
    await create_topics(settings)
    processor = Processor(settings, transactions)
    observability = Observability(processor, settings)
    await observability.start()
    task = asyncio.get_running_loop().create_task(processor.run())
    try:
        await wait_for_status(settings.http_port, READY_PATH, 200)
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.http_port)
        processor.halt("a test halts it")
        writer.write(f"GET {READY_PATH} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert answer.endswith(b"halted: a test halts it\n")
        assert await asyncio.wait_for(task, 60) == EXIT_HALTED
    finally:
        await observability.stop()


async def test_port_zero_turns_the_server_off(bootstrap_servers: str, unique_name: str) -> None:
    settings = settings_for(bootstrap_servers, unique_name, http_port=0)
    await create_topics(settings)
    async with running_observed(settings) as (processor, _, observability):
        assert observability.server is None
        async with asyncio.timeout(60):
            while not processor.joined:
                await asyncio.sleep(0.05)


async def test_the_summary_gives_rate_lag_queue_and_pause(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    await produce(bootstrap_servers, settings.input_topic, mixed_samples(RECORDS))
    async with running_observed(settings) as (_, _, observability):
        meter = RateMeter(count=0, at_s=asyncio.get_running_loop().time())
        assert await all_committed(settings)
        summary = observability.summary(meter)
    assert summary["rate_per_s"] > 0
    assert summary["lag"] == 0
    assert summary["queue_records"] == 0
    assert summary["paused"] is False
    assert summary["partitions"] == 4


def test_the_metrics_content_type_is_prometheus_text_format_0_0_4() -> None:
    # What the processes and the supervisor that merges them both serve, the format
    # generate_latest writes with its default escaping.
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    assert METRICS_CONTENT_TYPE == CONTENT_TYPE_PLAIN_0_0_4
