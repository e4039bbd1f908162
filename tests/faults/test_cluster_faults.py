"""Scenarios 11 to 14, on a three-broker cluster under load: a partition leader's crash, every
processor process killed 10 times, a paused instance that comes back after its partitions moved
on (a zombie), and a broker restart; each audited record by record.

Topics have three replicas of which two must acknowledge (``acks=all``), so one broker may fail
with nothing lost. A fault that stops no processor may still make it read records again: the
group coordinator moves, commits fail and the group rebalances. Such duplicates must lie within
a window that opens at the fault, as those of a crash do.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from processor.broker import LocalCluster
from processor.commands.audit_report import AuditReport, CrashWindow
from processor.config import Settings
from tests.faults.campaign import (
    ScenarioResult,
    audit_run,
    committed_now,
    produce_paced,
    random_moments,
    scale,
)
from tests.faults.test_process_faults import LIVENESS, in_flight_bound
from tests.kafka_support import all_committed, create_topics, mixed_samples, settings_for
from tests.processes import ProcessorProcess

GUARANTEES = ["at-least-once", "exactly-once"]
pytestmark = [pytest.mark.cluster, pytest.mark.parametrize("guarantee", GUARANTEES)]
# How long a killed or stopped broker stays down.
DOWN_S = 5.0
# A paused instance stays paused this much longer than its session timeout.
PAUSED_PAST_SESSION_S = 4.0
SESSION_TIMEOUT_S = 6.0  # LIVENESS's --session-timeout-ms


def cluster_settings(cluster: LocalCluster, name: str, guarantee: str) -> Settings:
    return settings_for(
        cluster.bootstrap,
        name,
        queue_max_records=1000,
        commit_interval_ms=200,
        guarantee=guarantee,
    )


def processor(settings: Settings, log: Path, *extra: str) -> ProcessorProcess:
    """One processor process, in the settings' delivery mode."""
    return ProcessorProcess(settings, log, *LIVENESS, "--guarantee", settings.guarantee, *extra)


async def under_load(
    settings: Settings,
    records: int,
    rate: int,
    fault: Callable[[float], Awaitable[None]],
) -> float:
    """Produce ``records`` at ``rate`` while ``fault`` runs (given the load's duration); wait
    until the group has committed all of it; return how long that took after the load."""
    samples = mixed_samples(records)
    load = asyncio.create_task(
        produce_paced(settings.bootstrap_servers, settings.input_topic, samples, rate)
    )
    await fault(records / rate)
    await load
    loaded = time.monotonic()
    assert await all_committed(settings, timeout_s=240), "the group never caught up"
    return time.monotonic() - loaded


def assert_delivered(report: AuditReport, guarantee: str) -> None:
    """Nothing lost; duplicates only inside the fault windows, or (exactly-once) none at all,
    as a read_committed consumer sees the outputs."""
    assert report.lost == []
    assert report.in_both == []
    assert report.unexplained_duplicates == []
    assert report.order_violations == []
    assert report.clean
    if guarantee == "exactly-once":
        assert report.duplicates == 0


def scenario(name: str, guarantee: str) -> str:
    return f"{name} (cluster, {guarantee})"


async def window_now(settings: Settings) -> CrashWindow:
    return CrashWindow(await committed_now(settings), in_flight_bound(settings))


async def test_sigkill_of_a_partition_leader_under_load_loses_nothing(
    kafka_cluster: LocalCluster,
    unique_name: str,
    tmp_path: Path,
    campaign: list[ScenarioResult],
    guarantee: str,
) -> None:
    settings = cluster_settings(kafka_cluster, unique_name, guarantee)
    await create_topics(settings, replicas=3)
    process = processor(settings, tmp_path / "p.log").start()
    windows: list[CrashWindow] = []

    async def kill_the_input_leader(duration_s: float) -> None:
        await asyncio.sleep(duration_s / 3)
        leader = await asyncio.to_thread(kafka_cluster.leader_of, settings.input_topic, 0)
        assert kafka_cluster.kill(leader)
        windows.append(await window_now(settings))
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(kafka_cluster.start, leader)
        windows.append(await window_now(settings))

    recovery_s = await under_load(settings, scale(20_000, 60_000), scale(3_000, 5_000),
                                  kill_the_input_leader)  # fmt: skip
    assert process.running, process.log.read_text()[-3000:]
    assert await process.stop(signal.SIGTERM) == 0

    report = await audit_run(settings, windows)
    campaign.append(
        ScenarioResult(scenario("11. leader SIGKILL", guarantee), report, recovery_s, False)
    )
    assert_delivered(report, guarantee)


