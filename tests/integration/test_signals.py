"""The processor as operators run it, a separate process: SIGTERM drains, SIGKILL loses nothing."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from processor.config import Settings
from tests.kafka_support import (
    all_committed,
    collect,
    committed,
    create_topics,
    mixed_samples,
    produce,
    settings_for,
    wait_until,
)
from tests.processes import ProcessorProcess

COUNT = 20_000
# A few thousand records a second, so that a signal lands mid-stream.
THROTTLED = ("--pipeline", "tests.pipelines:throttled", "--concurrency", "4",
             "--shutdown-timeout-s", "20")  # fmt: skip


async def progressed(settings: Settings, at_least: int) -> bool:
    async def enough() -> bool:
        offsets = await committed(settings.bootstrap_servers, settings.group_id,
                                  settings.input_topic)  # fmt: skip
        return sum(offsets.values()) >= at_least

    return await wait_until(enough, timeout_s=60)


async def test_sigterm_drains_and_a_restart_brings_no_duplicates(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = mixed_samples(COUNT)
    await produce(bootstrap_servers, settings.input_topic, samples)
    log = tmp_path / "processor.log"

    process = ProcessorProcess(settings, log, *THROTTLED).start()
    assert await progressed(settings, 2_000), log.read_text()
    assert await process.stop(signal.SIGTERM) == 0, log.read_text()
    stopped_at = sum((await committed(bootstrap_servers, settings.group_id,
                                      settings.input_topic)).values())  # fmt: skip
    assert stopped_at < COUNT, "the stop came too late to be mid-stream"
    assert '"event": "drained"' in log.read_text()

    process.start()
    try:
        assert await all_committed(settings, timeout_s=120), log.read_text()
    finally:
        assert await process.stop(signal.SIGTERM) == 0
    counts = Counter((await collect(settings)).ids())
    assert counts == Counter(s.test_id for s in samples)


async def test_sigkill_mid_stream_then_restart_loses_nothing(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = mixed_samples(COUNT)
    await produce(bootstrap_servers, settings.input_topic, samples)
    log = tmp_path / "processor.log"

    process = ProcessorProcess(settings, log, *THROTTLED, "--session-timeout-ms", "6000").start()
    assert await progressed(settings, 2_000), log.read_text()
    assert await process.stop(signal.SIGKILL) == -signal.SIGKILL

    process.start()
    try:
        assert await all_committed(settings, timeout_s=120), log.read_text()
    finally:
        assert await process.stop(signal.SIGTERM) == 0
    counts = Counter((await collect(settings)).ids())
    assert set(counts) == {s.test_id for s in samples}
