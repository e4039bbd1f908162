"""Operator commands end to end on the real broker: produce, then dlq list, show, stats, replay."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import pytest

from processor import headers as h
from processor.cli import main
from processor.config import Settings
from tests.kafka_support import (
    all_committed,
    create_topics,
    header,
    read_all,
    running,
    settings_for,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def settings(bootstrap_servers: str, unique_name: str) -> Settings:
    config = settings_for(bootstrap_servers, unique_name)
    asyncio.run(create_topics(config))
    return config


def flags(settings: Settings) -> list[str]:
    return ["--bootstrap-servers", settings.bootstrap_servers,
            "--input-topic", settings.input_topic, "--group-id", settings.group_id]  # fmt: skip


def process_all(settings: Settings) -> None:
    async def drain() -> None:
        async with running(settings):
            assert await all_committed(settings, timeout_s=60)

    asyncio.run(drain())


def test_produce_sends_every_sample_file_and_says_so(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [
        str(EXAMPLES / n) for n in ("transactions.jsonl", "transactions.json", "transactions.csv")
    ]
    assert main(["produce", *files, *flags(settings)]) == 0
    assert capsys.readouterr().out.startswith("sent 20, failed 0, skipped 0 lines")
    records = asyncio.run(read_all(settings.bootstrap_servers, settings.input_topic))
    assert len(records) == 20
    assert all(r.key == json.loads(r.value)["account"].encode() for r in records)


def test_produce_reports_a_bad_line_by_number_sends_the_rest_and_fails(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"id": "a", "account": "x"}\n{oops\n{"id": "b", "account": "y"}\n')
    assert main(["produce", str(path), *flags(settings)]) == 1
    out, err = capsys.readouterr()
    assert f"{path}:2: skipped" in err
    assert out.startswith("sent 2, failed 0, skipped 1 lines")


def test_produce_reads_standard_input_and_keeps_to_the_rate(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = "".join(json.dumps({"id": str(i), "account": "a"}) + "\n" for i in range(20))
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    began = time.monotonic()
    assert main(["produce", "-", "--rate", "40", *flags(settings)]) == 0
    assert time.monotonic() - began >= 0.4  # 20 records at 40/s take about half a second
    assert capsys.readouterr().out.startswith("sent 20,")


def test_a_missing_file_is_a_one_line_error(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["produce", "/no/such/file.jsonl", *flags(settings)]) == 2
    assert "cannot read /no/such/file.jsonl" in capsys.readouterr().err


def test_dead_letters_can_be_listed_shown_counted_and_replayed(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["produce", str(EXAMPLES / "errors.jsonl"), *flags(settings)]) == 0
    assert main(["produce", "--raw", str(EXAMPLES / "raw-errors.txt"), *flags(settings)]) == 0
    process_all(settings)
    capsys.readouterr()

    assert main(["dlq", "list", "--json", *flags(settings)]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(listed) == 10
    assert sorted({x["stage"] for x in listed}) == ["decode", "validate"]

    assert main(["dlq", "list", "--stage", "decode", "--json", *flags(settings)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

    first = next(x for x in listed if x["stage"] == "validate")
    show = ["dlq", "show", str(first["offset"]), "--partition", str(first["partition"])]
    assert main([*show, *flags(settings)]) == 0
    shown = capsys.readouterr().out
    assert "validation errors:" in shown
    assert h.DLQ_SOURCE_OFFSET in shown

    assert main(["dlq", "stats", "--json", *flags(settings)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 10
    assert sum(row["count"] for row in stats["by_time"]) == 10

    replay = ["dlq", "replay", "--stage", "validate", *flags(settings)]
    assert main([*replay, "--dry-run"]) == 0
    assert "would replay 8, refused 0" in capsys.readouterr().out
    assert main(replay) == 0
    assert capsys.readouterr().out.startswith("replayed 8, refused 0, failed 0")
    process_all(settings)  # they fail again and come back, counted

    letters = asyncio.run(read_all(settings.bootstrap_servers, settings.dead_letter_topic))
    assert (
        sorted(header(x, h.DLQ_REPLAY_COUNT) or b"0" for x in letters) == [b"0"] * 10 + [b"1"] * 8
    )
    assert main([*replay, "--max-replays", "1"]) == 0
    assert capsys.readouterr().out.startswith("replayed 8, refused 8, failed 0")
