"""Exactly-once mode against the real broker: a read_committed consumer sees each record's
outcome exactly once, across concurrency, dead letters, a rebalance and a crash."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaProducer, TopicPartition

from processor.config import Settings
from processor.engine.transactions import transactional_id
from processor.headers import EVENT_ID
from tests.faults.test_broker_refusals import (
    COMPACTED,
    create_topics_with,
    produce_records,
    record,
)
from tests.faulty import keyless
from tests.kafka_support import (
    TEST_ID,
    all_committed,
    collect,
    committed,
    create_topics,
    header,
    mixed_samples,
    produce,
    read_all,
    running,
    settings_for,
    wait_until,
)
from tests.pipelines import UnevenPipeline
from tests.processes import ProcessorProcess


def exactly_once(bootstrap: str, name: str, **overrides: object) -> Settings:
    return settings_for(bootstrap, name, guarantee="exactly-once", **overrides)


async def outcomes(settings: Settings) -> Counter[str]:
    """How often each input id was written, as a read_committed consumer sees it."""
    return Counter((await collect(settings)).ids())


async def test_every_outcome_commits_once_with_the_offsets_in_one_transaction(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = exactly_once(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = mixed_samples(3_000)
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings) as (processor, _):
        assert await all_committed(settings, timeout_s=90)
        assert processor.stats.commits > 0

    found = await outcomes(settings)
    assert set(found) == {s.test_id for s in samples}
    assert [test_id for test_id, count in found.items() if count > 1] == []


async def test_a_second_instance_joining_and_leaving_redoes_nothing(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = exactly_once(
        bootstrap_servers, unique_name, concurrency=100, queue_max_records=1_000
    )
    await create_topics(settings)
    samples = mixed_samples(20_000, accounts=5_000)
    await produce(bootstrap_servers, settings.input_topic, samples)

    # Slow and uneven, so both rebalances find transactions open and records in flight.
    async with running(settings, UnevenPipeline(most_s=0.05, seed=1)) as (first, _):
        await _until(lambda: first.stats.consumed > 1_500)
        async with running(settings, UnevenPipeline(most_s=0.05, seed=2)) as (second, _):
            await _until(lambda: second.stats.consumed > 1_500)
        await _until(lambda: first.stats.rebalances >= 3)
        assert await all_committed(settings, timeout_s=120)

    found = await outcomes(settings)
    assert set(found) == {s.test_id for s in samples}
    assert [test_id for test_id, count in found.items() if count > 1] == []


async def test_a_crash_mid_stream_loses_nothing_and_duplicates_nothing(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = exactly_once(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = mixed_samples(8_000)
    await produce(bootstrap_servers, settings.input_topic, samples)
    log = tmp_path / "processor.log"
    # 20 ms routes, 20 at a time: about 1,000 records a second, so the kill finds the stream
    # mid-way, with transactions open and some committed.
    throttled = ("--pipeline", "tests.pipelines:sluggish", "--concurrency", "20",
                 "--guarantee", "exactly-once")  # fmt: skip

    crashed = ProcessorProcess(settings, log, *throttled).start()
    topic = settings.input_topic

    async def some_committed() -> bool:
        return sum((await committed(bootstrap_servers, settings.group_id, topic)).values()) > 0

    assert await wait_until(some_committed, 60)
    await asyncio.sleep(1)
    assert await crashed.stop(signal.SIGKILL) == -signal.SIGKILL
    done = sum((await committed(bootstrap_servers, settings.group_id, topic)).values())
    assert 0 < done < len(samples)
    restarted = ProcessorProcess(settings, log, *throttled).start()
    try:
        assert await all_committed(settings, timeout_s=120), log.read_text()[-3000:]
    finally:
        assert await restarted.stop(signal.SIGTERM) == 0

    found = await outcomes(settings)
    assert set(found) == {s.test_id for s in samples}
    assert [test_id for test_id, count in found.items() if count > 1] == []


async def _until(condition: object, timeout_s: float = 60) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_write_the_broker_refuses_aborts_then_becomes_its_records_dead_letter(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = exactly_once(bootstrap_servers, unique_name, dlq_max_ratio=1.0)
    (output,) = keyless.output_topics(settings.input_topic)
    await create_topics_with(settings, keyless, {output: COMPACTED})
    # Every 25th record's output has no key: a compacted topic refuses it. Each refusal aborts
    # the partition's transaction, and the records of a refused batch go alone next time until
    # the one at fault is found: slow, but nothing is lost or written twice.
    ids = [f"nokey-{i}" if i % 25 == 0 else f"ok-{i}" for i in range(200)]
    records = [record(test_id, f"k{n % 7}".encode()) for n, test_id in enumerate(ids)]
    await produce_records(bootstrap_servers, settings.input_topic, records)

    async with running(settings, keyless) as (processor, task):
        assert await all_committed(settings, timeout_s=180)
        assert not task.done()
        assert processor.stats.dead_lettered == {("emit", "InvalidRecord"): 8}

    outputs = await read_all(bootstrap_servers, output)
    written = Counter((header(r, EVENT_ID) or b"").decode() for r in outputs)
    assert written == Counter(i for i in ids if i.startswith("ok-"))
    dead = Counter(
        (header(r, TEST_ID) or b"").decode()
        for r in await read_all(bootstrap_servers, settings.dead_letter_topic)
    )
    assert dead == Counter(i for i in ids if i.startswith("nokey-"))


async def test_a_partition_fenced_by_another_producer_is_given_up_and_readiness_says_so(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = exactly_once(bootstrap_servers, unique_name)
    await create_topics(settings)
    await produce(bootstrap_servers, settings.input_topic, mixed_samples(300))
    fenced_tp = TopicPartition(settings.input_topic, 0)

    async with running(settings) as (processor, _):
        assert await all_committed(settings, timeout_s=90)
        assert processor.trouble is None
        # Another producer under the partition's transactional id: this instance's is fenced
        # the next time it writes for that partition (as when two deployments share a group).
        usurper = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            transactional_id=transactional_id(settings.group_id, fenced_tp),
        )
        await usurper.start()
        try:
            await produce(bootstrap_servers, settings.input_topic, mixed_samples(300))
            await _until(lambda: processor.trouble is not None, timeout_s=90)
            trouble = processor.trouble or ""
            assert "fenced by another producer" in trouble
            assert f"{settings.input_topic}/0" in trouble
            assert f"{settings.input_topic}/1" not in trouble
        finally:
            await usurper.stop()
