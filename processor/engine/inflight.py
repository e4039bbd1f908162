"""A record between intake and the acknowledgement of its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from processor.engine.deadletter import Cause
from processor.engine.offsets import OffsetTracker
from processor.engine.recordsize import header_bytes
from processor.pipeline import Source


@dataclass(slots=True)
class InFlight:
    source: Source
    value: bytes | None
    size: int  # bytes held: key, value and headers
    tracker: OffsetTracker  # of the partition assignment the record was read under
    # Set when the client library could not decode the record and it was read raw: it can
    # only become a dead letter.
    failure: Cause | None = None


def take_in(records: Sequence[Any], tracker: OffsetTracker) -> tuple[list[InFlight], int]:
    """Wrap one poll's aiokafka ``ConsumerRecord``s of a partition and track their offsets.

    Returns the records and the bytes they hold.
    """
    items: list[InFlight] = []
    append, track, new = items.append, tracker.track, tuple.__new__
    total = 0
    for record in records:
        key: bytes | None = record.key
        value: bytes | None = record.value
        headers = record.headers
        size = (len(value) if value is not None else 0) + (len(key) if key is not None else 0)
        offset: int = record.offset
        if type(headers) is not tuple:
            headers = tuple(headers)
        if headers:
            size += header_bytes(headers)
        # tuple.__new__ skips the NamedTuple's Python-level constructor (this runs per record).
        source = new(
            Source, (record.topic, record.partition, offset, key, headers, record.timestamp)
        )
        track(offset)
        append(InFlight(source, value, size, tracker))
        total += size
    return items, total
