"""The commit time, carried in the committed offset's metadata.

Kafka's OffsetFetch returns a group's offsets and each one's metadata string, but no time, so
every commit writes its wall-clock time there and ``processor status`` reads it back. A commit
with other metadata (another tool's, or none) simply has no known time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka.structs import OffsetAndMetadata, TopicPartition

PREFIX = "committed_at_ms="
# Longer digit strings are not ours (and a year past 9999 does not fit a datetime anyway).
MAX_DIGITS = 15


def stamp(now_s: float) -> str:
    """The metadata for a commit sent at ``now_s`` (seconds since the epoch)."""
    return f"{PREFIX}{int(now_s * 1000)}"


def with_time(
    offsets: dict[TopicPartition, int], now_s: float
) -> dict[TopicPartition, OffsetAndMetadata]:
    """``offsets`` as aiokafka commits them with metadata: one stamp shared by all."""
    metadata = stamp(now_s)
    return {tp: OffsetAndMetadata(offset, metadata) for tp, offset in offsets.items()}


def committed_at(metadata: str | None) -> datetime | None:
    """When a commit was sent, from its metadata; None when the metadata is not a stamp."""
    if not metadata or not metadata.startswith(PREFIX):
        return None
    digits = metadata.removeprefix(PREFIX)
    if not (0 < len(digits) <= MAX_DIGITS and digits.isascii() and digits.isdigit()):
        return None
    try:
        return datetime.fromtimestamp(int(digits) / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None
