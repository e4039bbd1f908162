"""20,000 records routed by the processor, then archived with their dead letters and read back."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from processor import headers as h
from processor.archive.columns import dlq_column
from processor.pipelines.transactions import LedgerEntry
from tests.archive.conftest import FILE_RECORDS, RECORDS, Archived
from tests.archive.support import (
    every_offset,
    hidden_files,
    invalid_files,
    main_files,
    names_match_contents,
    offsets_in,
    read_files,
)
from tests.kafka_support import read_all

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def all_topics(archived: Archived) -> list[str]:
    s = archived.settings
    return [s.input_topic, *archived.outputs, s.dead_letter_topic]


async def test_every_offset_of_every_topic_is_in_exactly_one_file(archived: Archived) -> None:
    bootstrap = archived.settings.bootstrap_servers
    for topic in all_topics(archived):
        files = main_files(archived.root, topic) + invalid_files(archived.root, topic)
        assert offsets_in(files) == await every_offset(bootstrap, topic), topic
        assert names_match_contents(files)
    assert hidden_files(archived.root) == []


async def test_files_roll_at_the_record_limit(archived: Archived) -> None:
    for topic in all_topics(archived):
        per_partition: dict[int, list[int]] = {}
        for path in main_files(archived.root, topic):
            table = read_files([path])
            per_partition.setdefault(table["partition"][0].as_py(), []).append(table.num_rows)
        for sizes in per_partition.values():  # the last of each partition holds the rest
            assert set(sizes[:-1]) <= {FILE_RECORDS}, (topic, sizes)


async def test_raw_columns_hold_each_record_as_kafka_has_it(archived: Archived) -> None:
    settings = archived.settings
    for topic in all_topics(archived):
        records = {
            (r.partition, r.offset): r for r in await read_all(settings.bootstrap_servers, topic)
        }
        files = main_files(archived.root, topic) + invalid_files(archived.root, topic)
        for row in rows_of(files):
            record = records[(row["partition"], row["offset"])]
            assert row["topic"] == topic
            assert row["key"] == record.key
            assert row["value"] == record.value
            assert [(x["key"], x["value"]) for x in row["headers"]] == list(record.headers)
            assert (row["timestamp"] - EPOCH) // timedelta(milliseconds=1) == record.timestamp


def rows_of(paths: list[Path]) -> list[dict[str, Any]]:
    table = read_files(paths)
    return [] if table is None else table.to_pylist()


async def test_outputs_have_ledger_columns_and_nothing_is_invalid(archived: Archived) -> None:
    for topic in archived.outputs:
        assert invalid_files(archived.root, topic) == []
        rows = rows_of(main_files(archived.root, topic))
        assert rows
        for row in rows:
            entry = LedgerEntry.model_validate_json(row["value"])
            assert row["amount"] == entry.amount
            assert row["total"] == entry.total
            assert row["ts"] == entry.ts
            assert (row["account"], row["op"], row["sign"]) == (entry.account, entry.op, entry.sign)


async def test_dead_letters_have_a_column_per_dlq_header(archived: Archived) -> None:
    s = archived.settings
    rows = rows_of(main_files(archived.root, s.dead_letter_topic))
    assert len(rows) == RECORDS // 10
    input_offsets = set(await every_offset(s.bootstrap_servers, s.input_topic))
    for row in rows:
        headers = {x["key"]: x["value"] for x in row["headers"]}
        assert row[dlq_column(h.DLQ_STAGE)] == headers[h.DLQ_STAGE].decode()
        assert row[dlq_column(h.DLQ_CLASS)] == headers[h.DLQ_CLASS].decode()
        assert row["dlq_source_topic"] == s.input_topic
        assert (row["dlq_source_partition"], row["dlq_source_offset"]) in input_offsets
        assert row["dlq_attempts"] == int(headers[h.DLQ_ATTEMPTS])
        failed_at = row["dlq_failed_at"].isoformat(timespec="milliseconds")
        assert failed_at == headers[h.DLQ_FAILED_AT].decode()
    classes = Counter(row["dlq_error_class"] for row in rows)
    assert {"ValidationError", "JSONDecodeError", "NullValue"} <= set(classes)


async def test_the_summary_line_counts_what_was_archived(archived: Archived) -> None:
    line = archived.stdout.strip().splitlines()[-1]
    total = RECORDS + RECORDS - RECORDS // 10 + RECORDS // 10  # input, outputs, dead letters
    assert line.startswith(f"archived {total} records: {total} rows and 0 invalid in ")
    assert json.dumps(str(archived.root))[1:-1] in line
