"""Scenario 4: the broker stops for longer than the producer's timeouts, then comes back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from processor.broker import LocalBroker
from tests.conftest import _free_port
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


async def test_a_broker_outage_neither_crashes_nor_loses_and_the_backlog_drains(
    tmp_path: Path, unique_name: str, campaign: list[ScenarioResult]
) -> None:
    broker = LocalBroker(tmp_path / "kafka", _free_port(), _free_port())
    await asyncio.to_thread(broker.up, 180)
    try:
        settings = settings_for(
            broker.bootstrap, unique_name, producer_request_timeout_ms=3_000,
            retry_backoff_max_s=2.0, queue_max_records=2_000, commit_interval_ms=100,
        )  # fmt: skip
        await create_topics(settings)
        samples = mixed_samples(scale(20_000, 100_000))
        await produce(broker.bootstrap, settings.input_topic, samples)

        async with running(settings) as (processor, task):

            async def started() -> bool:
                return sum((await committed_now(settings)).values()) > 0

            assert await wait_until(started, timeout_s=60)
            await asyncio.to_thread(broker.down)
            outage_s = 3 * settings.producer_request_timeout_ms / 1000
            await asyncio.sleep(outage_s)
            assert not task.done()  # it waits out the outage instead of crashing
            await asyncio.to_thread(broker.up, 180)
            back = time.monotonic()
            assert await all_committed(settings, timeout_s=180)
            recovery_s = time.monotonic() - back
            assert processor.flow.peak_records <= settings.queue_max_records

        report = await audit_run(settings)
    finally:
        await asyncio.to_thread(broker.down)
    campaign.append(ScenarioResult("4. broker outage", report, recovery_s, False))
    assert report.lost == []
    assert report.in_both == []
    assert report.order_violations == []
    assert report.clean
