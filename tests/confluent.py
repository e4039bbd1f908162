"""Foreign producers: records written by confluent-kafka (librdkafka), as the broker stores them.

Other clients write what aiokafka never does: batches in every codec framed their own way, null
header values, records with neither key nor value. ``produce_confluent`` is the one typed door to
confluent_kafka here; ``stored_batches`` reads the batches as the broker keeps them (raw Fetch
responses, not decoded records) so a test can prove which codec really went over the wire.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from aiokafka import AIOKafkaClient, TopicPartition
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

# confluent-kafka ships type hints only from 2.13 on; the ignore keeps mypy quiet with either.
from confluent_kafka import KafkaError, Message, Producer  # type: ignore[import-untyped, unused-ignore]

from tests.kafka_support import end_offsets

Codec = Literal["none", "gzip", "snappy", "lz4", "zstd"]
CODECS: tuple[Codec, ...] = ("gzip", "snappy", "lz4", "zstd")
# The batch attribute bits (Kafka's RecordBatch format) naming each codec.
_CODEC_IDS: dict[int, Codec] = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

Headers: TypeAlias = Sequence[tuple[str, bytes | None]]
# key, value, headers, partition (None: librdkafka's partitioner chooses).
Record: TypeAlias = tuple[bytes | None, bytes | None, Headers, int | None]

# Far above the broker's limit, so that the broker, not this client, decides what is too large.
CLIENT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
FLUSH_TIMEOUT_S = 60.0
FETCH_MAX_BYTES = 4 * 1024 * 1024


class DeliveryFailed(AssertionError):
    """The broker did not acknowledge every record; the message names the first failures."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where the broker stored one record."""

    partition: int
    offset: int


def produce_confluent(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    compression: Codec = "none",
    linger_ms: int = 100,
    batch_size: int = 1_000_000,
) -> list[Delivered]:
    """Produce ``records`` with one librdkafka producer; their coordinates, in the same order.

    Blocks until every record is acknowledged; raises :class:`DeliveryFailed` if any is not.
    """
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "compression.type": compression,
        "linger.ms": linger_ms,
        "batch.size": batch_size,
        "message.max.bytes": CLIENT_MAX_MESSAGE_BYTES,
        "acks": "all",
        "enable.idempotence": True,  # retries never duplicate or reorder the corpus
    })  # fmt: skip
    reports: list[Delivered | str | None] = [None] * len(records)

    def on_delivery(index: int, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            reports[index] = f"record {index}: {error}"
            return
        partition, offset = message.partition(), message.offset()
        if partition is None or offset is None or offset < 0:
            reports[index] = f"record {index}: acknowledged without an offset"
            return
        reports[index] = Delivered(partition, offset)

    for index, (key, value, headers, partition) in enumerate(records):
        send = functools.partial(
            producer.produce,
            topic,
            value=value,
            key=key,
            partition=-1 if partition is None else partition,
            headers=list(headers),
            on_delivery=functools.partial(on_delivery, index),
        )
        try:
            send()
        except BufferError:  # the local queue is full: let deliveries drain it, then once more
            producer.flush(FLUSH_TIMEOUT_S)
            send()
        producer.poll(0)
    unsent = producer.flush(FLUSH_TIMEOUT_S)
    failures = [report for report in reports if not isinstance(report, Delivered)]
    if unsent or failures:
        shown = [str(f) if f is not None else "no delivery report" for f in failures[:5]]
        raise DeliveryFailed(
            f"{len(failures)} of {len(records)} records not acknowledged ({unsent} still "
            f"queued): {shown}"
        )
    return [report for report in reports if isinstance(report, Delivered)]


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """One record batch as the broker keeps it."""

    partition: int
    base_offset: int
    next_offset: int
    codec: Codec

    def holds(self, partition: int, offset: int) -> bool:
        return partition == self.partition and self.base_offset <= offset < self.next_offset


async def stored_batches(bootstrap: str, topic: str) -> list[StoredBatch]:
    """Every batch of ``topic``, read with raw Fetch requests so that nothing is decompressed."""
    ends = await end_offsets(bootstrap, topic)
    client: Any = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        await client._wait_on_metadata(topic)  # the client learns a topic's leaders on demand
        batches: list[StoredBatch] = []
        for partition, end in sorted(ends.items()):
            leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
            offset = 0
            while offset < end:
                found = await _fetch(client, leader, topic, partition, offset)
                if not found:
                    raise AssertionError(f"{topic}/{partition}: no batch at offset {offset}")
                batches += found
                offset = found[-1].next_offset
        return batches
    finally:
        await client.close()


async def _fetch(
    client: Any, leader: int, topic: str, partition: int, offset: int
) -> list[StoredBatch]:
    request = FetchRequest(
        max_wait_time=500,
        min_bytes=1,
        max_bytes=FETCH_MAX_BYTES,
        isolation_level=0,
        topics=[(topic, [(partition, offset, FETCH_MAX_BYTES)])],
    )
    response = await client.send(leader, request)
    found: list[StoredBatch] = []
    for _, partitions in response.topics:
        for _, error_code, _, *rest in partitions:
            if error_code != 0:
                raise AssertionError(f"fetch {topic}/{partition}@{offset}: error {error_code}")
            records = MemoryRecords(rest[-1])  # the record set is the last field in every version
            while (batch := records.next_batch()) is not None:
                if batch.next_offset > offset:  # a fetch may begin before the offset asked for
                    codec = _CODEC_IDS[batch.compression_type]
                    found.append(
                        StoredBatch(partition, batch.base_offset, batch.next_offset, codec)
                    )
    return found
