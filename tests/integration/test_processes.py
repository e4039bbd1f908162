"""One instance, several consumer processes (``--processes 2``), against the real broker: they
share the partitions, stop together, and never outlive their supervisor."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from pathlib import Path

from processor.config import Settings
from tests.kafka_support import (
    all_committed,
    collect,
    create_topics,
    mixed_samples,
    produce,
    settings_for,
    wait_until,
)
from tests.observability.http_client import free_port, get, wait_for_status
from tests.processes import ProcessorProcess

COUNT = 4_000
TWO = ("--processes", "2")


def events(log: Path, name: str) -> list[dict[str, object]]:
    lines = (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == name]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits for its parent to read its status.
    with Path(f"/proc/{pid}/stat").open() as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


async def started(process: ProcessorProcess, log: Path, count: int = 2) -> set[int]:
    """The PIDs of the supervisor's processes, once ``count`` of them have started."""

    async def ready() -> bool:
        return len(events(log, "started")) >= count

    assert await wait_until(ready, timeout_s=60), events(log, "task_crashed")
    pids = events(log, "supervising")[-1]["pids"]
    assert isinstance(pids, list)
    return {int(pid) for pid in pids}


async def backlog(settings: Settings) -> Counter[str]:
    await create_topics(settings)
    samples = mixed_samples(COUNT)
    await produce(settings.bootstrap_servers, settings.input_topic, samples)
    return Counter(s.test_id for s in samples)


async def until_all_committed_then_stop(process: ProcessorProcess) -> None:
    """Let the instance work until the group has committed everything; SIGTERM must exit 0."""
    try:
        assert await all_committed(process.settings, timeout_s=120), process.log.read_text()
    finally:
        assert await process.stop(signal.SIGTERM) == 0, process.log.read_text()


async def test_two_processes_share_the_partitions_and_deliver_everything_once(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    expected = await backlog(settings)
    log = tmp_path / "processor.log"

    process = ProcessorProcess(settings, log, *TWO).start()
    await until_all_committed_then_stop(process)
    assert Counter((await collect(settings)).ids()) == expected
    owners = {e["process"] for e in events(log, "partitions_assigned") if e["partitions"]}
    assert owners == {0, 1}
    assert [e["exit_code"] for e in events(log, "process_stopped")] == [0, 0]


async def test_sigterm_stops_every_process_cleanly(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    log = tmp_path / "processor.log"

    process = ProcessorProcess(settings, log, *TWO).start()
    children = await started(process, log)
    assert len(children) == 2
    assert await process.stop(signal.SIGTERM) == 0, log.read_text()
    assert not any(alive(pid) for pid in children)
    assert len(events(log, "drained")) == 2


async def test_a_process_that_dies_stops_the_others_and_the_instance_fails(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    log = tmp_path / "processor.log"

    process = ProcessorProcess(settings, log, *TWO).start()
    victim, other = sorted(await started(process, log))
    os.kill(victim, signal.SIGKILL)
    assert process.process is not None
    code = await asyncio.to_thread(process.process.wait, 60)
    assert code == 128 + signal.SIGKILL, log.read_text()
    assert not alive(other)
    assert [e["exit_code"] for e in events(log, "process_exited")] == [-signal.SIGKILL]
    assert [e["exit_code"] for e in events(log, "process_stopped")] == [0]


async def test_processes_stop_by_themselves_when_the_supervisor_is_killed(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    expected = await backlog(settings)
    log = tmp_path / "processor.log"

    process = ProcessorProcess(settings, log, *TWO).start()
    children = await started(process, log)
    assert await process.stop(signal.SIGKILL) == -signal.SIGKILL

    async def orphans_gone() -> bool:
        return not any(alive(pid) for pid in children)

    assert await wait_until(orphans_gone, timeout_s=60), log.read_text()
    assert len(events(log, "supervisor_gone")) == 2
    # They drained and committed on the way out: a restart finds the rest, and nothing is lost.
    process.start()
    await started(process, log, count=4)
    await until_all_committed_then_stop(process)
    assert set((await collect(settings)).ids()) == set(expected)


async def test_the_instance_port_serves_every_process(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    expected = await backlog(settings)
    log = tmp_path / "processor.log"
    port = free_port()

    http = ("--http-port", str(port), "--http-host", "127.0.0.1")
    process = ProcessorProcess(settings, log, *TWO, *http).start()
    try:
        assert "ready (2 processes)" in await wait_for_status(port, "/readyz", 200)
        assert await all_committed(settings, timeout_s=120), log.read_text()
        status, body = await get(port, "/metrics")
        assert status == 200
        assert 'processor_process_up{process="0"} 1' in body
        assert 'processor_process_up{process="1"} 1' in body
        consumed = [
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("processor_records_consumed_total{")
        ]
        assert len(consumed) == 2
        assert sum(consumed) >= sum(expected.values())
        assert body.count("# TYPE processor_records_consumed_total counter") == 1
        status, _ = await get(port, "/healthz")
        assert status == 200
    finally:
        assert await process.stop(signal.SIGTERM) == 0, log.read_text()
