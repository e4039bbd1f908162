"""A header key that is not UTF-8, written raw: aiokafka gets stuck on it, parse_batches not."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest

from processor.engine.recordbatch import Batch, RawRecord, parse_batches
from tests.batches import encode_batch
from tests.kafka_support import create_topics, settings_for
from tests.raw_produce import leader_for, produce_raw

BAD_KEY = b"\xff\xfe-bad"
FETCH_MAX_BYTES = 1 << 20
READ_UNCOMMITTED = 0
FETCH_WAIT_S = 20.0


def now_ms() -> int:
    return int(time.time() * 1000)  # the broker refuses timestamps far from its clock


def hostile_records() -> list[RawRecord]:
    """A good record, one with a header key that is not UTF-8, another good one."""
    now = now_ms()
    return [
        RawRecord(0, now, b"k1", b"good-1", ((b"origin", b"test"),)),
        RawRecord(1, now + 1, b"k2", b"bad-2", ((BAD_KEY, b"x"), (b"empty", None))),
        RawRecord(2, now + 2, None, b"good-3", ((b"empty", None),)),
    ]


async def getmany_until_records(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
    """Poll until a fetch of ``tp`` comes back; fail if that takes longer than FETCH_WAIT_S."""
    deadline = time.monotonic() + FETCH_WAIT_S
    while time.monotonic() < deadline:
        if await consumer.getmany(tp, timeout_ms=1000):
            return
    pytest.fail(f"no fetch of {tp} within {FETCH_WAIT_S}s")


async def fetch_raw(bootstrap: str, tp: TopicPartition, offset: int) -> bytes:
    """The records bytes one fetch of ``tp`` from ``offset`` returns, as stored."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        request = FetchRequest(
            max_wait_time=500,
            min_bytes=1,
            max_bytes=FETCH_MAX_BYTES,
            isolation_level=READ_UNCOMMITTED,
            topics=[(tp.topic, [(tp.partition, offset, FETCH_MAX_BYTES)])],
        )
        response = await client.send(await leader_for(client, tp), request)
        [(_, [(_, error_code, _, *part_data)])] = response.topics
        assert error_code == 0, f"fetch of {tp} failed: error {error_code}"
        return bytes(part_data[-1])  # the records bytes come last in every fetch version
    finally:
        await client.close()


@pytest.mark.parametrize("codec", [0, 4], ids=["uncompressed", "zstd"])
async def test_a_header_key_not_utf8_stops_aiokafka_and_reads_back_raw(
    bootstrap_servers: str, unique_name: str, codec: int
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings, partitions=1)
    tp = TopicPartition(settings.input_topic, 0)
    good = [RawRecord(0, now_ms(), b"k0", b"good-0", ())]
    hostile = hostile_records()
    for records in [good, hostile]:
        batch = encode_batch(0, records, codec=codec)  # the broker takes base offset 0 only
        await produce_raw(bootstrap_servers, tp.topic, tp.partition, batch)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        # Each fetch raises; the good records fetched before the bad one (even in an earlier
        # batch) never come out either, and the position stays put: the partition is stuck.
        for _ in range(2):
            with pytest.raises(UnicodeDecodeError):
                await getmany_until_records(consumer, tp)
            assert await consumer.position(tp) == 0
    finally:
        await consumer.stop()

    data = await fetch_raw(bootstrap_servers, tp, 0)
    assert parse_batches(data) == [
        Batch(0, 0, -1, False, False, tuple(good)),
        Batch(1, 3, -1, False, False, tuple(replace(r, offset=r.offset + 1) for r in hostile)),
    ]
