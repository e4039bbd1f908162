"""Records aiokafka cannot decode hold nothing up: they become dead letters, the rest flows on.

A header key that is not UTF-8 makes aiokafka's ``getmany`` raise for the whole fetch, at the
same position for ever. Written here raw (no client writes such keys), between good records, in
an uncompressed and a zstd batch, on one partition, while another partition gets ordinary
records.
"""

from __future__ import annotations

import time

from processor import headers as h
from processor.commands.audit import audit_topics
from processor.commands.scan import scan
from processor.engine.recordbatch import RawRecord
from processor.pipelines.transactions import pipeline as transactions
from tests.batches import encode_batch
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
from tests.raw_produce import produce_raw

BAD_KEY = b"\xff\xfe-bad"
ZSTD = 4


def _records(prefix: str, first_offset: int) -> list[RawRecord]:
    """Good, bad (a header key that is not UTF-8, and a null header value), good."""
    now = int(time.time() * 1000)
    good = [valid_value(f"{prefix}-{i}", "acct-1", "add") for i in range(3)]
    return [
        RawRecord(first_offset, now, b"acct-1", good[0], ((b"origin", b"raw"),)),
        RawRecord(first_offset + 1, now, b"acct-1", good[1], ((BAD_KEY, b"x"), (b"n", None))),
        RawRecord(first_offset + 2, now, b"acct-1", good[2], ()),
    ]


async def write_hostile_batches(bootstrap_servers: str, topic: str) -> None:
    """Offsets 0-2 uncompressed and 3-5 in zstd on partition 0; 1 and 4 not decodable."""
    await produce_raw(bootstrap_servers, topic, 0, encode_batch(0, _records("plain", 0)))
    await produce_raw(bootstrap_servers, topic, 0, encode_batch(0, _records("zstd", 0), codec=ZSTD))


async def test_a_header_key_that_is_not_utf8_becomes_a_dead_letter_and_nothing_stalls(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings, partitions=2)
    topic = settings.input_topic
    await write_hostile_batches(bootstrap_servers, topic)
    others = [Sample(f"other-{i}", b"k", valid_value(f"other-{i}", "k", "add"), True)
              for i in range(20)]  # fmt: skip
    await produce(bootstrap_servers, topic, others)

    async with running(settings) as (processor, task):
        assert await all_committed(settings, timeout_s=60)
        assert not task.done()
        assert processor.stats.undecodable == 2

    delivery = await collect(settings)
    letters = delivery.dead_letters
    assert len(letters) == 2
    for letter in letters:
        assert header(letter, h.DLQ_STAGE) == b"decode"
        assert header(letter, h.DLQ_CLASS) == b"InvalidHeaderKey"
        assert header(letter, "\\xff\\xfe-bad") == b"x"  # the key, escaped; the value kept
        assert header(letter, h.DLQ_SOURCE_PARTITION) == b"0"
    assert sorted(int(header(r, h.DLQ_SOURCE_OFFSET) or b"-1") for r in letters) == [1, 4]
    outputs = [r for records in delivery.outputs.values() for r in records]
    assert len(outputs) == 4 + len(others)

    report = await audit_topics(settings, transactions)
    assert report.inputs == 6 + len(others)
    assert report.lost == []
    assert report.in_both == []
    assert report.clean


async def test_a_scan_reads_past_records_the_client_cannot_decode(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings, partitions=1)
    topic = settings.input_topic
    await write_hostile_batches(bootstrap_servers, topic)

    records = [record async for record in scan(settings, topic)]

    assert [r.offset for r in records] == list(range(6))
    assert [dict(r.headers).get("\\xff\\xfe-bad") for r in records] == [None, b"x", None] * 2
