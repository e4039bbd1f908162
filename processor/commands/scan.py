"""Read a whole topic, from its beginning to the end it had when the scan started, with no group."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from processor.commands.coordinator import once_ready
from processor.config import IsolationLevel, Settings, kafka_client_options
from processor.connect import start_client
from processor.engine.rawread import read_partition_raw, undecodable
from processor.logs import get_logger
from processor.metadata import partitions_of
from processor.security.permissions import Need, group_named

log = get_logger("processor.commands.scan")


class UnknownTopicError(LookupError):
    """The topic does not exist on the cluster."""


@dataclass(frozen=True, slots=True)
class TopicRead:
    """A whole topic as one isolation level reads it."""

    records: list[Any]  # in order per partition
    # Per partition, where the read stopped: the end it had when the read began (under
    # read_committed, the last stable offset: below it every transaction is settled).
    ends: dict[int, int]


async def scan(
    settings: Settings, topic: str, ends_found: dict[int, int] | None = None
) -> AsyncIterator[Any]:
    """Yield every record of ``topic`` (aiokafka ``ConsumerRecord``s), in order per partition,
    read with ``settings.isolation_level``; ``ends_found`` gets where each partition's read ends.

    Records the client library cannot decode (a header key that is not UTF-8, a batch it cannot
    read) come from a raw read instead (:mod:`processor.engine.rawread`), so a scan never stops
    at them.
    """
    ends = {} if ends_found is None else ends_found
    # aclosing: a caller that stops early and closes this scan closes the consumer now.
    async with contextlib.aclosing(
        _scan(settings, topic, settings.isolation_level, ends)
    ) as records:
        async for record in records:
            yield record


async def read_topic(settings: Settings, topic: str, isolation: IsolationLevel) -> TopicRead:
    """Every record of ``topic`` read with ``isolation``, and where each partition's read ended."""
    ends: dict[int, int] = {}
    records = [record async for record in _scan(settings, topic, isolation, ends)]
    return TopicRead(records, ends)


async def scan_ranges(
    settings: Settings, topic: str, ranges: dict[int, tuple[int, int]]
) -> AsyncIterator[Any]:
    """Yield the records of ``topic`` in ``ranges`` (partition: [first, stop) offsets), in order
    per partition, read as :func:`scan` reads."""
    async with contextlib.aclosing(
        _scan(settings, topic, settings.isolation_level, {}, ranges)
    ) as records:
        async for record in records:
            yield record


async def offset_bounds(settings: Settings, topic: str) -> dict[int, tuple[int, int]]:
    """Each partition's first offset and its end (under read_committed, the last stable one)."""
    consumer = await _reader(settings, topic, settings.isolation_level)
    try:
        partitions = await _partitions(consumer, topic)
        firsts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {tp.partition: (firsts[tp], ends[tp]) for tp in partitions}


async def _scan(
    settings: Settings,
    topic: str,
    isolation: IsolationLevel,
    ends_found: dict[int, int],
    ranges: dict[int, tuple[int, int]] | None = None,
) -> AsyncGenerator[Any, None]:
    """The scan itself; it fills ``ends_found`` with each partition's end once it knows them.
    ``ranges`` reads only those offsets of those partitions instead of everything."""
    consumer = await _reader(settings, topic, isolation)
    read_committed = isolation == "read_committed"
    try:
        partitions = await _partitions(consumer, topic)
        if ranges is not None:
            partitions = [tp for tp in partitions if tp.partition in ranges]
        consumer.assign(partitions)
        if ranges is None:
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
        else:
            for tp in partitions:
                consumer.seek(tp, ranges[tp.partition][0])
            ends = {tp: ranges[tp.partition][1] for tp in partitions}
        ends_found.update((tp.partition, end) for tp, end in ends.items())
        # Where each partition goes on: a failed poll may move positions past records it
        # never returned.
        next_offsets = {tp: await consumer.position(tp) for tp in partitions}
        remaining = {tp for tp in partitions if next_offsets[tp] < ends[tp]}
        while remaining:
            batches = await _poll(consumer, remaining, next_offsets, settings, read_committed)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            # Every partition, not only those a poll returned records of: read_committed, a poll
            # moves past aborted records and transaction markers and returns nothing for them.
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


async def follow(settings: Settings, topic: str, starts: dict[int, int]) -> AsyncIterator[Any]:
    """Yield the records of ``topic`` from ``starts`` (partition: offset) on, as they arrive,
    until closed; partitions added to the topic later are not followed."""
    consumer = await _reader(settings, topic, settings.isolation_level)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(starts)]
        consumer.assign(partitions)
        next_offsets = {tp: starts[tp.partition] for tp in partitions}
        for tp, offset in next_offsets.items():
            consumer.seek(tp, offset)
        read_committed = settings.isolation_level == "read_committed"
        while True:
            polled = await _poll(consumer, set(partitions), next_offsets, settings, read_committed)
            for records in polled.values():
                for record in records:
                    yield record
    finally:
        await consumer.stop()


async def _poll(
    consumer: AIOKafkaConsumer,
    partitions: set[TopicPartition],
    next_offsets: dict[TopicPartition, int],
    settings: Settings,
    read_committed: bool,
) -> dict[TopicPartition, list[Any]]:
    """One poll of ``partitions``, read raw where the client cannot decode a fetch; moves
    ``next_offsets`` past what it returns."""
    try:
        batches: dict[TopicPartition, list[Any]] = await consumer.getmany(
            *partitions, timeout_ms=1000
        )
    except Exception as exc:
        if not undecodable(exc):
            raise
        log.warning("undecodable_fetch", topic=next(iter(partitions)).topic, error=repr(exc))
        batches = {}
        for tp in sorted(partitions):
            read = await read_partition_raw(
                consumer, tp, next_offsets[tp], settings.max_partition_fetch_bytes, read_committed
            )
            batches[tp] = read.records
            next_offsets[tp] = read.next_offset
    for tp, records in batches.items():
        if records:
            next_offsets[tp] = max(next_offsets[tp], records[-1].offset + 1)
    return batches


async def _reader(settings: Settings, topic: str, isolation: IsolationLevel) -> AIOKafkaConsumer:
    """A started consumer in no group, allowed to read ``topic``, that commits nothing."""
    consumer = AIOKafkaConsumer(
        **kafka_client_options(settings),
        enable_auto_commit=False,
        group_id=None,
        isolation_level=isolation,
    )
    await start_client(consumer, settings, [Need("READ", topic)])
    return consumer


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    numbers = await partitions_of(consumer, topic)
    if not numbers:
        raise UnknownTopicError(f"topic {topic!r} does not exist")
    return [TopicPartition(topic, number) for number in sorted(numbers)]


async def committed_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The offsets ``settings.group_id`` has committed for ``topic``, by partition.

    On a cluster that never had a group, the offsets topic is created by this first request:
    its coordinator is not available for a moment, so ask again for a while.
    """
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    await start_client(admin, settings)
    try:
        with group_named(settings, settings.group_id, "DESCRIBE"):
            offsets = await once_ready(lambda: admin.list_consumer_group_offsets(settings.group_id))
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
