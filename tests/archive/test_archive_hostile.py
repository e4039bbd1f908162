"""Dead letters written to hurt archive without an error, every byte kept.

Written by confluent-kafka (librdkafka: null header values, no key, no value, every codec) and
as raw batches (a header key that is not UTF-8, which the Kafka client cannot decode: the
archive reads those raw, as the processor does).
"""

from __future__ import annotations

from pathlib import Path

from processor import headers as h
from processor.engine.recordbatch import RawRecord
from tests.archive.support import archive_once, every_offset, main_files, offsets_in, read_files
from tests.batches import encode_batch
from tests.confluent import Codec, produce_confluent
from tests.kafka_support import create_topics, settings_for
from tests.raw_produce import produce_raw

DEEP = b"[" * 50_000 + b"]" * 50_000
HOSTILE: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = [
    (b"\x00\xff\xfe binary key", b"\x80\x81 not utf-8", [(h.DLQ_STAGE, b"\xff\xfe")]),
    (None, None, [(h.DLQ_SOURCE_OFFSET, None), (h.DLQ_ATTEMPTS, b"")]),
    (b"", b"", [(h.DLQ_SOURCE_PARTITION, "\u0663".encode()), ("dup", b"1"), ("dup", b"2")]),
    (b"k", DEEP, [(h.DLQ_SOURCE_OFFSET, b"9" * 5_000), (h.DLQ_FAILED_AT, b"\x1b[2J")]),
    (b"k" * 100_000, b"v", [("\x1b]52;c;x\x07", b"\x00" * 1000), (h.DLQ_CUT, b"key:1")]),
    (b"k", b"{}", [(h.DLQ_FAILED_AT, b"0001-01-01T00:00:00+14:00"), ("", b"empty name")]),
]


async def test_hostile_dead_letters_archive_whole(
    bootstrap_servers: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(bootstrap_servers, unique_name)
    await create_topics(settings, partitions=2)
    topic = settings.dead_letter_topic
    codecs: tuple[Codec, ...] = ("none", "zstd", "lz4")
    for codec in codecs:
        records = [(key, value, headers, 0) for key, value, headers in HOSTILE]
        produce_confluent(bootstrap_servers, topic, records, compression=codec)
    raw_headers = ((b"\xff\xfe not utf-8", b"v"), (h.DLQ_STAGE.encode(), b"decode"))
    odd_key = RawRecord(0, 1_700_000_000_000, b"raw", b"value", raw_headers)
    await produce_raw(bootstrap_servers, topic, 1, encode_batch(0, [odd_key]))

    done = archive_once(settings, tmp_path, topic)
    assert done.returncode == 0, done.stderr[-3000:]
    files = main_files(tmp_path, topic)
    assert offsets_in(files) == await every_offset(bootstrap_servers, topic)
    rows = read_files(files).to_pylist()
    zero = [row for row in rows if row["partition"] == 0]
    assert [(r["key"], r["value"]) for r in zero] == [(k, v) for k, v, _ in HOSTILE] * 3
    for row, (_, _, headers) in zip(zero, HOSTILE * 3, strict=True):
        assert [(x["key"], x["value"]) for x in row["headers"]] == headers
    assert zero[0]["dlq_error_stage"] == "\ufffd\ufffd"
    assert zero[3]["dlq_source_offset"] is None
    raw = next(row for row in rows if row["partition"] == 1)
    assert raw["value"] == b"value"
    assert raw["dlq_error_stage"] == "decode"
    assert raw["headers"][0]["value"] == b"v"
