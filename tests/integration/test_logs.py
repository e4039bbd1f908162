"""The logs of a running instance as a log pipeline reads them, and its members as the broker
sees them."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from processor.config import Settings
from processor.pipelines.transactions import pipeline as transactions
from processor.topology import topic_names
from tests.kafka_support import create_topics, mixed_samples, produce, settings_for, wait_until
from tests.processes import ProcessorProcess


def lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if line.strip()]


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(log) if line.startswith("{")]


@contextlib.asynccontextmanager
async def two_processes(settings: Settings, log: Path) -> AsyncIterator[ProcessorProcess]:
    """An instance of two processes that has joined its group, logging JSON to ``log``."""
    await create_topics(settings, partitions=2)
    process = ProcessorProcess(
        settings, log, "--processes", "2", "--shutdown-timeout-s", "2"
    ).start()

    async def both_started() -> bool:
        started: int = sum(e.get("event") == "started" for e in logged(log))
        return started == 2

    try:
        assert await wait_until(both_started, timeout_s=60), "\n".join(lines(log))
        yield process
    finally:
        if process.running:
            await process.stop(signal.SIGTERM)


async def members(settings: Settings) -> list[dict[str, Any]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([settings.group_id])
    finally:
        await admin.close()
    [group] = response.to_object()["groups"]
    return list(group["members"])


async def test_every_line_is_json_with_the_librarys_warnings_too(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    log = tmp_path / "processor.log"
    async with two_processes(settings, log):
        # An output topic goes away under load: aiokafka warns of the refused writes itself.
        output = next(t for t in topic_names(settings, transactions) if t.endswith(".additions"))
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics([output])
        finally:
            await admin.close()
        await produce(bootstrap_servers, settings.input_topic, mixed_samples(200))

        async def library_spoke() -> bool:
            return any(str(e.get("logger", "")).startswith("aiokafka") for e in logged(log))

        assert await wait_until(library_spoke, timeout_s=60), "\n".join(lines(log))
    text = lines(log)
    assert all(line.startswith("{") for line in text), [x for x in text if x[:1] != "{"][:5]
    events = logged(log)  # each parses
    library = [e for e in events if str(e.get("logger", "")).startswith("aiokafka")]
    assert {"event", "level", "timestamp", "process"} <= set(library[0]), library[0]
    assert not [line for line in text if "TopicPartition(" in line]
    assigned = [p for e in events if e["event"] == "partitions_assigned" for p in e["partitions"]]
    # Rebalances may hand a partition out more than once; each is named topic/partition.
    assert set(assigned) == {f"{settings.input_topic}/0", f"{settings.input_topic}/1"}


async def test_each_process_is_a_member_with_a_client_id_of_its_own(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    async with two_processes(settings, tmp_path / "processor.log"):
        found = {member["client_id"] for member in await members(settings)}
    prefix = f"{settings.group_id}-{socket.gethostname()}"
    assert found == {f"{prefix}-0", f"{prefix}-1"}
    assert all(re.fullmatch(r"[\w.-]+", client_id) for client_id in found)
