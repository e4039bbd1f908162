"""Records the broker refuses for what they hold: a null key on a compacted topic, a timestamp
out of the topic's range. An output refused becomes the record's dead letter (stage ``emit``);
a dead letter refused is sent again in a form the topic takes. Nothing is lost, the processor
keeps running, and it does not replace its producer for ever."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from processor.commands.audit import audit_topics
from processor.commands.audit_report import AuditReport
from processor.commands.topics import wait_for_leaders
from processor.config import Settings
from processor.headers import (
    DLQ_CLASS,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TIMESTAMP,
    DLQ_SOURCE_TOPIC,
    DLQ_STAGE,
    EVENT_ID,
)
from processor.pipeline import PipelineLike
from processor.pipelines.transactions import pipeline as transactions
from processor.topology import topic_names
from tests.faults.campaign import scale
from tests.faulty import keyless
from tests.kafka_support import (
    TEST_ID,
    all_committed,
    header,
    read_all,
    running,
    settings_for,
    valid_value,
)

PARTITIONS = 2
COMPACTED = {"cleanup.policy": "compact"}
HOUR_MS = 3_600_000
# CreateTime older than an hour is refused by a topic with this config.
RECENT_ONLY = {"message.timestamp.type": "CreateTime", "message.timestamp.before.max.ms": "3600000"}

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


async def create_topics_with(
    settings: Settings, pipeline: PipelineLike, configs: Mapping[str, Mapping[str, str]]
) -> None:
    """The pipeline's topics; those named in ``configs`` with those topic configs."""
    names = topic_names(settings, pipeline)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        new = [NewTopic(n, PARTITIONS, 1, topic_configs=dict(configs.get(n, {}))) for n in names]
        await admin.create_topics(new)
        assert await wait_for_leaders(admin, names, PARTITIONS)
    finally:
        await admin.close()