async def test_sigkill_of_the_processor_ten_times_on_the_cluster_loses_nothing(
    kafka_cluster: LocalCluster,
    unique_name: str,
    tmp_path: Path,
    campaign: list[ScenarioResult],
    guarantee: str,
) -> None:
    settings = cluster_settings(kafka_cluster, unique_name, guarantee)
    await create_topics(settings, replicas=3)
    process = processor(settings, tmp_path / "p.log", "--group-instance-id", f"{unique_name}-0")
    process.start()
    windows: list[CrashWindow] = []

    async def kill_ten_times(duration_s: float) -> None:
        began = time.monotonic()
        for moment in random_moments(10, duration_s, seed=10):
            await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
            assert await process.stop(signal.SIGKILL) == -signal.SIGKILL
            windows.append(await window_now(settings))
            process.start()

    recovery_s = await under_load(settings, scale(20_000, 60_000), scale(2_000, 4_000),
                                  kill_ten_times)  # fmt: skip
    assert await process.stop(signal.SIGTERM) == 0

    report = await audit_run(settings, windows)
    campaign.append(
        ScenarioResult(scenario("12. SIGKILL x10", guarantee), report, recovery_s, False)
    )
    assert_delivered(report, guarantee)


async def test_an_instance_paused_past_its_session_then_resumed_loses_nothing(
    kafka_cluster: LocalCluster,
    unique_name: str,
    tmp_path: Path,
    campaign: list[ScenarioResult],
    guarantee: str,
) -> None:
    settings = cluster_settings(kafka_cluster, unique_name, guarantee)
    await create_topics(settings, replicas=3)
    zombie = processor(settings, tmp_path / "a.log").start()
    other = processor(settings, tmp_path / "b.log").start()
    windows: list[CrashWindow] = []

    async def pause_one(duration_s: float) -> None:
        await asyncio.sleep(duration_s / 3)
        assert zombie.process is not None
        zombie.process.send_signal(signal.SIGSTOP)
        windows.append(await window_now(settings))
        await asyncio.sleep(SESSION_TIMEOUT_S + PAUSED_PAST_SESSION_S)  # the other takes over
        windows.append(await window_now(settings))
        zombie.process.send_signal(signal.SIGCONT)

    recovery_s = await under_load(settings, scale(20_000, 60_000), scale(3_000, 5_000),
                                  pause_one)  # fmt: skip
    assert zombie.running, zombie.log.read_text()[-3000:]
    assert await zombie.stop(signal.SIGTERM) == 0
    assert await other.stop(signal.SIGTERM) == 0

    report = await audit_run(settings, windows)
    campaign.append(
        ScenarioResult(scenario("13. paused past session", guarantee), report, recovery_s, False)
    )
    assert_delivered(report, guarantee)


async def test_a_restart_of_the_group_coordinator_under_load_loses_nothing(
    kafka_cluster: LocalCluster,
    unique_name: str,
    tmp_path: Path,
    campaign: list[ScenarioResult],
    guarantee: str,
) -> None:
    settings = cluster_settings(kafka_cluster, unique_name, guarantee)
    await create_topics(settings, replicas=3)
    process = processor(settings, tmp_path / "p.log").start()
    windows: list[CrashWindow] = []

    async def restart_the_coordinator(duration_s: float) -> None:
        await asyncio.sleep(duration_s / 3)
        # One partition of consumer offsets on this cluster: its leader coordinates every group
        # (and receives the offsets a transaction commits).
        coordinator = await asyncio.to_thread(kafka_cluster.leader_of, "__consumer_offsets", 0)
        windows.append(await window_now(settings))
        assert await asyncio.to_thread(kafka_cluster.stop, coordinator)
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(kafka_cluster.start, coordinator)
        windows.append(await window_now(settings))

    recovery_s = await under_load(settings, scale(20_000, 60_000), scale(3_000, 5_000),
                                  restart_the_coordinator)  # fmt: skip
    assert process.running, process.log.read_text()[-3000:]
    assert await process.stop(signal.SIGTERM) == 0

    report = await audit_run(settings, windows)
    campaign.append(
        ScenarioResult(scenario("14. coordinator restart", guarantee), report, recovery_s, False)
    )
    assert_delivered(report, guarantee)
