"""The processor as operators run it, a separate process: SIGTERM drains, SIGKILL loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
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

ROOT = Path(__file__).resolve().parents[2]
COUNT = 20_000


def start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROCESSOR_LOG_FORMAT": "json"}
    command = [
        sys.executable,
        "-m",
        "processor",
        "run",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--input-topic",
        settings.input_topic,
        "--group-id",
        settings.group_id,
        "--pipeline",
        "tests.pipelines:throttled",
        "--workers",
        "4",
        "--commit-interval-ms",
        "200",
        "--shutdown-timeout-s",
        "20",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


async def progressed(settings: Settings, at_least: int) -> bool:
    async def enough() -> bool:
        offsets = await committed(
            settings.bootstrap_servers, settings.group_id, settings.input_topic
        )
        return sum(offsets.values()) >= at_least

    return await wait_until(enough, timeout_s=60)


async def stop(process: subprocess.Popen[bytes], signum: int) -> int:
    process.send_signal(signum)
    return await asyncio.to_thread(process.wait, 60)


async def test_sigterm_drains_and_a_restart_brings_no_duplicates(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = mixed_samples(COUNT)
    await produce(bootstrap_servers, settings.input_topic, samples)
    log = tmp_path / "processor.log"

    first = start(settings, log)
    assert await progressed(settings, 2_000), log.read_text()
    assert await stop(first, signal.SIGTERM) == 0, log.read_text()
    stopped_at = sum(
        (await committed(bootstrap_servers, settings.group_id, settings.input_topic)).values()
    )
    assert stopped_at < COUNT, "the stop came too late to be mid-stream"
    assert '"event": "drained"' in log.read_text()

    second = start(settings, log)
    try:
        assert await all_committed(settings, timeout_s=120), log.read_text()
    finally:
        assert await stop(second, signal.SIGTERM) == 0
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

    first = start(settings, log)
    assert await progressed(settings, 2_000), log.read_text()
    assert await stop(first, signal.SIGKILL) == -signal.SIGKILL

    second = start(settings, log)
    try:
        assert await all_committed(settings, timeout_s=120), log.read_text()
    finally:
        assert await stop(second, signal.SIGTERM) == 0
    counts = Counter((await collect(settings)).ids())
    assert set(counts) == {s.test_id for s in samples}