async def produce_records(
    bootstrap: str, topic: str, records: Sequence[Record], timestamp_ms: int | None = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        pending = [
            await producer.send(topic, value, key=key, headers=headers, timestamp_ms=timestamp_ms)
            for key, value, headers in records
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def record(test_id: str, key: bytes | None, valid: bool = True) -> Record:
    value = valid_value(test_id, "acct-1", "add") if valid else b"not json: " + test_id.encode()
    return key, value, [(TEST_ID, test_id.encode())]


def assert_clean(report: AuditReport, inputs: int) -> None:
    assert report.inputs == inputs
    assert report.lost == []
    assert report.in_both == []
    assert report.incomplete_dead_letters == []
    assert report.duplicates == 0


def by_test_id(records: Sequence[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for r in records:
        test_id = (header(r, TEST_ID) or b"").decode()
        assert test_id not in found, f"{test_id} twice"
        found[test_id] = r
    return found


async def test_keyless_outputs_to_a_compacted_topic_become_emit_dead_letters(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, dlq_max_ratio=1.0,
                            retry_backoff_max_s=1.0)  # fmt: skip
    (output,) = keyless.output_topics(settings.input_topic)
    await create_topics_with(settings, keyless, {output: COMPACTED})
    count = scale(300, 3_000)
    # Every fifth record's output has no key; a batch mixes them with keyed ones.
    ids = [f"nokey-{i}" if i % 5 == 0 else f"ok-{i}" for i in range(count)]
    keyless_ids = {i for i in ids if i.startswith("nokey-")}
    await produce_records(
        bootstrap_servers, settings.input_topic, [record(i, f"k{n % 7}".encode())
                                                  for n, i in enumerate(ids)]
    )  # fmt: skip

    async with running(settings, keyless) as (processor, task):
        assert await all_committed(settings, timeout_s=60)
        assert not task.done(), "the processor stopped by itself"
        assert processor.halted is None
        assert processor.stats.dead_lettered == {("emit", "InvalidRecord"): len(keyless_ids)}
        # Each refusal costs a send and a new producer. A refused batch is halved until the
        # record at fault is alone at its head (at most log2 halvings), and a batch holding it
        # behind good records is halved until those go through (as many again): bounded, and
        # it stops once the refused records are out.
        retries = processor.stats.producer_retries
        assert retries >= len(keyless_ids)  # the broker refused each one at least once
        assert retries <= len(keyless_ids) * 2 * (math.ceil(math.log2(count)) + 1)
        await asyncio.sleep(3)
        assert processor.stats.producer_retries == retries, "still retrying after the end"

    assert_clean(await audit_topics(settings, keyless), count)
    outputs = await read_all(bootstrap_servers, output)
    assert sorted((header(r, EVENT_ID) or b"").decode() for r in outputs) == sorted(
        set(ids) - keyless_ids
    )
    assert all(r.key is not None for r in outputs)
    dead = by_test_id(await read_all(bootstrap_servers, settings.dead_letter_topic))
    assert set(dead) == keyless_ids
    for r in dead.values():
        assert (header(r, DLQ_STAGE), header(r, DLQ_CLASS)) == (b"emit", b"InvalidRecord")


async def test_dead_letters_of_old_records_land_in_a_topic_that_refuses_old_timestamps(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, dlq_max_ratio=1.0,
                            retry_backoff_max_s=1.0)  # fmt: skip
    await create_topics_with(settings, transactions, {settings.dead_letter_topic: RECENT_ONLY})
    count = scale(200, 2_000)
    ids = [f"bad-{i}" if i % 4 == 0 else f"ok-{i}" for i in range(count)]
    bad = {i for i in ids if i.startswith("bad-")}
    two_days_ago = int(time.time() * 1000) - 48 * HOUR_MS
    records = [record(i, f"k{n % 7}".encode(), i not in bad) for n, i in enumerate(ids)]
    await produce_records(bootstrap_servers, settings.input_topic, records, two_days_ago)

    async with running(settings) as (processor, task):
        assert await all_committed(settings, timeout_s=60)
        assert not task.done(), "the processor stopped by itself"
        assert processor.stats.dead_lettered == {("decode", "JSONDecodeError"): len(bad)}
        retries = processor.stats.producer_retries
        assert retries >= 1, "the dead-letter topic never refused a timestamp"
        await asyncio.sleep(2)
        assert processor.stats.producer_retries == retries, "still retrying after the end"

    assert_clean(await audit_topics(settings, transactions), count)
    dead = by_test_id(await read_all(bootstrap_servers, settings.dead_letter_topic))
    assert set(dead) == bad
    now_ms = time.time() * 1000
    sent = {i: r for i, r in zip(ids, records, strict=True)}
    for test_id, r in dead.items():
        assert header(r, DLQ_SOURCE_TIMESTAMP) == str(two_days_ago).encode()
        assert header(r, DLQ_SOURCE_TOPIC) == settings.input_topic.encode()
        assert header(r, DLQ_SOURCE_PARTITION) is not None
        assert header(r, DLQ_SOURCE_OFFSET) is not None
        assert now_ms - r.timestamp < HOUR_MS  # the broker's time, not the source's
        key, value, _ = sent[test_id]
        assert (r.key, r.value) == (key, value)  # byte for byte


async def test_keyless_dead_letters_land_in_a_compacted_dead_letter_topic_keyed_by_source(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, dlq_max_ratio=1.0,
                            retry_backoff_max_s=1.0)  # fmt: skip
    await create_topics_with(settings, transactions, {settings.dead_letter_topic: COMPACTED})
    count = scale(200, 2_000)
    ids = [f"bad-{i}" if i % 4 == 0 else f"ok-{i}" for i in range(count)]
    bad = {i for i in ids if i.startswith("bad-")}
    records = [record(i, None, i not in bad) for i in ids]
    await produce_records(bootstrap_servers, settings.input_topic, records)

    async with running(settings) as (processor, task):
        assert await all_committed(settings, timeout_s=60)
        assert not task.done(), "the processor stopped by itself"
        assert processor.stats.dead_lettered == {("decode", "JSONDecodeError"): len(bad)}
        assert processor.stats.producer_retries >= 1, "the topic never refused a null key"

    assert_clean(await audit_topics(settings, transactions), count)
    dead = by_test_id(await read_all(bootstrap_servers, settings.dead_letter_topic))
    assert set(dead) == bad
    for r in dead.values():
        coordinates = b"/".join(
            header(r, name) or b"" for name in (DLQ_SOURCE_TOPIC, DLQ_SOURCE_PARTITION,
                                                DLQ_SOURCE_OFFSET)
        )  # fmt: skip
        assert r.key == coordinates
