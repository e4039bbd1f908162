"""Create the processor's topics when missing; report (never change) those that differ."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from processor.config import Settings, kafka_client_options
from processor.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class TopicReport:
    topic: str
    state: str  # "created", "ok" or "differs"
    detail: str = ""

    def line(self) -> str:
        return f"{self.topic}: {self.state}" + (f" ({self.detail})" if self.detail else "")


def topic_names(settings: Settings, pipeline: Pipeline) -> list[str]:
    """Input, outputs and dead-letter topic, in that order."""
    outputs = pipeline.output_topics(settings.input_topic)
    return [settings.input_topic, *outputs, settings.dead_letter_topic]


async def ensure_topics(settings: Settings, pipeline: Pipeline) -> list[TopicReport]:
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    await admin.start()
    try:
        wanted = topic_names(settings, pipeline)
        existing = await _partition_counts(admin, wanted)
        reports = []
        for topic in wanted:
            if topic in existing:
                reports.append(_compare(topic, existing[topic], settings.topic_partitions))
            else:
                await _create(admin, topic, settings)
                reports.append(
                    TopicReport(topic, "created", f"partitions={settings.topic_partitions}")
                )
        return reports
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    present = set(await admin.list_topics()) & set(topics)
    if not present:
        return {}
    described = await admin.describe_topics(sorted(present))
    return {entry["topic"]: len(entry["partitions"]) for entry in described}


async def _create(admin: AIOKafkaAdminClient, topic: str, settings: Settings) -> None:
    new = NewTopic(topic, settings.topic_partitions, settings.topic_replication_factor)
    with contextlib.suppress(TopicAlreadyExistsError):  # another instance was quicker
        await admin.create_topics([new])


def _compare(topic: str, partitions: int, wanted: int) -> TopicReport:
    if partitions == wanted:
        return TopicReport(topic, "ok", f"partitions={partitions}")
    return TopicReport(topic, "differs", f"partitions={partitions}, settings say {wanted}")
