"""A record between intake and the acknowledgement of its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processor.offsets import OffsetTracker
from processor.pipeline import Source


@dataclass(slots=True)
class InFlight:
    source: Source
    value: bytes | None
    size: int  # bytes held: key plus value
    tracker: OffsetTracker  # of the partition assignment the record was read under


def take_in(record: Any, tracker: OffsetTracker) -> InFlight:
    """Wrap an aiokafka ``ConsumerRecord`` and track its offset."""
    key: bytes | None = record.key
    value: bytes | None = record.value
    headers = record.headers
    source = Source(
        record.topic,
        record.partition,
        record.offset,
        key,
        headers if isinstance(headers, tuple) else tuple(headers),
        record.timestamp,
    )
    tracker.track(record.offset)
    return InFlight(source, value, len(value or b"") + len(key or b""), tracker)
