"""Cluster metadata a consumer does not fetch by itself: the one place that reaches for it.

An aiokafka consumer only learns the metadata of topics it subscribes to or is assigned. Reading
a topic without a group, or fetching raw, needs the rest, and only aiokafka's client (not its
public API) refreshes it on demand.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer


async def refresh_metadata(consumer: AIOKafkaConsumer) -> None:
    """Ask the cluster for the metadata of every topic."""
    await consumer._client.force_metadata_update()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The partition numbers of ``topic``; empty when the cluster does not have it."""
    found = consumer.partitions_for_topic(topic)
    if not found:
        await refresh_metadata(consumer)
        found = consumer.partitions_for_topic(topic)
    return set(found or ())
