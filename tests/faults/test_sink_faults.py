"""Scenarios 5, 7 and 8: a slow output, an unwritable dead-letter topic, a flood of bad records."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from processor.engine.processor import EXIT_HALTED, Processor
from processor.pipeline import Output, Source
from processor.pipelines.transactions import Transaction, TransactionsPipeline, pipeline
from tests.faults.campaign import ScenarioResult, audit_run, committed_now, scale
from tests.kafka_support import (
    all_committed,
    create_topics,
    mixed_samples,
    produce,
    running,
    settings_for,
    wait_until,
)


class StalledSink(TransactionsPipeline):
    """Every write takes ``delay_s``: an output slower than the consumer's poll interval allows."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    async def route(self, record: Transaction, source: Source) -> Output:  # type: ignore[override]
        await asyncio.sleep(self.delay_s)
        return super().route(record, source)


async def test_an_output_slower_than_the_poll_interval_keeps_the_group_and_memory_bounded(
    bootstrap_servers: str, unique_name: str, campaign: list[ScenarioResult]
) -> None:
    capacity = 40
    settings = settings_for(
        bootstrap_servers, unique_name, queue_max_records=capacity, concurrency=1,
        max_poll_interval_ms=3_000, session_timeout_ms=6_000, heartbeat_interval_ms=1_000,
    )  # fmt: skip
    await create_topics(settings)
    samples = mixed_samples(scale(300, 1_000))
    await produce(bootstrap_servers, settings.input_topic, samples)
    began = time.monotonic()

    # one record every 40 ms: a full queue takes 1.6 s, the whole run several poll intervals
    async with running(settings, StalledSink(delay_s=0.04)) as (processor, _):
        assert await all_committed(settings, timeout_s=180)
        recovery_s = time.monotonic() - began
        assert processor.stats.rebalances == 1  # the first assignment only: never left
        assert processor.stats.pauses >= 2
        assert processor.flow.peak_records <= capacity

    report = await audit_run(settings)
    campaign.append(ScenarioResult("5. slow output", report, recovery_s, True))
    assert report.clean
    assert report.duplicates == 0


async def test_an_unwritable_dead_letter_topic_holds_commits_until_it_is_back(
    bootstrap_servers: str, unique_name: str, campaign: list[ScenarioResult]
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, retry_backoff_max_s=1.0,
                            topic_partitions=1)  # fmt: skip
    await create_topics(settings, partitions=1)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        # Over its size limit, every dead letter is refused (works whether or not the broker
        # would auto-create a deleted topic).
        await _set_max_message_bytes(admin, settings.dead_letter_topic, 64)
        healthy = mixed_samples(200, invalid_every=1_000)
        await produce(bootstrap_servers, settings.input_topic, healthy)
        bad = mixed_samples(50, invalid_every=1)
        await produce(bootstrap_servers, settings.input_topic, bad + mixed_samples(200))

        async with running(settings) as (processor, _):

            async def healthy_committed() -> bool:
                return (await committed_now(settings)).get(0, 0) >= len(healthy)

            assert await wait_until(healthy_committed, timeout_s=60)
            await asyncio.sleep(5)  # long enough for several refused writes and commit rounds
            assert (await committed_now(settings)).get(0) == len(healthy)
            began = time.monotonic()
            await _set_max_message_bytes(admin, settings.dead_letter_topic, 1024 * 1024)
            assert await all_committed(settings, timeout_s=120)
            recovery_s = time.monotonic() - began
            assert processor.stats.dead_lettered.total() >= len(bad)
    finally:
        await admin.close()

    report = await audit_run(settings)
    campaign.append(ScenarioResult("7. dead-letter topic unwritable", report, recovery_s, True))
    assert report.clean
    assert report.dead_letters >= len(bad)


async def _set_max_message_bytes(admin: AIOKafkaAdminClient, topic: str, size: int) -> None:
    resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(size)})
    await admin.alter_configs([resource])


async def test_a_flood_of_dead_letters_halts_without_committing_it(
    bootstrap_servers: str, unique_name: str, campaign: list[ScenarioResult]
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, dlq_window=200, topic_partitions=1)
    await create_topics(settings, partitions=1)
    healthy = mixed_samples(1_000, invalid_every=100)
    await produce(bootstrap_servers, settings.input_topic, healthy)
    await produce(bootstrap_servers, settings.input_topic, mixed_samples(2_000, invalid_every=1))

    processor = Processor(settings, pipeline)
    began = time.monotonic()
    assert await asyncio.wait_for(processor.run(), timeout=60) == EXIT_HALTED
    halted_s = time.monotonic() - began
    assert (await committed_now(settings)).get(0, 0) <= len(healthy) + settings.dlq_window

    report = await audit_run(settings)
    campaign.append(ScenarioResult("8. dead-letter flood halts", report, halted_s, True))
    assert report.in_both == []
    assert report.order_violations == []
    assert report.lost == []
    assert report.pending  # by design: the flood waits, uncommitted, for a person to look at
