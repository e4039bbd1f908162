"""Reading the dead-letter topic for the dlq commands: without a group, committing nothing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition

from processor.commands.deadletters import DeadLetter, Filter
from processor.commands.scan import UnknownTopicError, scan
from processor.config import Settings, kafka_client_options
from processor.connect import start_client
from processor.metadata import refresh_metadata
from processor.security.permissions import Need


async def select(settings: Settings, wanted: Filter, limit: int = 0) -> list[DeadLetter]:
    """The dead letters ``wanted`` matches, in order per partition; ``limit`` 0 means all."""
    chosen: list[DeadLetter] = []
    records = cast(AsyncGenerator[Any, None], scan(settings, settings.dead_letter_topic))
    # aclosing: stopping early (a limit) closes the consumer now, not when the event loop ends.
    async with contextlib.aclosing(records):
        async for record in records:
            letter = DeadLetter.from_record(record)
            if wanted.matches(letter):
                chosen.append(letter)
                if limit and len(chosen) >= limit:
                    break
    return chosen


async def read_one(settings: Settings, partition: int, offset: int) -> DeadLetter | None:
    """The dead letter at ``partition``/``offset``, read directly rather than by a scan."""
    topic = settings.dead_letter_topic
    consumer = AIOKafkaConsumer(
        **kafka_client_options(settings), enable_auto_commit=False, group_id=None
    )
    await start_client(consumer, settings, [Need("READ", topic)])
    try:
        await refresh_metadata(consumer)  # this very topic may have grown partitions
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise UnknownTopicError(f"topic {topic!r} does not exist")
        if partition not in partitions:
            return None
        where = TopicPartition(topic, partition)
        consumer.assign([where])
        first = (await consumer.beginning_offsets([where]))[where]
        end = (await consumer.end_offsets([where]))[where]
        # Outside the retained range a fetch would reset to the end and wait for new records.
        if not first <= offset < end:
            return None
        consumer.seek(where, offset)
        record = await consumer.getone(where)
        # A compacted topic may have no record at this offset; the fetch then gives a later one.
        return DeadLetter.from_record(record) if record.offset == offset else None
    finally:
        await consumer.stop()
