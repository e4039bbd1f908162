"""Reading records to produce: formats, typing of CSV cells, bad lines reported."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from processor.commands.sources import Format, Line, read_records, typed_cell
from processor.pipelines.transactions import Transaction


def lines_of(path: Path, fmt: Format = "auto") -> list[Line]:
    return list(read_records(str(path), fmt, Transaction, "account"))


def test_json_lines_keep_each_line_and_take_the_key_field(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "account": "x"}\n\n{"id": "b"}\n')
    first, second = lines_of(path)
    assert first.value == b'{"id": "a", "account": "x"}'
    assert first.key == b"x"
    assert second.key is None


def test_a_line_that_is_not_json_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a"}\n{broken\n')
    bad = lines_of(path)[1]
    assert bad.where == f"{path}:2"
    assert "not JSON" in bad.error


def test_a_json_array_gives_one_record_per_element(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps([{"account": "a"}, {"account": "b"}]))
    assert [line.key for line in lines_of(path)] == [b"a", b"b"]


def test_csv_cells_are_typed_by_the_model_and_empty_cells_left_out(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,account,amount,quantity,ts\nc-1,acct,12.50,2,\n")
    (line,) = lines_of(path)
    assert json.loads(line.value or b"") == {
        "id": "c-1", "account": "acct", "amount": "12.50", "quantity": 2,
    }  # fmt: skip


def test_a_csv_row_with_more_cells_than_the_header_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,account\na,b,c\n")
    (line,) = lines_of(path)
    assert line.error
    assert line.where.endswith(":2")


def test_raw_lines_are_sent_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("not json\n{broken\n")
    assert [line.value for line in lines_of(path, "raw")] == [b"not json", b"{broken"]


def test_a_cell_that_does_not_convert_stays_a_string_for_validation_to_report() -> None:
    assert typed_cell(Transaction, "quantity", "two") == "two"
    assert typed_cell(Transaction, "quantity", "3") == 3
    assert typed_cell(Transaction, "unknown", "3") == "3"


def test_raw_lines_keep_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"\xff\xfe\x00garbage\r\nok\n")
    assert [line.value for line in lines_of(path)] == [b"\xff\xfe\x00garbage", b"ok"]


def test_a_json_line_that_is_not_utf8_is_reported_and_the_next_still_read(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xff{"id": "a"}\n{"account": "b"}\n')
    bad, good = lines_of(path)
    assert (bad.where, bad.error.startswith("not UTF-8")) == (f"{path}:1", True)
    assert good.key == b"b"


def test_a_csv_file_that_is_not_utf8_is_skipped_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"id,account\na,b\nc,\xff\n")
    (line,) = lines_of(path)
    assert line.where == f"{path}:3"
    assert "not UTF-8" in line.error


def test_a_byte_order_mark_does_not_rename_the_first_csv_column(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"\xef\xbb\xbfaccount,quantity\nacct,2\n")
    (line,) = lines_of(path)
    assert line.key == b"acct"


def test_standard_input_is_json_lines_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"account": "a"}\n'))
    monkeypatch.setattr("sys.stdin", stdin)
    (line,) = read_records("-", "auto", Transaction, "account")
    assert (line.where, line.key) == ("<stdin>:1", b"a")


def test_a_json_file_that_is_not_an_array_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"account": "a"}')
    (line,) = lines_of(path)
    assert "array" in line.error
