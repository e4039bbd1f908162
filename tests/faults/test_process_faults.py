"""Scenarios 1 to 3: crashes, clean stops, and instances joining and leaving, under load."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from processor.commands.audit_report import CrashWindow
from processor.config import Settings
from tests.faults.campaign import (
    ScenarioResult,
    audit_run,
    committed_now,
    produce_paced,
    random_moments,
    scale,
)
from tests.kafka_support import all_committed, create_topics, mixed_samples, settings_for
from tests.processes import ProcessorProcess

# What a crash may write twice: the records held (at most the queue's capacity) plus those that
# finished since the last commit, at most one commit interval at this upper bound of throughput.
MAX_RECORDS_PER_S = 50_000


def in_flight_bound(settings: Settings) -> int:
    return settings.queue_max_records + MAX_RECORDS_PER_S * settings.commit_interval_ms // 1000


# A killed member is replaced at once when it comes back with the same static id; a member that
# vanishes for good is noticed after the session timeout.
LIVENESS = ("--session-timeout-ms", "6000", "--heartbeat-interval-ms", "1000")


async def test_sigkill_at_random_moments_loses_nothing(
    bootstrap_servers: str, unique_name: str, tmp_path: Path, campaign: list[ScenarioResult]
) -> None:
    settings = settings_for(
        bootstrap_servers, unique_name, queue_max_records=1000, commit_interval_ms=100
    )
    await create_topics(settings)
    samples = mixed_samples(scale(20_000, 60_000))
    rate = scale(4_000, 6_000)
    load = asyncio.create_task(
        produce_paced(bootstrap_servers, settings.input_topic, samples, rate)
    )
    args = (*LIVENESS, "--group-instance-id", f"{unique_name}-0")
    process = ProcessorProcess(settings, tmp_path / "p.log", *args).start()
    windows = []
    began = time.monotonic()
    for moment in random_moments(scale(3, 6), len(samples) / rate, seed=len(samples)):
        await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
        assert await process.stop(signal.SIGKILL) == -signal.SIGKILL
        windows.append(CrashWindow(await committed_now(settings), in_flight_bound(settings)))
        process.start()
    await load
    loaded = time.monotonic()
    assert await all_committed(settings, timeout_s=180), process.log.read_text()[-3000:]
    recovery_s = time.monotonic() - loaded
    assert await process.stop(signal.SIGTERM) == 0

    report = await audit_run(settings, windows)
    campaign.append(ScenarioResult(f"1. SIGKILL x{len(windows)}", report, recovery_s, False))
    assert report.lost == []
    assert report.in_both == []
    assert report.unexplained_duplicates == []
    assert report.order_violations == []
    assert report.clean


async def test_sigterm_mid_stream_then_restart_has_no_duplicates(
    bootstrap_servers: str, unique_name: str, tmp_path: Path, campaign: list[ScenarioResult]
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = mixed_samples(scale(20_000, 60_000))
    rate = scale(5_000, 8_000)
    load = asyncio.create_task(
        produce_paced(bootstrap_servers, settings.input_topic, samples, rate)
    )
    log = tmp_path / "p.log"
    process = ProcessorProcess(settings, log, *LIVENESS).start()
    await asyncio.sleep(len(samples) / rate / 2)
    assert await process.stop(signal.SIGTERM) == 0, log.read_text()[-3000:]
    process.start()
    await load
    loaded = time.monotonic()
    assert await all_committed(settings, timeout_s=120), log.read_text()[-3000:]
    recovery_s = time.monotonic() - loaded
    assert await process.stop(signal.SIGTERM) == 0

    report = await audit_run(settings)
    campaign.append(ScenarioResult("2. SIGTERM and restart", report, recovery_s, True))
    assert report.lost == []
    assert report.duplicates == 0
    assert report.clean


async def test_instances_joining_and_leaving_keep_every_record_and_key_order(
    bootstrap_servers: str, unique_name: str, tmp_path: Path, campaign: list[ScenarioResult]
) -> None:
    settings = settings_for(
        bootstrap_servers, unique_name, queue_max_records=1000, commit_interval_ms=100
    )
    await create_topics(settings)
    samples = mixed_samples(scale(30_000, 80_000))
    rate = scale(3_000, 5_000)
    duration_s = len(samples) / rate
    load = asyncio.create_task(
        produce_paced(bootstrap_servers, settings.input_topic, samples, rate)
    )
    logs = [tmp_path / f"p{i}.log" for i in range(3)]
    first = ProcessorProcess(settings, logs[0], *LIVENESS).start()
    await asyncio.sleep(duration_s * 0.2)
    second = ProcessorProcess(settings, logs[1], *LIVENESS).start()
    third = ProcessorProcess(settings, logs[2], *LIVENESS).start()
    await asyncio.sleep(duration_s * 0.3)
    assert await second.stop(signal.SIGTERM) == 0, logs[1].read_text()[-3000:]
    await asyncio.sleep(duration_s * 0.2)
    assert await third.stop(signal.SIGKILL) == -signal.SIGKILL
    window = CrashWindow(await committed_now(settings), in_flight_bound(settings))
    await load
    loaded = time.monotonic()
    assert await all_committed(settings, timeout_s=180), logs[0].read_text()[-3000:]
    recovery_s = time.monotonic() - loaded
    assert await first.stop(signal.SIGTERM) == 0

    report = await audit_run(settings, [window])
    campaign.append(ScenarioResult("3. scale out and in", report, recovery_s, False))
    assert report.lost == []
    assert report.order_violations == []
    assert report.unexplained_duplicates == []
    assert report.clean
