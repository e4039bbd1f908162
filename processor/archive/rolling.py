"""When a file is full: by records, by bytes, by age, or because a later day began (pure).

One open file per partition collects records until one of the limits is reached; then it is
sealed and written. A record from a later UTC day than the file's seals the file first, so a
day's folder holds that day's records (a late record from an earlier day stays in the open
file: its folder is the day the file began). Records, bytes and days depend on the records alone,
so after a restart the same records roll at the same offsets; age is wall-clock time, and a
file sealed by age may end elsewhere the next time (:mod:`recovery` keeps that exactly-once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

RollReason = Literal["records", "bytes", "age", "day", "pressure", "drained", "stopping"]


@dataclass(frozen=True, slots=True)
class RollPolicy:
    max_records: int
    max_bytes: int
    max_age_s: float


def record_bytes(record: Any) -> int:
    """What a record costs to hold: its key, value and headers (names and values)."""
    size = len(record.key or b"") + len(record.value or b"")
    for name, value in record.headers or ():
        size += len(name) + len(value or b"")
    return size


@dataclass(slots=True)
class OpenFile:
    """The records of one partition not yet in a file, in offset order."""

    day: date
    opened_at_s: float
    records: list[Any] = field(default_factory=list)
    bytes: int = 0

    def add(self, record: Any, size: int) -> None:
        self.records.append(record)
        self.bytes += size

    @property
    def first_offset(self) -> int:
        return int(self.records[0].offset)

    @property
    def last_offset(self) -> int:
        return int(self.records[-1].offset)


def full(policy: RollPolicy, file: OpenFile, now_s: float) -> RollReason | None:
    """Why ``file`` must be sealed now, or None while it may take more records."""
    if len(file.records) >= policy.max_records:
        return "records"
    if file.bytes >= policy.max_bytes:
        return "bytes"
    if file.records and now_s - file.opened_at_s >= policy.max_age_s:
        return "age"
    return None


def belongs_to_next_file(file: OpenFile, record_day: date) -> bool:
    """A record of a later day than the open file's closes that file before it is added."""
    return bool(file.records) and record_day > file.day
