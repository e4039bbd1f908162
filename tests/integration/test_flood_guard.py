"""A flood of dead letters halts the processor instead of dead-lettering the whole stream."""

from __future__ import annotations

import asyncio

import pytest

from processor.engine.processor import EXIT_HALTED, Processor
from processor.headers import DLQ_SOURCE_OFFSET
from processor.pipelines.transactions import pipeline
from tests.kafka_support import (
    committed,
    create_topics,
    header,
    mixed_samples,
    produce,
    read_all,
    settings_for,
)


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
async def test_a_dead_letter_flood_halts_without_committing_it(
    bootstrap_servers: str, unique_name: str, guarantee: str
) -> None:
    settings = settings_for(
        bootstrap_servers,
        unique_name,
        dlq_window=100,
        dlq_max_ratio=0.5,
        topic_partitions=1,
        guarantee=guarantee,
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
    if guarantee == "exactly-once":
        # The halt aborted the open transaction, which held the flood's first dead letters: a
        # read_committed consumer sees the dead letters of committed records only.
        dead = await read_all(bootstrap_servers, settings.dead_letter_topic)
        sources = [int(header(record, DLQ_SOURCE_OFFSET) or b"-1") for record in dead]
        assert all(0 <= source < offsets.get(0, 0) for source in sources)
