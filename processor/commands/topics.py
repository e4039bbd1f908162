"""Create the processor's topics when missing; report (never change) those that differ.

Changing partitions or retention of a live topic moves keys between partitions or deletes data,
so that stays a deliberate operator's step: this only says what differs (and exits 1 in the CLI).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from processor.config import Settings, kafka_client_options
from processor.connect import start_client
from processor.pipeline import PipelineLike
from processor.security.permissions import Need
from processor.topology import topic_names

RETENTION = "retention.ms"
METADATA_ATTEMPTS = 25
METADATA_RETRY_S = 0.2


class TopicCreationError(Exception):
    """The cluster refused to create a topic (e.g. more replicas than brokers)."""


@dataclass(frozen=True, slots=True)
class TopicShape:
    partitions: int
    replication_factor: int
    retention_ms: int | None  # None: the broker did not say

    def describe(self) -> str:
        return (
            f"partitions={self.partitions}, replication={self.replication_factor}, "
            f"{RETENTION}={self.retention_ms}"
        )


@dataclass(frozen=True, slots=True)
class TopicReport:
    topic: str
    state: str  # "created", "ok", "differs" or "failed"
    detail: str = ""

    def line(self) -> str:
        return f"{self.topic}: {self.state}" + (f" ({self.detail})" if self.detail else "")


def wanted_shapes(settings: Settings, pipeline: PipelineLike) -> dict[str, TopicShape]:
    """What the settings ask for each topic; dead letters are kept longer, for investigation."""
    shapes = {}
    for topic in topic_names(settings, pipeline):
        is_dlq = topic == settings.dead_letter_topic
        retention_ms = settings.dlq_retention_ms if is_dlq else settings.topic_retention_ms
        shapes[topic] = TopicShape(
            settings.topic_partitions, settings.topic_replication_factor, retention_ms
        )
    return shapes


def differences(actual: TopicShape, wanted: TopicShape) -> list[str]:
    """Each way ``actual`` differs from ``wanted``, readable; empty when they agree."""
    found = []
    for name, have, want in (
        ("partitions", actual.partitions, wanted.partitions),
        ("replication", actual.replication_factor, wanted.replication_factor),
        (RETENTION, actual.retention_ms, wanted.retention_ms),
    ):
        if have != want:
            found.append(f"{name}={have}, settings say {want}")
    return found


def report(topic: str, actual: TopicShape, wanted: TopicShape) -> TopicReport:
    found = differences(actual, wanted)
    if found:
        return TopicReport(topic, "differs", "; ".join(found))
    return TopicReport(topic, "ok", actual.describe())


async def ensure_topics(settings: Settings, pipeline: PipelineLike) -> list[TopicReport]:
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    wanted = wanted_shapes(settings, pipeline)
    # Comparing an existing topic reads its configuration (its retention).
    await start_client(admin, settings, [Need("DESCRIBE_CONFIGS", topic) for topic in wanted])
    try:
        existing = await existing_shapes(admin, list(wanted))
        return [
            report(topic, existing[topic], shape)
            if topic in existing
            else await _create_or_compare(admin, topic, shape)
            for topic, shape in wanted.items()
        ]
    finally:
        await admin.close()


async def wait_for_leaders(
    admin: AIOKafkaAdminClient,
    topics: list[str],
    partitions: int,
    timeout_s: float = 30.0,
    interval_s: float = 0.05,
) -> bool:
    """Wait until each of ``topics`` has ``partitions`` partitions, every one with a leader.

    The controller acknowledges a new topic before every broker's metadata has it: until then
    writes are refused with NotLeaderForPartition and existence checks can miss it.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(topics)
        leaders = [p.get("leader", -1) for t in described for p in t.get("partitions", [])]
        if len(leaders) == len(topics) * partitions and min(leaders, default=-1) >= 0:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)


async def existing_shapes(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, TopicShape]:
    present = sorted(set(await admin.list_topics()) & set(topics))
    if not present:
        return {}
    described = await admin.describe_topics(present)
    retention = await _retention_ms(admin, present)
    shapes = {}
    for entry in described:
        partitions = entry["partitions"]
        replication = min((len(p["replicas"]) for p in partitions), default=0)
        topic = entry["topic"]
        shapes[topic] = TopicShape(len(partitions), replication, retention.get(topic))
    return shapes


async def _retention_ms(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, topic, configs={RETENTION: None})
        for topic in topics
    ]
    found: dict[str, int] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            found.update(_retention_of(resource))
    return found


def _retention_of(resource: dict[str, Any]) -> dict[str, int]:
    if resource["error_code"] != 0:
        return {}
    for entry in resource["config_entries"]:
        # aiokafka names the field ``config_names`` in this response schema.
        if entry.get("config_names", entry.get("config_name")) == RETENTION:
            return {resource["resource_name"]: int(entry["config_value"])}
    return {}


async def _create_or_compare(
    admin: AIOKafkaAdminClient, topic: str, shape: TopicShape
) -> TopicReport:
    try:
        created = await _create(admin, topic, shape)
    except TopicCreationError as exc:
        return TopicReport(topic, "failed", str(exc))
    if created:
        return TopicReport(topic, "created", shape.describe())
    # Created meanwhile by someone else: compare it like any existing topic.
    return await _report_when_visible(admin, topic, shape)


async def _report_when_visible(
    admin: AIOKafkaAdminClient, topic: str, wanted: TopicShape
) -> TopicReport:
    # The broker said it exists, but its metadata can take a moment to list it.
    for _ in range(METADATA_ATTEMPTS):
        found = await existing_shapes(admin, [topic])
        if topic in found:
            return report(topic, found[topic], wanted)
        await asyncio.sleep(METADATA_RETRY_S)
    return TopicReport(topic, "failed", "exists, but the cluster does not describe it")


async def _create(admin: AIOKafkaAdminClient, topic: str, shape: TopicShape) -> bool:
    """True when this call created ``topic``; False when it already existed."""
    new = NewTopic(
        topic,
        shape.partitions,
        shape.replication_factor,
        topic_configs={RETENTION: str(shape.retention_ms)},
    )
    # The admin client returns per-topic errors in the response instead of raising them.
    response = await admin.create_topics([new])
    for error in response.to_object()["topic_errors"]:
        code = error["error_code"]
        if code == TopicAlreadyExistsError.errno:
            return False
        if code != 0:
            raise TopicCreationError(f"{for_code(code).__name__}: {error['error_message']}")
    return True
