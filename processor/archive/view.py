"""What a running archiver shows the outside: counters, positions and readiness (read only).

Telemetry reads the archiver through :class:`ArchiveView` alone, as it reads the processor
through ``processor.engine.view``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from processor.engine.positions import PartitionPosition


@dataclass(slots=True)
class ArchiveStats:
    consumed: int = 0
    files: Counter[str] = field(default_factory=Counter)  # by topic
    rows: Counter[str] = field(default_factory=Counter)  # in main files, by topic
    invalid_rows: Counter[str] = field(default_factory=Counter)  # in _invalid files, by topic
    file_bytes: Counter[str] = field(default_factory=Counter)  # on the store, by topic
    write_failures: int = 0
    commits: int = 0
    commit_failures: int = 0
    pauses: int = 0
    resumes: int = 0
    rebalances: int = 0
    recovered_files: int = 0  # partitions found archived past their committed offset
    last_file_at_s: float | None = None  # wall-clock time (time.time()) of the last file


class ArchiveView(Protocol):
    """A running archiver as telemetry sees it (read it, never change it)."""

    @property
    def stats(self) -> ArchiveStats: ...
    @property
    def held_records(self) -> int:
        """Records taken in and not yet in a renamed file."""
        ...

    @property
    def held_bytes(self) -> int: ...
    @property
    def max_held_bytes(self) -> int: ...
    @property
    def paused(self) -> bool: ...
    def positions(self) -> list[PartitionPosition]:
        """Each assigned partition: committed offset, high watermark, lag."""
        ...

    # Readiness.
    @property
    def joined(self) -> bool: ...
    @property
    def stopping(self) -> bool: ...
    @property
    def trouble(self) -> str | None:
        """What keeps it from its job now, e.g. a file it cannot write."""
        ...
