"""`processor topics ensure` against the real broker: create what is missing, report differences."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from processor.commands.cli import main
from processor.commands.topics import TopicShape, ensure_topics, existing_shapes
from processor.config import Settings
from processor.pipelines.transactions import pipeline as transactions
from processor.topology import topic_names
from tests.kafka_support import create_topics, settings_for

HOUR_MS = 3_600_000


async def shapes(settings: Settings) -> dict[str, TopicShape]:
    """The shapes of the processor's topics, once the metadata lists every one of them."""
    names = topic_names(settings, transactions)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        for _ in range(50):  # a just-created topic can take a moment to appear everywhere
            found = await existing_shapes(admin, names)
            if set(found) == set(names):
                break
            await asyncio.sleep(0.2)
        return found
    finally:
        await admin.close()


def cli_args(settings: Settings, **extra: Any) -> list[str]:
    args = [
        "topics",
        "ensure",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--input-topic",
        settings.input_topic,
    ]
    for name, value in extra.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    return args


async def test_missing_topics_are_created_with_partitions_replication_and_retention(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(
        bootstrap_servers, unique_name, topic_partitions=3, topic_retention_ms=HOUR_MS
    )
    reports = await ensure_topics(settings, transactions)
    assert [(r.topic, r.state) for r in reports] == [
        (topic, "created") for topic in topic_names(settings, transactions)
    ]
    found = await shapes(settings)
    assert found[settings.input_topic] == TopicShape(3, 1, HOUR_MS)
    assert found[settings.dead_letter_topic] == TopicShape(3, 1, settings.dlq_retention_ms)


async def test_a_second_run_finds_everything_ok(bootstrap_servers: str, unique_name: str) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await ensure_topics(settings, transactions)
    assert {r.state for r in await ensure_topics(settings, transactions)} == {"ok"}


async def test_existing_topics_that_differ_are_reported_and_left_alone(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(
        bootstrap_servers, unique_name, topic_partitions=2, topic_retention_ms=HOUR_MS
    )
    await create_topics(settings, partitions=4)  # broker defaults for retention
    before = await shapes(settings)

    reports = {r.topic: r for r in await ensure_topics(settings, transactions)}

    assert {r.state for r in reports.values()} == {"differs"}
    detail = reports[settings.input_topic].detail
    assert "partitions=4, settings say 2" in detail
    assert f"retention.ms={before[settings.input_topic].retention_ms}, settings say {HOUR_MS}" in (
        detail
    )
    assert await shapes(settings) == before


async def test_the_command_exits_0_when_all_is_well_and_1_when_a_topic_differs(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    assert await asyncio.to_thread(main, cli_args(settings)) == 0
    assert await asyncio.to_thread(main, cli_args(settings)) == 0
    assert await asyncio.to_thread(main, cli_args(settings, topic_partitions=8)) == 1


async def test_a_topic_the_cluster_cannot_create_fails_the_command(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, topic_replication_factor=99)
    reports = await ensure_topics(settings, transactions)
    assert {r.state for r in reports} == {"failed"}
    assert "InvalidReplicationFactor" in reports[0].detail
    assert await asyncio.to_thread(main, cli_args(settings, topic_replication_factor=99)) == 1
