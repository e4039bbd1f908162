"""``processor produce`` against the real broker: what it sends, what it reports, how it exits."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from processor.commands.cli import main
from processor.config import Settings
from tests.kafka_support import read_all
from tests.tools.support import EXAMPLES, flags


def sent_records(settings: Settings) -> list[Any]:
    return asyncio.run(read_all(settings.bootstrap_servers, settings.input_topic))


def test_every_sample_file_is_sent_keyed_by_account(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ("transactions.jsonl", "transactions.json", "transactions.csv")
    assert main(["produce", *(str(EXAMPLES / n) for n in names), *flags(settings)]) == 0
    assert capsys.readouterr().out.startswith("sent 20, failed 0, skipped 0 lines, in ")
    records = sent_records(settings)
    assert len(records) == 20
    assert all(r.key == json.loads(r.value)["account"].encode() for r in records)


def test_csv_cells_arrive_typed_by_the_model(settings: Settings) -> None:
    assert main(["produce", str(EXAMPLES / "transactions.csv"), *flags(settings)]) == 0
    first = json.loads(sent_records(settings)[0].value)
    assert isinstance(first["quantity"], int)
    assert isinstance(first["amount"], str)


def test_a_bad_line_is_reported_by_number_the_rest_sent_and_the_exit_status_is_1(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"id": "a", "account": "x"}\n{oops\n\xff\xfe\n{"id": "b", "account": "y"}\n')
    assert main(["produce", str(path), *flags(settings)]) == 1
    out, err = capsys.readouterr()
    assert f"{path}:2: skipped: not JSON" in err
    assert f"{path}:3: skipped: not UTF-8" in err
    assert out.startswith("sent 2, failed 0, skipped 2 lines")


def test_raw_lines_go_out_byte_for_byte(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "poison.txt"
    path.write_bytes(b"not json\n{broken\n\xff\xfe\x00bytes\n")
    assert main(["produce", "--raw", str(path), *flags(settings)]) == 0
    values = sorted(r.value for r in sent_records(settings))
    assert values == sorted([b"not json", b"{broken", b"\xff\xfe\x00bytes"])
    assert all(r.key is None for r in sent_records(settings))


def test_standard_input_is_read_as_json_lines_and_the_rate_is_kept(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = "".join(json.dumps({"id": str(i), "account": "a"}) + "\n" for i in range(20))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    began = time.monotonic()
    assert main(["produce", "-", "--rate", "40", *flags(settings)]) == 0
    assert time.monotonic() - began >= 0.4  # 20 records at 40/s take about half a second
    assert capsys.readouterr().out.startswith("sent 20,")


def test_the_key_field_can_be_chosen_and_records_without_it_have_no_key(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "account": "x"}\n{"account": "y"}\n')
    assert main(["produce", str(path), "--key-field", "id", *flags(settings)]) == 0
    assert sorted((r.key or b"") for r in sent_records(settings)) == [b"", b"a"]


def test_a_missing_file_is_a_one_line_error_before_anything_is_sent(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    good = str(EXAMPLES / "transactions.jsonl")
    assert main(["produce", good, "/no/such/file.jsonl", *flags(settings)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "processor produce: cannot read /no/such/file.jsonl: No such file or directory"
    ]
    assert sent_records(settings) == []


def test_an_unknown_topic_is_a_one_line_error(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = str(EXAMPLES / "transactions.jsonl")
    assert main(["produce", sample, "--topic", "no-such-topic-here", *flags(settings)]) == 2
    assert "topic 'no-such-topic-here' does not exist" in capsys.readouterr().err


def test_the_process_exits_1_when_a_line_was_skipped(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{oops\n")
    command = [sys.executable, "-m", "processor", "produce", str(path), *flags(settings)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stdout.startswith("sent 0, failed 0, skipped 1 lines")
    assert f"{path}:1: skipped" in done.stderr
