"""``processor dlq list|show|stats|replay`` on dead letters the real processor wrote."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from processor import headers as h
from processor.commands.cli import main
from processor.config import Settings
from tests.kafka_support import Sample, header, produce, read_all
from tests.tools.support import EXAMPLES, flags, process_all

VALIDATE_SAMPLES = 8  # the lines of examples/errors.jsonl
DECODE_SAMPLES = 2  # the lines of examples/raw-errors.txt


@pytest.fixture
def dead_lettered(settings: Settings, capsys: pytest.CaptureFixture[str]) -> Settings:
    """The sample error files sent and processed: 8 dead letters at validate, 2 at decode."""
    assert main(["produce", str(EXAMPLES / "errors.jsonl"), *flags(settings)]) == 0
    assert main(["produce", "--raw", str(EXAMPLES / "raw-errors.txt"), *flags(settings)]) == 0
    process_all(settings)
    capsys.readouterr()
    return settings


def listed(settings: Settings, capsys: pytest.CaptureFixture[str], *options: str) -> list[Any]:
    assert main(["dlq", "list", "--json", *options, *flags(settings)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def dead_letters(settings: Settings) -> list[Any]:
    return asyncio.run(read_all(settings.bootstrap_servers, settings.dead_letter_topic))


def test_list_shows_a_table_row_per_dead_letter(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "list", *flags(dead_lettered)]) == 0
    out, err = capsys.readouterr()
    head, *rows = out.splitlines()
    assert head.split() == ["P/OFFSET", "FAILED", "AT", "SOURCE", "STAGE", "CLASS", "MESSAGE"]
    assert len(rows) == VALIDATE_SAMPLES + DECODE_SAMPLES
    assert sum("JSONDecodeError" in row for row in rows) == DECODE_SAMPLES
    assert max(len(line) for line in out.splitlines()) <= 80  # no terminal, no COLUMNS
    assert "10 dead letter(s)" in err


def test_list_shows_the_newest_first_and_tail_keeps_the_newest(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    every = listed(dead_lettered, capsys)
    times = [row["failed_at"] for row in every]
    assert times == sorted(times, reverse=True)
    assert listed(dead_lettered, capsys, "--tail", "3") == every[:3]
    assert listed(dead_lettered, capsys, "--limit", "3") == every[:3]  # the same option


def test_list_json_embeds_values_as_json_and_other_bytes_as_base64(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = listed(dead_lettered, capsys)
    validated = [row for row in rows if row["stage"] == "validate"]
    assert all(row["value_encoding"] == "json" for row in validated)
    # Values, not strings: the objects, the array and the null of examples/errors.jsonl.
    kinds = sorted(type(row["value"]).__name__ for row in validated)
    assert kinds == ["NoneType", *["dict"] * 6, "list"]
    decoded = [row for row in rows if row["stage"] == "decode"]
    assert {row["value_encoding"] for row in decoded} == {"base64"}
    assert all(set(row["value"]) == {"base64"} for row in decoded)


def test_list_filters_by_stage_class_message_and_limit(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(listed(dead_lettered, capsys, "--stage", "decode")) == DECODE_SAMPLES
    by_class = listed(dead_lettered, capsys, "--error-class", "ValidationError")
    assert len(by_class) == VALIDATE_SAMPLES
    assert {x["stage"] for x in listed(dead_lettered, capsys, "--grep", "CURRENCY")} == {"validate"}
    assert len(listed(dead_lettered, capsys, "--limit", "3")) == 3


def test_list_filters_by_the_time_of_failure(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert listed(dead_lettered, capsys, "--since", "2999-01-01T00:00:00Z") == []
    everything = listed(dead_lettered, capsys, "--until", "2999-01-01T00:00:00Z")
    assert len(everything) == VALIDATE_SAMPLES + DECODE_SAMPLES


def test_show_prints_one_dead_letter_whole(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    target = listed(dead_lettered, capsys, "--grep", "currency")[0]
    show = ["dlq", "show", f"{target['partition']}/{target['offset']}"]  # as list prints it
    assert main([*show, *flags(dead_lettered)]) == 0
    out = capsys.readouterr().out
    old_form = ["dlq", "show", str(target["offset"]), "--partition", str(target["partition"])]
    assert main([*old_form, *flags(dead_lettered)]) == 0
    assert capsys.readouterr().out == out
    assert '"currency": "eur"' in out  # the original value, pretty-printed
    assert f"{h.DLQ_SOURCE_OFFSET}: {target['source_offset']}" in out
    assert "validation errors:\n  - currency: String should match pattern" in out


def test_show_json_has_the_value_as_json(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    target = listed(dead_lettered, capsys, "--grep", "currency")[0]
    show = ["dlq", "show", f"{target['partition']}/{target['offset']}", "--json"]
    assert main([*show, *flags(dead_lettered)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["value"]["currency"] == "eur"
    assert document["value"] == target["value"]


def test_show_of_an_offset_with_no_dead_letter_exits_1(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "show", "999999", *flags(dead_lettered)]) == 1
    assert "no dead letter at partition 0 offset 999999" in capsys.readouterr().err


def test_stats_count_by_stage_class_and_time(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "stats", "--bucket", "1d", "--json", *flags(dead_lettered)]) == 0
    stats = json.loads(capsys.readouterr().out)
    counts = {(row["stage"], row["error_class"]): row["count"] for row in stats["by_class"]}
    assert counts == {
        ("validate", "ValidationError"): VALIDATE_SAMPLES,
        ("decode", "JSONDecodeError"): DECODE_SAMPLES,
    }
    assert sum(row["count"] for row in stats["by_time"]) == stats["total"] == 10


def test_a_dry_run_says_what_would_go_and_sends_nothing(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    before = asyncio.run(read_all(dead_lettered.bootstrap_servers, dead_lettered.input_topic))
    replay = ["dlq", "replay", "--stage", "decode", "--dry-run", *flags(dead_lettered)]
    assert main(replay) == 0
    out = capsys.readouterr().out
    assert out.count(f"to {dead_lettered.input_topic} (replay 1)") == DECODE_SAMPLES
    assert out.endswith("would replay 2, refused 0\n")
    after = asyncio.run(read_all(dead_lettered.bootstrap_servers, dead_lettered.input_topic))
    assert len(after) == len(before)


def test_a_replay_sends_key_value_and_original_headers_unchanged(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    poison = Sample("p-1", b"acct-9", b"\xff not json", False, headers=(("trace", b"\x00t"),))
    asyncio.run(produce(settings.bootstrap_servers, settings.input_topic, [poison]))
    process_all(settings)
    target = f"{settings.input_topic}.additions"  # any existing topic will do
    assert main(["dlq", "replay", "--to", target, *flags(settings)]) == 0
    assert capsys.readouterr().out.startswith("replayed 1, refused 0, failed 0")
    (sent,) = asyncio.run(read_all(settings.bootstrap_servers, target))
    assert (sent.key, sent.value) == (poison.key, poison.value)
    names = [name for name, _ in sent.headers]
    assert names == ["trace", h.DLQ_REPLAYED_AT, h.DLQ_REPLAY_COUNT]
    assert header(sent, "trace") == b"\x00t"
    assert header(sent, h.DLQ_REPLAY_COUNT) == b"1"


def test_a_replayed_record_that_fails_again_comes_back_with_its_count(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = ["dlq", "replay", "--stage", "validate", *flags(dead_lettered)]
    assert main(replay) == 0
    assert capsys.readouterr().out.startswith("replayed 8, refused 0, failed 0")
    process_all(dead_lettered)  # the real processor reads them again; they fail again
    counts = sorted(header(x, h.DLQ_REPLAY_COUNT) or b"0" for x in dead_letters(dead_lettered))
    assert counts == [b"0"] * 10 + [b"1"] * VALIDATE_SAMPLES


def test_replay_refuses_what_reached_max_replays_and_exits_1(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = ["dlq", "replay", "--stage", "decode", *flags(dead_lettered)]
    assert main(replay) == 0
    process_all(dead_lettered)
    capsys.readouterr()
    assert main([*replay, "--max-replays", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("replayed 2, refused 2, failed 0")
    assert err.count("replayed 1 times already (--max-replays 1)") == 2


def test_replay_to_an_unknown_topic_is_a_one_line_error(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "replay", "--to", "no-such-topic-here", *flags(dead_lettered)]) == 2
    assert capsys.readouterr().err == "processor dlq: topic 'no-such-topic-here' does not exist\n"


@pytest.mark.parametrize("stage", ["decode", "nothing-selected"])
def test_a_dry_run_to_an_unknown_topic_is_a_one_line_error(
    dead_lettered: Settings, capsys: pytest.CaptureFixture[str], stage: str
) -> None:
    replay = ["dlq", "replay", "--dry-run", "--to", "no-such-topic-here", *flags(dead_lettered)]
    filters = ["--stage", "decode"] if stage == "decode" else ["--grep", "matches nothing"]
    assert main([*replay, *filters]) == 2
    out, err = capsys.readouterr()
    assert "would" not in out
    assert err == "processor dlq: topic 'no-such-topic-here' does not exist\n"


def test_a_dry_run_checks_the_source_topics_too(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = Sample("f-1", b"k", b"{}", False, headers=(
        (h.DLQ_STAGE, b"validate"), (h.DLQ_SOURCE_TOPIC, b"gone-topic-here")))  # fmt: skip
    asyncio.run(produce(settings.bootstrap_servers, settings.dead_letter_topic, [forged]))
    assert main(["dlq", "replay", "--dry-run", *flags(settings)]) == 2
    assert capsys.readouterr().err == "processor dlq: topic 'gone-topic-here' does not exist\n"


def test_an_unknown_dead_letter_topic_is_a_one_line_error(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = ["--dlq-topic", "no-such-dlq-here"]
    assert main(["dlq", "list", *missing, *flags(settings)]) == 2
    assert main(["dlq", "show", "0", *missing, *flags(settings)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["processor dlq: topic 'no-such-dlq-here' does not exist"] * 2


def test_a_bad_filter_value_names_the_option(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dlq", "list", "--since", "yesterday", *flags(settings)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(
        "processor: error: --since: expected an RFC 3339 time"
    )
