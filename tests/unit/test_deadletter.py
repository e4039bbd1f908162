"""Dead-letter headers: the original headers first, then what failed and where it came from."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest

from processor import headers as h
from processor.engine.deadletter import MAX_MESSAGE_CHARS, Cause, dead_letter_headers, source_header
from processor.pipeline import Headers, Source

FAILED_AT = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=UTC)
ORIGINAL: Headers = (
    ("trace-id", b"\x00\xffabc"),
    ("content-type", b"application/json"),
    ("trace-id", b"second"),
    ("empty", b""),
)


def make_source(
    headers: Headers = ORIGINAL,
    topic: str = "transactions",
    partition: int = 3,
    offset: int = 1234,
    timestamp_ms: int = 1_715_938_215_000,
) -> Source:
    return Source(topic, partition, offset, b"account-1", headers, timestamp_ms)


def make_failure(message: str = "1 validation error(s); amount: bad", attempts: int = 1) -> Cause:
    return Cause("validate", "ValidationError", message, '[{"type": "x"}]', attempts)


def values_of(headers: Headers) -> dict[str, bytes]:
    return {name: value for name, value in headers if value is not None}


def test_original_headers_come_first_byte_for_byte_and_in_order() -> None:
    result = dead_letter_headers(make_source(), make_failure(), "group", FAILED_AT)
    assert result[: len(ORIGINAL)] == ORIGINAL


def test_every_dead_letter_header_appears_exactly_once() -> None:
    result = dead_letter_headers(make_source(), make_failure(), "group", FAILED_AT)
    counts = Counter(name for name, _ in result)
    assert all(counts[name] == 1 for name in h.DLQ_HEADERS)
    assert len(result) == len(ORIGINAL) + len(h.DLQ_HEADERS)


def test_dead_letter_headers_describe_the_failure() -> None:
    failure = Cause("handler", "TimeoutError", "sink timed out", "", attempts=3)
    values = values_of(dead_letter_headers(make_source(), failure, "group", FAILED_AT))
    assert values[h.DLQ_STAGE] == b"handler"
    assert values[h.DLQ_CLASS] == b"TimeoutError"
    assert values[h.DLQ_MESSAGE] == b"sink timed out"
    assert values[h.DLQ_DETAIL] == b""
    assert values[h.DLQ_ATTEMPTS] == b"3"


def test_dead_letter_headers_carry_the_validation_detail() -> None:
    values = values_of(dead_letter_headers(make_source(), make_failure(), "group", FAILED_AT))
    assert values[h.DLQ_DETAIL] == b'[{"type": "x"}]'


def test_dead_letter_headers_name_the_source_record_and_group() -> None:
    source = make_source(topic="orders", partition=7, offset=987654321, timestamp_ms=42)
    values = values_of(dead_letter_headers(source, make_failure(), "billing", FAILED_AT))
    assert values[h.DLQ_SOURCE_TOPIC] == b"orders"
    assert values[h.DLQ_SOURCE_PARTITION] == b"7"
    assert values[h.DLQ_SOURCE_OFFSET] == b"987654321"
    assert values[h.DLQ_SOURCE_TIMESTAMP] == b"42"
    assert values[h.DLQ_GROUP] == b"billing"


def test_failed_at_is_an_rfc3339_time_with_milliseconds() -> None:
    values = values_of(dead_letter_headers(make_source(), make_failure(), "group", FAILED_AT))
    text = values[h.DLQ_FAILED_AT].decode()
    assert text == "2024-05-17T09:30:15.123+00:00"
    assert datetime.fromisoformat(text) == FAILED_AT.replace(microsecond=123000)


def test_failed_at_keeps_the_given_offset() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    values = values_of(dead_letter_headers(make_source(), make_failure(), "group", at))
    assert datetime.fromisoformat(values[h.DLQ_FAILED_AT].decode()) == at


def test_failed_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    values = values_of(dead_letter_headers(make_source(), make_failure(), "group"))
    after = datetime.now(UTC) + timedelta(seconds=1)
    when = datetime.fromisoformat(values[h.DLQ_FAILED_AT].decode())
    assert when.utcoffset() == timedelta(0)
    assert before <= when <= after


def test_a_replayed_record_gets_its_previous_dead_letter_headers_replaced() -> None:
    first = dead_letter_headers(make_source(), make_failure(attempts=1), "old-group", FAILED_AT)
    replayed_headers = (*first, ("dlq.replay.count", b"1"))
    replayed = make_source(headers=replayed_headers, topic="transactions.dlq", offset=5)
    failure = Cause("route", "Rejected", "still bad")
    result = dead_letter_headers(replayed, failure, "new-group", FAILED_AT)

    assert result[: len(ORIGINAL) + 1] == (*ORIGINAL, ("dlq.replay.count", b"1"))
    counts = Counter(name for name, _ in result)
    assert all(counts[name] == 1 for name in h.DLQ_HEADERS)
    values = values_of(result)
    assert values[h.DLQ_STAGE] == b"route"
    assert values[h.DLQ_GROUP] == b"new-group"
    assert values[h.DLQ_SOURCE_TOPIC] == b"transactions.dlq"
    assert values[h.DLQ_SOURCE_OFFSET] == b"5"


def test_headers_that_only_look_like_dead_letter_headers_are_kept() -> None:
    own = (("dlq.replay.count", b"2"), ("dlq.error", b"kept"), ("x-dlq.error.stage", b"kept"))
    result = dead_letter_headers(make_source(headers=own), make_failure(), "group", FAILED_AT)
    assert result[: len(own)] == own


def test_a_long_message_is_truncated() -> None:
    failure = make_failure(message="m" * (MAX_MESSAGE_CHARS * 3))
    values = values_of(dead_letter_headers(make_source(), failure, "group", FAILED_AT))
    assert values[h.DLQ_MESSAGE] == b"m" * MAX_MESSAGE_CHARS


def test_a_message_that_is_not_encodable_is_replaced_not_raised() -> None:
    failure = make_failure(message="bad \udcff surrogate")
    values = values_of(dead_letter_headers(make_source(), failure, "group", FAILED_AT))
    assert values[h.DLQ_MESSAGE] == b"bad ? surrogate"


def test_a_record_without_headers_gets_only_dead_letter_headers() -> None:
    result = dead_letter_headers(make_source(headers=()), make_failure(), "group", FAILED_AT)
    assert tuple(name for name, _ in result) == h.DLQ_HEADERS


@pytest.mark.parametrize(
    ("topic", "partition", "offset", "expected"),
    [
        ("transactions", 0, 0, b"transactions/0/0"),
        ("a.b-c_d", 11, 9_876_543_210, b"a.b-c_d/11/9876543210"),
    ],
)
def test_source_header_is_topic_partition_offset(
    topic: str, partition: int, offset: int, expected: bytes
) -> None:
    assert source_header(make_source(topic=topic, partition=partition, offset=offset)) == expected
