"""Dead-letter headers: the original record's headers plus what failed and where it came from."""

from __future__ import annotations

from datetime import UTC, datetime

from processor import headers as h
from processor.decode import Failure
from processor.pipeline import Headers, Source

MAX_MESSAGE_CHARS = 1024

_OWN_HEADERS = frozenset(h.DLQ_HEADERS)


def dead_letter_headers(
    source: Source, failure: Failure, group_id: str, failed_at: datetime | None = None
) -> Headers:
    """Headers for the dead letter of ``source``.

    The original headers stay first and unchanged, except a previous failure's own ``dlq.*``
    headers (on a replayed record), which this failure replaces so each name appears once.
    """
    when = failed_at or datetime.now(UTC)
    kept = tuple((name, value) for name, value in source.headers if name not in _OWN_HEADERS)
    added = (
        (h.DLQ_STAGE, failure.stage),
        (h.DLQ_CLASS, failure.error_class),
        (h.DLQ_MESSAGE, failure.message[:MAX_MESSAGE_CHARS]),
        (h.DLQ_DETAIL, failure.detail),
        (h.DLQ_SOURCE_TOPIC, source.topic),
        (h.DLQ_SOURCE_PARTITION, str(source.partition)),
        (h.DLQ_SOURCE_OFFSET, str(source.offset)),
        (h.DLQ_SOURCE_TIMESTAMP, str(source.timestamp_ms)),
        (h.DLQ_GROUP, group_id),
        (h.DLQ_ATTEMPTS, str(failure.attempts)),
        (h.DLQ_FAILED_AT, when.isoformat(timespec="milliseconds")),
    )
    return kept + tuple((name, text.encode("utf-8", "replace")) for name, text in added)


def source_header(source: Source) -> bytes:
    """The ``source`` header of an output record: ``topic/partition/offset``."""
    return f"{source.topic}/{source.partition}/{source.offset}".encode()
