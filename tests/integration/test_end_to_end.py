"""Ten thousand mixed records through a real broker: each one lands exactly once, as specified."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

from processor import headers as h
from tests.kafka_support import (
    TEST_ID,
    all_committed,
    collect,
    create_topics,
    header,
    mixed_samples,
    produce,
    read_all,
    running,
    settings_for,
)

COUNT = 10_000


async def test_every_record_lands_exactly_once_with_its_headers(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = mixed_samples(COUNT)
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings) as (processor, _):
        assert await all_committed(settings, timeout_s=120)
    delivery = await collect(settings)

    counts = Counter(delivery.ids())
    assert set(counts) == {s.test_id for s in samples}
    assert [i for i, n in counts.items() if n != 1] == []
    by_id = {s.test_id: s for s in samples}
    additions, refunds = (delivery.outputs[t] for t in sorted(delivery.outputs))
    assert {json.loads(r.value)["op"] for r in additions} == {"add"}
    assert {json.loads(r.value)["op"] for r in refunds} == {"refund"}
    for record in additions + refunds:
        sample = by_id[(header(record, h.EVENT_ID) or b"").decode()]
        assert sample.valid
        assert record.key == sample.key
        source = (header(record, h.SOURCE) or b"").decode()
        assert source.startswith(f"{settings.input_topic}/")
    stages = Counter((header(r, h.DLQ_STAGE) or b"").decode() for r in delivery.dead_letters)
    assert stages.keys() == {"decode", "validate"}
    assert len(delivery.dead_letters) == sum(not s.valid for s in samples)
    assert processor.stats.dead_lettered.total() == len(delivery.dead_letters)


async def test_dead_letters_keep_the_original_record_and_say_what_failed(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings)
    samples = [s for s in mixed_samples(400) if not s.valid]
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings):
        assert await all_committed(settings)
    delivery = await collect(settings)

    by_id = {s.test_id: s for s in samples}
    inputs = {
        (r.partition, r.offset): r for r in await read_all(bootstrap_servers, settings.input_topic)
    }
    assert len(delivery.dead_letters) == len(samples)
    for letter in delivery.dead_letters:
        sample = by_id[(header(letter, TEST_ID) or b"").decode()]
        assert letter.value == sample.value
        assert letter.key == sample.key
        assert list(letter.headers[: len(sample.headers)]) == list(sample.headers)
        names = [name for name, _ in letter.headers]
        assert all(names.count(name) == 1 for name in h.DLQ_HEADERS)
        partition = int(header(letter, h.DLQ_SOURCE_PARTITION) or b"-1")
        offset = int(header(letter, h.DLQ_SOURCE_OFFSET) or b"-1")
        original = inputs[(partition, offset)]
        assert original.value == letter.value
        assert letter.timestamp == original.timestamp
        assert header(letter, h.DLQ_SOURCE_TIMESTAMP) == str(original.timestamp).encode()
        assert header(letter, h.DLQ_SOURCE_TOPIC) == settings.input_topic.encode()
        assert header(letter, h.DLQ_GROUP) == settings.group_id.encode()
        assert header(letter, h.DLQ_ATTEMPTS) == b"1"
        datetime.fromisoformat((header(letter, h.DLQ_FAILED_AT) or b"").decode())
        if header(letter, h.DLQ_STAGE) == b"validate":
            assert json.loads(header(letter, h.DLQ_DETAIL) or b"")
