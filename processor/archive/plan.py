"""What an archive run is asked to do, and how it fails."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from processor.archive.columns import Shape
from processor.archive.files import FileStore
from processor.archive.rolling import RollPolicy


class ArchiveError(Exception):
    """The archive cannot go on: one readable line."""


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """What to archive, where, and how files roll."""

    topics: tuple[str, ...]
    group_id: str
    store: FileStore
    shapes: Mapping[str, Shape]
    policy: RollPolicy
    max_held_bytes: int
    compression: str
    once: bool = False
