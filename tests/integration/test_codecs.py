"""Every compression codec, both ways: batches librdkafka compressed are read, and the processor's
own outputs are written in the codec it is told to use (``PROCESSOR_COMPRESSION``)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from processor import headers as h
from processor.config import Settings
from processor.pipelines.transactions import pipeline as transactions
from tests.confluent import CODECS, Codec, Record, produce_confluent, stored_batches
from tests.kafka_support import (
    Sample,
    all_committed,
    collect,
    create_topics,
    header,
    produce,
    running,
    settings_for,
    valid_value,
)

COUNT = 200
TIMEOUT_S = 15


def transactions_for(name: str) -> list[Sample]:
    ops = ["add", "refund"]
    return [
        Sample(f"{name}-{i}", f"acct-{i % 9}".encode(),
               valid_value(f"{name}-{i}", f"acct-{i % 9}", ops[i % 2]), True, ops[i % 2])
        for i in range(COUNT)
    ]  # fmt: skip


async def delivered_ids(settings: Settings) -> Counter[str]:
    """How often each event id reached an output, after checking nothing was dead-lettered."""
    delivery = await collect(settings)
    assert [(header(r, h.DLQ_STAGE), header(r, h.DLQ_CLASS)) for r in delivery.dead_letters] == []
    ids: Counter[str] = Counter()
    for topic, records in delivery.outputs.items():
        for record in records:
            assert json.loads(record.value)["op"] == ("add" if topic.endswith("additions")
                                                       else "refund")  # fmt: skip
            ids[(header(record, h.EVENT_ID) or b"").decode()] += 1
    return ids


@pytest.mark.parametrize("codec", CODECS)
async def test_batches_compressed_by_librdkafka_are_processed(
    bootstrap_servers: str, unique_name: str, codec: Codec
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = transactions_for(codec)
    records: list[Record] = [(s.key, s.value, (), None) for s in samples]
    produce_confluent(bootstrap_servers, settings.input_topic, records, compression=codec)
    batches = await stored_batches(bootstrap_servers, settings.input_topic)
    assert {b.codec for b in batches} == {codec}
    assert len(batches) < COUNT // 4  # the producer batched them: many records per batch

    async with running(settings) as (_, task):
        committed = await all_committed(settings, timeout_s=TIMEOUT_S)
        assert not task.done(), f"the processor stopped on its own: {task!r}"
        assert committed

    assert await delivered_ids(settings) == Counter(s.test_id for s in samples)


@pytest.mark.parametrize("codec", CODECS)
async def test_outputs_are_written_in_the_configured_codec_and_read_back(
    bootstrap_servers: str, unique_name: str, codec: Codec
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, compression=codec)
    await create_topics(settings)
    samples = transactions_for(codec)
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings) as (_, task):
        committed = await all_committed(settings, timeout_s=TIMEOUT_S)
        assert not task.done(), f"the processor stopped on its own: {task!r}"
        assert committed

    assert await delivered_ids(settings) == Counter(s.test_id for s in samples)
    for topic in transactions.output_topics(settings.input_topic):
        batches = await stored_batches(bootstrap_servers, topic)
        assert batches, f"nothing in {topic}"
        assert {b.codec for b in batches} == {codec}, topic
