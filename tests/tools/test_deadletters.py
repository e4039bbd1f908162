"""Dead letters as operators see them: parsed headers, filters, buckets, replay headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from processor import headers as h
from processor.deadletter import dead_letter_headers
from processor.decode import Failure, Stage
from processor.pipeline import Source
from processor.tools.deadletters import DeadLetter, Filter, bucket_start, count_by_class
from processor.tools.dlq import replay_headers

WHEN = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


def letter(stage: Stage = "validate", cls: str = "ValidationError", partition: int = 1,
           extra: tuple[tuple[str, bytes], ...] = ()) -> DeadLetter:  # fmt: skip
    source = Source("tx", partition, 7, b"k", (("trace", b"t-1"), *extra), 1234)
    headers = dead_letter_headers(source, Failure(stage, cls, "amount: too many places"),
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
    assert headers[h.DLQ_REPLAYED_AT].startswith(b"2026-11-22T10:30")
    assert headers["trace"] == b"t-1"
    assert not set(headers) & set(h.DLQ_HEADERS)
