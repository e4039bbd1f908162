"""After a restart or a rebalance: where a partition's archive really ends (pure).

Offsets are committed after a file is renamed, so a crash in between leaves files past the
committed offset. Their records must not be written again into a second file (the open file may
roll elsewhere this time), so reading resumes after the last file found. Left over from such a
crash may be temporary files (never renamed) and ``_invalid`` files whose main file was never
written: both are deleted before anything new is written for that partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from processor.archive import layout


@dataclass(frozen=True, slots=True)
class Recovered:
    resume_at: int | None  # None: go on from the committed offset
    leftovers: list[str]  # paths to delete


def recover(
    partition: int, committed: int | None, main_paths: Iterable[str], invalid_paths: Iterable[str]
) -> Recovered:
    """What the files of one topic say about ``partition``, committed up to ``committed``."""
    start = committed or 0
    ends = [
        name.last_offset + 1
        for name in map(layout.parse, main_paths)
        if name is not None and name.partition == partition and name.last_offset >= start
    ]
    resume_at = max(ends) if ends else None
    archived_to = resume_at if resume_at is not None else start
    leftovers = [
        p for p in (*main_paths, *invalid_paths) if layout.temporary_partition(p) == partition
    ]
    for path in invalid_paths:
        name = layout.parse(path)
        if name is not None and name.partition == partition and name.first_offset >= archived_to:
            leftovers.append(path)
    return Recovered(resume_at, leftovers)
