"""A slow pipeline and a small queue: intake pauses, resumes, stays in capacity, loses nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

from processor.pipeline import Output, Source
from processor.pipelines.transactions import Transaction, TransactionsPipeline
from tests.kafka_support import (
    all_committed,
    collect,
    create_topics,
    mixed_samples,
    produce,
    running,
    settings_for,
)

CAPACITY = 50


class SlowPipeline(TransactionsPipeline):
    """The built-in pipeline, but every route takes a few milliseconds (a slow sink)."""

    def __init__(self) -> None:
        self.peak_held = 0

    async def route(self, record: Transaction, source: Source) -> Output:  # type: ignore[override]
        await asyncio.sleep(0.003)
        return super().route(record, source)


async def test_slow_pipeline_pauses_and_resumes_intake_within_capacity(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(
        bootstrap_servers,
        unique_name,
        queue_max_records=CAPACITY,
        concurrency=4,
        queue_resume_ratio=0.5,
    )
    await create_topics(settings)
    samples = mixed_samples(1_500)
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings, SlowPipeline()) as (processor, _):
        assert await all_committed(settings, timeout_s=120)
        stats, flow = processor.stats, processor.flow
        assert stats.pauses >= 2
        assert stats.resumes >= 2
        assert flow.peak_records <= CAPACITY
        assert not flow.paused or flow.records > CAPACITY * settings.queue_resume_ratio
    delivery = await collect(settings)
    assert Counter(delivery.ids()) == Counter(s.test_id for s in samples)
