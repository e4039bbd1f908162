"""Backpressure: how much the processor holds, and when intake pauses and resumes.

Records count from the moment intake takes them until their offset is committable (so a slow
record at the head of a partition also holds back the out-of-order window behind it); bytes count
until the record's write is acknowledged. Intake pauses at the high watermark and resumes only at
the low one, so it does not flap around a single threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Transition = Literal["pause", "resume"]


@dataclass(slots=True)
class FlowControl:
    """Capacity in records and bytes, with pause/resume hysteresis."""

    max_records: int
    max_bytes: int
    resume_ratio: float = 0.5
    records: int = 0
    bytes: int = 0
    paused: bool = False
    peak_records: int = field(default=0)

    def __post_init__(self) -> None:
        if self.max_records < 1 or self.max_bytes < 1:
            raise ValueError("capacity must be at least one record and one byte")
        if not 0.0 <= self.resume_ratio < 1.0:
            raise ValueError("resume_ratio must be in [0, 1)")

    def admit_many(self, records: int, size: int) -> None:
        """``records`` records of ``size`` bytes in all were taken in."""
        self.records += records
        self.bytes += size
        if self.records > self.peak_records:
            self.peak_records = self.records

    def release(self, records: int, size: int) -> None:
        """``records`` left the window and ``size`` bytes were freed."""
        self.records -= records
        self.bytes -= size

    def room(self) -> int:
        """How many more records intake may take in one poll without passing capacity."""
        if self.paused or self.bytes >= self.max_bytes:
            return 0
        return max(self.max_records - self.records, 0)

    def transition(self) -> Transition | None:
        """Pause at the high watermark, resume at the low one: the move due now, made.

        Intake calls this after each poll and pauses or resumes the consumer accordingly.
        """
        if self.should_pause():
            self.paused = True
            return "pause"
        if self.should_resume():
            self.paused = False
            return "resume"
        return None

    def should_pause(self) -> bool:
        """True when intake runs and the high watermark is reached."""
        return not self.paused and (
            self.records >= self.max_records or self.bytes >= self.max_bytes
        )

    def should_resume(self) -> bool:
        """True when intake is paused and both counts are down to the low watermark."""
        return (
            self.paused
            and self.records <= self.max_records * self.resume_ratio
            and self.bytes <= self.max_bytes * self.resume_ratio
        )
