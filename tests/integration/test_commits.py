"""When offsets are committed: promptly once caught up, not only at the interval."""

from __future__ import annotations

from tests.kafka_support import (
    all_committed,
    create_topics,
    mixed_samples,
    produce,
    running,
    settings_for,
)

AN_HOUR_MS = 3_600_000


async def test_a_drained_backlog_is_committed_without_waiting_for_the_interval(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, commit_interval_ms=AN_HOUR_MS)
    await create_topics(settings)
    await produce(bootstrap_servers, settings.input_topic, mixed_samples(500))

    async with running(settings) as (processor, _):
        assert await all_committed(settings, timeout_s=30)
        assert processor.stats.commit_failures == 0
