"""Dead-letter headers: the original record's headers plus what failed and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from processor import headers as h
from processor.engine.recordsize import record_bytes
from processor.pipeline import Headers, Source

MAX_MESSAGE_CHARS = 1024

Stage = Literal["decode", "validate", "route", "handler", "emit"]


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a record becomes a dead letter: the stage it failed at, the error and its message."""

    stage: Stage
    error_class: str
    message: str
    detail: str = ""
    attempts: int = 1


_OWN_HEADERS = frozenset(h.DLQ_OWN)
# Kept whatever is cut: the replay count is what ends replay loops.
_KEPT_HEADERS = _OWN_HEADERS | {h.DLQ_REPLAYED_AT, h.DLQ_REPLAY_COUNT}


def dead_letter_headers(
    source: Source, failure: Cause, group_id: str, failed_at: datetime | None = None
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


def fit_dead_letter(
    key: bytes | None, value: bytes | None, headers: Headers, max_bytes: int
) -> tuple[bytes | None, bytes | None, Headers]:
    """The dead letter cut down until it takes at most ``max_bytes`` on the wire.

    A dead letter is never dropped for its size: first our own validation detail goes, then the
    tail of the value, then the original headers, then the tail of the key. What was cut, with
    the original sizes, goes in the ``dlq.cut`` header; the ``dlq.*`` headers with the source
    coordinates always stay.
    """
    if record_bytes(key, value, headers) <= max_bytes:
        return key, value, headers
    # A dead letter cut before (and refused again) keeps naming its original sizes.
    earlier = next((v for n, v in headers if n == h.DLQ_CUT), None) or b""
    cut = [part for part in earlier.decode("utf-8", "replace").split(",") if part]
    detail = next((v for n, v in headers if n == h.DLQ_DETAIL), None)
    if detail:
        headers = tuple((n, b"" if n == h.DLQ_DETAIL else v) for n, v in headers)
        cut.append(f"detail:{len(detail)}")
    own = tuple((n, v) for n, v in headers if n in _KEPT_HEADERS and n != h.DLQ_CUT)
    original = tuple((n, v) for n, v in headers if n not in _KEPT_HEADERS)
    # Room for the cut header itself: its name and the longest list of cuts it can carry.
    marker = ((h.DLQ_CUT, b"x" * 120),)
    fixed = record_bytes(None, None, own + marker)
    room = max_bytes - fixed
    for part in ("value", "headers", "key"):
        used = record_bytes(key, value, original) - record_bytes(None, None, ())
        if used <= room:
            break
        excess = used - room
        if part == "value" and value:
            keep = max(len(value) - excess, 0)
            cut.append(f"value:{len(value)}")
            value = value[:keep]
        elif part == "headers" and original:
            cut.append(f"headers:{len(original)}")
            original = ()
        elif part == "key" and key:
            keep = max(len(key) - excess, 0)
            cut.append(f"key:{len(key)}")
            key = key[:keep]
    if not cut:
        return key, value, headers
    named: dict[str, str] = {}  # the first size named for a part is its original one
    for part in cut:
        named.setdefault(part.partition(":")[0], part)
    return key, value, original + own + ((h.DLQ_CUT, ",".join(named.values()).encode()),)
