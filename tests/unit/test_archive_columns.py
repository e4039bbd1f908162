"""Records to columns: raw always, typed from a model (misfits apart), dead-letter headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

import pyarrow as pa
import pytest
from pydantic import BaseModel, Field

from processor import headers as h
from processor.archive.columns import INVALID_SCHEMA, RAW_NAMES, Shape, dlq_column, tables
from processor.pipelines.transactions import LedgerEntry, Transaction, ledger_entry


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def entry(**changes: Any) -> bytes:
    body = {"id": "e-1", "account": "a-1", "op": "add", "amount": "12.50", "currency": "EUR",
            "quantity": 2, "ts": "2026-11-22T10:00:00+01:00", **changes}  # fmt: skip
    return ledger_entry(Transaction.model_validate_json(json.dumps(body)))


def test_raw_columns_keep_every_byte_and_headers_in_order_with_repeats() -> None:
    headers = (("a", b"\x00\xff"), ("a", None), ("\u00e9", b""))
    record = Record("t", 2, 7, 1_700_000_000_123, b"\xff\x00key", b"\x80value", headers)
    table = tables(Shape.raw(), [record]).valid
    row = table.to_pylist()[0]
    assert set(table.column_names) == RAW_NAMES
    assert row["key"] == b"\xff\x00key"
    assert row["value"] == b"\x80value"
    assert row["headers"] == [{"key": k, "value": v} for k, v in headers]
    assert row["timestamp"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert (row["topic"], row["partition"], row["offset"]) == ("t", 2, 7)


def test_ledger_entries_get_decimal_and_timestamp_columns() -> None:
    shape = Shape.of_model(LedgerEntry)
    table = tables(shape, [Record("t", 0, 0, 0, b"k", entry(quantity=3))]).valid
    assert table.schema.field("amount").type == pa.decimal128(20, 2)
    assert table.schema.field("total").type == pa.decimal128(38, 2)
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("sign").type == pa.int64()
    row = table.to_pylist()[0]
    assert row["total"] == Decimal("37.50")
    assert row["ts"] == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert row["high_value"] is True


def test_the_largest_ledger_total_fits_its_column() -> None:
    big = entry(amount="999999999999999999.99", quantity=10**18)
    row = tables(Shape.of_model(LedgerEntry), [Record("t", 0, 0, 0, None, big)]).valid.to_pylist()
    assert row[0]["total"] == Decimal("999999999999999999990000000000000000.00")


def test_values_that_do_not_fit_the_model_go_to_the_invalid_table_whole() -> None:
    good = Record("t", 0, 1, 0, b"k", entry())
    broken = [
        Record("t", 0, 2, 0, b"k", b"not json"),
        Record("t", 0, 3, 0, b"k", None),
        Record("t", 0, 4, 0, b"k", json.dumps({"id": 1}).encode()),
    ]
    built = tables(Shape.of_model(LedgerEntry), [good, *broken])
    assert built.valid.column("offset").to_pylist() == [1]
    assert built.invalid is not None
    assert built.invalid.schema == INVALID_SCHEMA
    rows = built.invalid.to_pylist()
    assert [r["offset"] for r in rows] == [2, 3, 4]
    assert [r["value"] for r in rows] == [b"not json", None, b'{"id": 1}']
    assert rows[0]["error_class"] == "ValidationError"
    assert json.loads(rows[2]["error"])  # pydantic's errors as JSON


class Odd(BaseModel):
    offset: int  # shadows a raw column
    exact: Annotated[Decimal, Field(max_digits=5, decimal_places=1)]
    free: Decimal
    mood: Literal["calm", "wild"]
    nested: dict[str, list[int]]
    when: datetime | None = None


def odd(**changes: Any) -> bytes:
    body = {"offset": 5, "exact": "1.5", "free": "2.25", "mood": "calm", "nested": {"a": [1]}}
    return json.dumps({**body, **changes}).encode()


def test_a_user_model_gets_its_columns_and_a_shadowing_field_is_renamed() -> None:
    table = tables(Shape.of_model(Odd), [Record("t", 0, 9, 0, None, odd())]).valid
    row = table.to_pylist()[0]
    assert (row["offset"], row["value_offset"]) == (9, 5)
    assert table.schema.field("exact").type == pa.decimal128(5, 1)
    assert table.schema.field("free").type == pa.decimal128(38, 9)
    assert row["nested"] == '{"a":[1]}'
    assert row["when"] is None


@pytest.mark.parametrize(
    "changes", [{"offset": 2**63}, {"free": "0.0000000001"}, {"mood": "sad"}, {"exact": "1.25"}]
)
def test_a_value_its_column_cannot_hold_exactly_is_invalid(changes: dict[str, Any]) -> None:
    built = tables(Shape.of_model(Odd), [Record("t", 0, 9, 0, None, odd(**changes))])
    assert built.valid.num_rows == 0
    assert built.invalid is not None
    assert built.invalid.num_rows == 1


def test_dead_letter_headers_become_typed_columns() -> None:
    headers = (
        (h.DLQ_STAGE, b"validate"), (h.DLQ_CLASS, b"ValidationError"),
        (h.DLQ_SOURCE_PARTITION, b"3"), (h.DLQ_SOURCE_OFFSET, b"12345"),
        (h.DLQ_SOURCE_TIMESTAMP, b"1700000000000"), (h.DLQ_ATTEMPTS, b"1"),
        (h.DLQ_FAILED_AT, b"2026-11-22T10:00:00.123+00:00"), ("origin", b"\x00"),
    )  # fmt: skip
    row = tables(Shape.of_dead_letters(), [Record("d", 0, 0, 0, None, b"x", headers)]).valid
    cells = row.to_pylist()[0]
    assert cells[dlq_column(h.DLQ_STAGE)] == "validate"
    assert cells["dlq_source_partition"] == 3
    assert cells["dlq_source_offset"] == 12345
    assert cells["dlq_failed_at"] == datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=UTC)
    assert cells["dlq_cut"] is None


def test_hostile_dead_letter_headers_become_nulls_and_raw_bytes_stay() -> None:
    headers = (
        (h.DLQ_SOURCE_PARTITION, b"\xd9\xa3"), (h.DLQ_SOURCE_OFFSET, b"9" * 5000),
        (h.DLQ_ATTEMPTS, None), (h.DLQ_FAILED_AT, b"yesterday"), (h.DLQ_STAGE, b"\xff\xfe"),
        (h.DLQ_SOURCE_TIMESTAMP, b"99999999999999999999"), ("\x1b[2J", b"\x00" * 10),
    )  # fmt: skip
    record = Record("d", 0, 0, -1, b"\x00\xff", None, headers)
    cells = tables(Shape.of_dead_letters(), [record]).valid.to_pylist()[0]
    assert cells["dlq_source_partition"] is None
    assert cells["dlq_source_offset"] is None
    assert cells["dlq_attempts"] is None
    assert cells["dlq_failed_at"] is None
    assert cells["dlq_source_timestamp"] is None
    assert cells["dlq_error_stage"] == "\ufffd\ufffd"
    assert cells["timestamp"] is None
    assert cells["headers"][-1] == {"key": "\x1b[2J", "value": b"\x00" * 10}
