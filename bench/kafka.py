"""The harness's own Kafka I/O: topics, a fast preloader, and watching a group's progress."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bench.contenders.ledger import LedgerTopics
from bench.data import InputRecord, partition_for
from processor.commands.topics import wait_for_leaders

BATCH_BYTES = 1024 * 1024
MAX_BATCHES_IN_FLIGHT = 16


def run_topics(input_topic: str) -> list[str]:
    """The input topic and the three outputs of one contender run."""
    out = LedgerTopics.for_input(input_topic)
    return [input_topic, out.additions, out.refunds, out.dlq]


async def create_topics(
    bootstrap: str,
    names: list[str],
    partitions: int,
    configs: dict[str, dict[str, str]] | None = None,
    replicas: int = 1,
) -> None:
    """Create the topics (with ``configs`` per topic name) and wait until every partition has a
    leader (else the first writes are refused with NotLeaderForPartition and retried, which would
    blur the first second)."""
    configs = configs or {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(name, partitions, replicas, topic_configs=configs.get(name, {}))
                for name in names
            ]
        )
        await wait_for_leaders(admin, names, partitions)
        await asyncio.sleep(0.5)  # leadership reaches the broker's metadata cache a bit later
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Free the disk of a finished run; failures only cost disk, so they are ignored."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(KafkaError):
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def preload(
    bootstrap: str, topic: str, records: Iterable[InputRecord], partitions: int
) -> float:
    """Write ``records`` with ``create_batch``/``send_batch`` (much faster than per-record
    ``send``); returns records per second."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_batch_size=BATCH_BYTES, linger_ms=0
    )
    await producer.start()
    started, count = time.perf_counter(), 0
    in_flight: set[asyncio.Future[Any]] = set()
    batches = [producer.create_batch() for _ in range(partitions)]
    timestamp_ms = int(time.time() * 1000)

    async def flush(partition: int) -> None:
        batch = batches[partition]
        batch.close()
        in_flight.add(await producer.send_batch(batch, topic, partition=partition))
        batches[partition] = producer.create_batch()
        if len(in_flight) >= MAX_BATCHES_IN_FLIGHT:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                future.result()
            in_flight.difference_update(done)

    try:
        for record in records:
            partition = partition_for(record.key, partitions)
            while batches[partition].append(
                key=record.key, value=record.value, timestamp=timestamp_ms
            ) is None:  # fmt: skip
                await flush(partition)
            count += 1
        for partition in range(partitions):
            if batches[partition].record_count():
                await flush(partition)
        await asyncio.gather(*in_flight)
    finally:
        await producer.stop()
    return count / (time.perf_counter() - started)


class Progress:
    """Watches a group's committed offsets and the outputs' end offsets from outside."""

    def __init__(self, bootstrap: str, input_topic: str, group: str, partitions: int) -> None:
        self.group = group
        self.input = input_topic
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.outputs = [
            TopicPartition(topic, p)
            for topic in run_topics(input_topic)[1:]
            for p in range(partitions)
        ]

    async def __aenter__(self) -> Progress:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.admin.close()
        await self.consumer.stop()

    async def committed(self) -> int:
        """Records committed by the group on the input topic (offsets start at 0)."""
        try:
            offsets = await self.admin.list_consumer_group_offsets(self.group)
        except KafkaError:
            return 0  # no coordinator yet for a group that never committed
        return sum(m.offset for tp, m in offsets.items() if tp.topic == self.input and m.offset > 0)

    async def written(self) -> int:
        """Records in the three output topics."""
        ends = await self.consumer.end_offsets(self.outputs)
        return sum(ends.values())
