"""A second instance joins the group mid-stream and later leaves: nothing is lost."""

from __future__ import annotations

import asyncio

from tests.kafka_support import (
    all_committed,
    collect,
    create_topics,
    mixed_samples,
    produce,
    running,
    settings_for,
)


async def test_an_instance_joining_and_leaving_mid_stream_loses_nothing(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, queue_max_records=200)
    await create_topics(settings)
    samples = mixed_samples(20_000)
    first_half, second_half = samples[:10_000], samples[10_000:]
    await produce(bootstrap_servers, settings.input_topic, first_half)

    async with running(settings) as (first, _):
        await _until(lambda: first.stats.consumed > 2_000)
        async with running(settings) as (second, _):
            await _until(lambda: second.stats.rebalances >= 1)  # it owns partitions now
            await produce(bootstrap_servers, settings.input_topic, second_half)
            await _until(lambda: second.stats.consumed > 1_000)
        # the second instance left: the first takes all partitions back and finishes
        assert await all_committed(settings, timeout_s=120)
        assert first.stats.rebalances >= 3

    found = set((await collect(settings)).ids())
    assert found == {s.test_id for s in samples}


async def _until(condition: object, timeout_s: float = 60) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)
