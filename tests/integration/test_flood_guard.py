"""A flood of dead letters halts the processor instead of dead-lettering the whole stream."""

from __future__ import annotations

import asyncio

from processor.engine.processor import EXIT_HALTED, Processor
from processor.pipelines.transactions import pipeline
from tests.kafka_support import (
    committed,
    create_topics,
    mixed_samples,
    produce,
    settings_for,
)


async def test_a_dead_letter_flood_halts_without_committing_it(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(
        bootstrap_servers, unique_name, dlq_window=100, dlq_max_ratio=0.5, topic_partitions=1
    )
    await create_topics(settings, partitions=1)
    healthy = mixed_samples(500, invalid_every=50)
    flood = mixed_samples(3_000, invalid_every=1)
    await produce(bootstrap_servers, settings.input_topic, healthy + flood)

    processor = Processor(settings, pipeline)
    code = await asyncio.wait_for(processor.run(), timeout=60)

    assert code == EXIT_HALTED
    assert processor.halted
    assert "dead letters" in processor.halted
    offsets = await committed(bootstrap_servers, settings.group_id, settings.input_topic)
    assert offsets.get(0, 0) <= len(healthy) + settings.dlq_window
    # halted within about one window, instead of dead-lettering the whole flood
    assert processor.stats.dead_lettered.total() < 2 * settings.dlq_window
