"""Dead letters as operators see them: parsed headers, filters, buckets, replay headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from processor import headers as h
from processor.commands.deadletters import (
    BUCKETS,
    DeadLetter,
    Filter,
    bucket_start,
    count_by_bucket,
    count_by_class,
    parse_time,
    replay_refusal,
    shown,
)
from processor.commands.replay import replay_headers
from processor.engine.deadletter import Cause, Stage, dead_letter_headers
from processor.pipeline import Source

WHEN = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


def letter(stage: Stage = "validate", cls: str = "ValidationError", partition: int = 1,
           extra: tuple[tuple[str, bytes], ...] = ()) -> DeadLetter:  # fmt: skip
    source = Source("tx", partition, 7, b"k", (("trace", b"t-1"), *extra), 1234)
    headers = dead_letter_headers(source, Cause(stage, cls, "amount: too many places"),
                                  "group", WHEN)  # fmt: skip
    record = SimpleNamespace(partition=0, offset=3, key=b"k", value=b"{}", timestamp=1234,
                             headers=headers)  # fmt: skip
    return DeadLetter.from_record(record)


def test_the_failure_headers_are_read_and_the_original_ones_kept_apart() -> None:
    found = letter()
    assert (found.stage, found.error_class, found.source_partition) == (
        "validate",
        "ValidationError",
        1,
    )
    assert found.failed_at == WHEN
    assert found.original_headers == (("trace", b"t-1"),)


def test_a_filter_needs_every_criterion_it_was_given() -> None:
    found = letter()
    assert Filter(stage="validate", grep="TOO MANY").matches(found)
    assert not Filter(stage="decode").matches(found)
    assert not Filter(source_partition=2).matches(found)
    assert Filter(since=WHEN, until=WHEN + timedelta(seconds=1)).matches(found)
    assert not Filter(until=WHEN).matches(found)


def test_counts_group_by_stage_and_class() -> None:
    counts = count_by_class([letter(), letter(), letter("decode", "NullValue")])
    assert counts == {("validate", "ValidationError"): 2, ("decode", "NullValue"): 1}


def test_buckets_start_on_whole_hours() -> None:
    assert bucket_start(WHEN, timedelta(hours=1)) == datetime(2026, 11, 22, 10, tzinfo=UTC)


def test_a_replay_counts_up_and_drops_the_failure_headers() -> None:
    again = letter(extra=((h.DLQ_REPLAY_COUNT, b"1"), (h.DLQ_REPLAYED_AT, b"earlier")))
    headers = dict(replay_headers(again, WHEN))
    assert headers[h.DLQ_REPLAY_COUNT] == b"2"
    assert (headers[h.DLQ_REPLAYED_AT] or b"").startswith(b"2026-11-22T10:30")
    assert headers["trace"] == b"t-1"
    assert not set(headers) & set(h.DLQ_HEADERS)


def test_a_replay_is_refused_once_the_count_reaches_the_limit() -> None:
    twice = letter(extra=((h.DLQ_REPLAY_COUNT, b"2"),))
    assert replay_refusal(twice, max_replays=3, to=None) is None
    assert "replayed 2 times already" in (replay_refusal(twice, max_replays=2, to=None) or "")


def test_a_dead_letter_without_a_source_topic_needs_a_destination() -> None:
    record = SimpleNamespace(partition=0, offset=0, key=None, value=b"x", timestamp=0, headers=[])
    orphan = DeadLetter.from_record(record)
    assert "--to" in (replay_refusal(orphan, max_replays=3, to=None) or "")
    assert replay_refusal(orphan, max_replays=3, to="elsewhere") is None


def test_values_are_shown_as_pretty_json_or_escaped_bytes() -> None:
    assert shown(b'{"a":1}') == '{\n  "a": 1\n}'
    assert shown(b"\xff{oops") == r"b'\xff{oops'"
    assert shown(None) == "null"


def test_a_time_without_an_offset_is_taken_as_utc() -> None:
    assert parse_time("2026-11-22T10:30:00") == WHEN
    assert parse_time("2026-11-22T11:30:00+01:00") == WHEN


def test_counts_by_bucket_put_each_failure_in_its_minute() -> None:
    counts = count_by_bucket([letter(), letter()], BUCKETS["1m"])
    assert counts == {datetime(2026, 11, 22, 10, 30, tzinfo=UTC): 2}
