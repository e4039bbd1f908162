"""Input from a transactional producer: read_committed (the default) processes what it committed,
never what it aborted; read_uncommitted processes both."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from tests.kafka_support import (
    Sample,
    all_committed,
    collect,
    create_topics,
    mixed_samples,
    read_all,
    running,
    settings_for,
)


async def produce_in_transactions(
    bootstrap: str, topic: str, committed: list[Sample], aborted: list[Sample]
) -> None:
    """``committed`` in a committed transaction, ``aborted`` in aborted ones between them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-upstream")
    await producer.start()
    try:
        half = len(committed) // 2
        for kept, dropped in ((committed[:half], aborted[: len(aborted) // 2]),
                              (committed[half:], aborted[len(aborted) // 2 :])):  # fmt: skip
            async with producer.transaction():
                for sample in kept:
                    await producer.send(topic, sample.value, key=sample.key,
                                        headers=list(sample.headers))  # fmt: skip
            await producer.begin_transaction()
            for sample in dropped:
                await producer.send(topic, sample.value, key=sample.key,
                                    headers=list(sample.headers))  # fmt: skip
            await producer.abort_transaction()
    finally:
        await producer.stop()


async def test_read_committed_processes_committed_transactions_only(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    assert settings.isolation_level == "read_committed"
    await create_topics(settings)
    samples = [s for s in mixed_samples(400) if s.valid]
    committed, aborted = samples[:200], samples[200:]
    await produce_in_transactions(bootstrap_servers, settings.input_topic, committed, aborted)

    async with running(settings):
        assert await all_committed(settings)

    found = sorted((await collect(settings)).ids())
    assert found == sorted(s.test_id for s in committed)


async def test_read_uncommitted_processes_aborted_records_too(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, isolation_level="read_uncommitted")
    await create_topics(settings)
    samples = [s for s in mixed_samples(200) if s.valid]
    committed, aborted = samples[:100], samples[100:]
    await produce_in_transactions(bootstrap_servers, settings.input_topic, committed, aborted)

    async with running(settings):
        assert await all_committed(settings)

    found = sorted((await collect(settings)).ids())
    assert found == sorted(s.test_id for s in samples)


async def test_a_scan_ends_although_a_partition_holds_only_aborted_records_and_markers(
    bootstrap_servers: str, unique_name: str
) -> None:
    # read_committed, a poll moves past such a partition without returning a record of it: the
    # scan must see from the position that the partition is read to its end.
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings, partitions=2)
    topic = settings.input_topic
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, transactional_id=topic)
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send(topic, b"aborted", key=b"k", partition=1)
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed", key=b"k", partition=0)
    finally:
        await producer.stop()

    async with asyncio.timeout(30):
        records = await read_all(bootstrap_servers, topic)
    assert [(r.partition, r.value) for r in records] == [(0, b"committed")]
