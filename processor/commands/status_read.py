"""Reading a consumer group's status from the cluster: its description, its committed offsets
(and the commit times their metadata carry), and the end of each partition."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from processor.commands.groups import NO_SUCH_GROUP, Group, UnknownGroupError, describe_group
from processor.commands.scan import UnknownTopicError
from processor.commands.status_view import GroupStatus, PartitionStatus
from processor.config import Settings, kafka_client_options
from processor.connect import close_client, start_client
from processor.engine.committime import committed_at
from processor.metadata import refresh_metadata
from processor.security.permissions import group_named


class GroupReader:
    """The clients ``status`` asks with, open across ``--watch``'s snapshots. The consumer
    belongs to no group: it reads end offsets with the settings' isolation level."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._options = kafka_client_options(settings)
        self._admin = AIOKafkaAdminClient(**self._options)
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> GroupReader:
        await start_client(self._admin, self._settings)
        # Made only now: a client never started warns "Unclosed" when collected.
        consumer = AIOKafkaConsumer(
            **self._options,
            enable_auto_commit=False,
            group_id=None,
            isolation_level=self._settings.isolation_level,
        )
        try:
            await start_client(consumer, self._settings)
        except BaseException:
            await close_client(self._admin)
            raise
        self._consumer = consumer
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._consumer is not None:
            await close_client(self._consumer)
        await close_client(self._admin)

    async def snapshot(self, group_id: str, topics: Collection[str] = ()) -> GroupStatus:
        """The group now; ``topics`` are shown whole (and must exist) besides those the group
        has committed to or been assigned."""
        consumer = self._started()
        with group_named(self._settings, group_id, "DESCRIBE"):
            group = await describe_group(self._admin, group_id)
            offsets = await self._admin.list_consumer_group_offsets(group_id)
        if group.state == NO_SUCH_GROUP and not offsets:
            raise UnknownGroupError(
                f"group {group_id!r} does not exist (no members, no committed offsets)"
            )
        await refresh_metadata(consumer)  # partitions added since the last snapshot
        shown = _shown(consumer, set(offsets), group, topics)
        # A topic deleted since the group committed to it has no end any more.
        present = [
            tp for tp in shown if tp.partition in (consumer.partitions_for_topic(tp.topic) or ())
        ]
        ends = await consumer.end_offsets(present) if present else {}
        taken_at = datetime.now(UTC)
        partitions = tuple(
            PartitionStatus(
                tp.topic,
                tp.partition,
                offsets[tp].offset if tp in offsets and offsets[tp].offset >= 0 else None,
                committed_at(offsets[tp].metadata) if tp in offsets else None,
                ends.get(tp),
            )
            for tp in sorted(shown)
        )
        return GroupStatus(group, partitions, self._settings.isolation_level, taken_at)

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("GroupReader used outside its async with")
        return self._consumer


def _shown(
    consumer: AIOKafkaConsumer,
    committed: set[TopicPartition],
    group: Group,
    topics: Collection[str],
) -> set[TopicPartition]:
    """The partitions a status shows: those committed to, those assigned, and every partition
    of ``topics`` (which must exist)."""
    shown = committed | {TopicPartition(t, p) for m in group.members for t, p in m.partitions}
    for topic in topics:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise UnknownTopicError(f"topic {topic!r} does not exist")
        shown |= {TopicPartition(topic, number) for number in numbers}
    return shown
