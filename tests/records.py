"""A stand-in for aiokafka's ConsumerRecord, for in-process tests of the engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeRecord:
    """What the processor reads of an aiokafka ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp: int
